"""Switching activity: bit statistics against a plain reference, the activity model, its effect on
energy, DDEV and SAF-T, memory-mapped weights, and activations read from calibration inputs."""

import math
import sys
import tracemalloc
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nexus_ir as nx
from lowering.target import load_target
from passes.bit_stats import SAMPLE_ABOVE, TensorStats, sampled_stats, tensor_stats
from passes.switching import activity, energy_scale, reference_toggle_rate

DTYPES = ["f32", "bf16", "f16", "f8e4m3", "f8e5m2", "i8", "i4", "i1"]


def reference_lanes(values: np.ndarray, dt: str) -> np.ndarray:
    """Bit patterns per element, as Python-independent numpy integers (no NEXUS code)."""
    v = np.asarray(values)
    if dt == "f32":
        return v.astype(np.float32).view(np.uint32).astype(np.uint64)
    if dt == "f16":
        return v.astype(np.float16).view(np.uint16).astype(np.uint64)
    if dt in ("bf16", "f8e4m3", "f8e5m2"):
        kind = {"bf16": ml_dtypes.bfloat16, "f8e4m3": ml_dtypes.float8_e4m3fn,
                "f8e5m2": ml_dtypes.float8_e5m2}[dt]
        width = {"bf16": np.uint16}.get(dt, np.uint8)
        return v.astype(kind).view(width).astype(np.uint64)
    if dt == "i8":
        return v.astype(np.int8).view(np.uint8).astype(np.uint64)
    if dt == "i4":
        return (v.astype(np.int64) & 0xF).astype(np.uint64)
    return (v != 0).astype(np.uint64)


def reference_stats(values: np.ndarray, dt: str, axis: int | None) -> tuple[int, int, int, int]:
    """(set bits, zero elements, toggles, transitions) by popcounting one element at a time."""
    bits = nx.dtype(dt).bits
    lanes = reference_lanes(values, dt)
    lanes = lanes.reshape(1, -1) if axis is None else \
        np.moveaxis(lanes, axis, -1).reshape(lanes.size // max(lanes.shape[axis], 1),
                                             lanes.shape[axis])
    popcount = np.vectorize(lambda x: bin(int(x)).count("1"), otypes=[np.int64])
    sign = np.uint64(1 << (bits - 1)) if nx.dtype(dt).is_float else np.uint64(0)
    ones = int(popcount(lanes).sum()) if lanes.size else 0
    zeros = int(((lanes & ~sign) == 0).sum())
    toggles = int(popcount(lanes[:, 1:] ^ lanes[:, :-1]).sum()) if lanes.shape[1] > 1 else 0
    return ones, zeros, toggles, lanes.shape[0] * max(lanes.shape[1] - 1, 0)


def make(kind: str, dt: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dt in ("i8", "i4", "i1"):
        lo, hi = {"i8": (-128, 128), "i4": (-8, 8), "i1": (0, 2)}[dt]
        random = rng.integers(lo, hi, shape)
    else:
        random = rng.standard_normal(shape).astype(np.float32)
    if kind == "random":
        return random
    if kind == "sparse":
        return random * (rng.random(shape) < 0.2)
    if kind == "constant":
        return np.full(shape, 1 if dt != "i1" else 1, dtype=random.dtype)
    # adversarial: alternating patterns that flip as many bits as the dtype allows
    size = int(np.prod(shape))
    pattern = {"i8": [85, -86], "i4": [5, -6], "i1": [0, 1]}.get(dt, [1.0, -2.0 ** -10])
    return np.resize(np.asarray(pattern, dtype=random.dtype), size).reshape(shape)


@settings(max_examples=60, deadline=None)
@given(dt=st.sampled_from(DTYPES), kind=st.sampled_from(["random", "sparse", "constant",
                                                         "adversarial"]),
       shape=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
       axis_pick=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_kernels_match_a_plain_reference(dt, kind, shape, axis_pick, seed):
    values = make(kind, dt, shape, seed)
    axis = None if axis_pick == 3 else axis_pick % len(shape)
    got = tensor_stats(values, dt, axis)
    assert (got.set_bits, got.zeros, got.toggles, got.transitions) == \
        reference_stats(values, dt, axis)
    assert got.elements == values.size and got.bits == nx.dtype(dt).bits


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.tuples(st.sampled_from(DTYPES), st.sampled_from(["random", "sparse",
                                                                          "adversarial"]),
                                st.lists(st.integers(0, 7), min_size=1, max_size=3).map(tuple),
                                st.integers(0, 3)), min_size=1, max_size=12),
       seed=st.integers(0, 99))
def test_many_tensors_read_in_one_batch_equal_each_read_alone(items, seed):
    """``read_arrays`` reads tensors of one lane width in shared batches (stream ends, empty and
    one-element tensors between them); each result equals the plain per-element reference. A
    batch size of 40 elements splits the list into several batches."""
    import passes.bit_stats as bit_stats
    requests, expected = [], []
    for k, (dt, kind, shape, axis_pick) in enumerate(items):
        values = make(kind, dt, shape, seed + k)
        axis = None if axis_pick == 3 else axis_pick % len(shape)
        requests.append((values, nx.dtype(dt), axis))
        expected.append(reference_stats(values, dt, axis))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bit_stats, "BATCH_ELEMENTS", 40)
        found = bit_stats.read_arrays(requests, exact=True)
    for (stats, read), want, (values, _, _) in zip(found, expected, requests):
        assert (stats.set_bits, stats.zeros, stats.toggles, stats.transitions) == want
        assert stats.elements == read == values.size


def test_sampled_weights_read_in_one_batch_equal_each_sampled_alone():
    """Large weights sampled together (one batch) give what each gives sampled alone."""
    import passes.bit_stats as bit_stats
    weights = [(structured(kind, dt), nx.dtype(dt), axis) for kind, dt, axis in
               [("row scales", "f32", -1), ("sorted", "f32", 0), ("quantized", "i8", -1),
                ("pruned rows", "bf16", 0), ("plain", "f32", -1)]]
    together = bit_stats.read_arrays(weights, exact=False)
    assert together == [sampled_stats(w, dt, axis) for w, dt, axis in weights]
    assert all(read == 16384 for _, read in together)


@settings(max_examples=30, deadline=None)
@given(dt=st.sampled_from(DTYPES), kind=st.sampled_from(["random", "sparse", "adversarial"]),
       shape=st.sampled_from([(300, 120), (40, 9, 100), (4, 3000, 3), (2, 2, 9000)]),
       axis_pick=st.integers(0, 2), seed=st.integers(0, 99))
def test_a_sample_is_counted_as_its_patches_streamed_alone(dt, kind, shape, axis_pick, seed):
    """A large tensor's sample is counted in place (streams along any axis of the gathered
    patches, no transposing): its counts are the plain reference's on the gathered patches,
    and the tensor's statistics are those scaled to its elements and transitions."""
    import passes.bit_stats as bit_stats
    values = make(kind, dt, shape, seed)
    axis = axis_pick % len(shape)
    stored = values.astype(np.int8) if dt in ("i8", "i4", "i1") else values
    patches, along = bit_stats._sample(stored, axis)
    ones, zeros, toggles, transitions = reference_stats(patches, dt, along)
    (stats, read), = bit_stats.read_arrays([(stored, nx.dtype(dt), axis)], exact=False)
    assert values.size > SAMPLE_ABOVE and read == patches.size <= 16384
    elements, streams = values.size, values.size // shape[axis] * (shape[axis] - 1)
    assert (stats.elements, stats.transitions) == (elements, streams)
    assert stats.set_bits == round(ones * elements / patches.size)
    assert stats.zeros == round(zeros * elements / patches.size)
    assert stats.toggles == round(toggles * streams / transitions)


@settings(max_examples=20, deadline=None)
@given(dt=st.sampled_from(DTYPES), rows=st.integers(1, 40), row=st.integers(1, 70),
       chunk=st.integers(1, 600))
def test_chunking_changes_nothing(dt, rows, row, chunk):
    values = make("random", dt, (rows, row), rows * row)
    assert tensor_stats(values, dt, chunk_bytes=chunk) == tensor_stats(values, dt)


def test_slabs_that_start_off_an_eight_byte_boundary_are_counted_right():
    """Streams along a middle axis of odd-width fp32 slabs (numpy reads them two slabs at a
    time): the second block of slabs starts 4 bytes off an 8-byte boundary (301 · 1001 · 4
    bytes in) and is counted 64 bits at a time all the same."""
    values = make("sparse", "f32", (3, 301, 1001), 3)
    got = tensor_stats(values, "f32", axis=1, chunk_bytes=3 * 1001 * 4)
    assert (got.set_bits, got.zeros, got.toggles, got.transitions) == \
        reference_stats(values, "f32", 1)


@pytest.mark.parametrize("dt", DTYPES)
def test_zeros_toggle_nothing(dt):
    stats = tensor_stats(np.zeros((16, 33)), dt)
    assert stats.toggles == 0 and stats.set_bits == 0
    assert stats.zero_fraction == 1.0 and stats.hamming_weight == 0.0
    assert activity(stats, dt) == 0.0


def test_negative_zero_is_zero_and_constant_streams_do_not_toggle():
    stats = tensor_stats(np.array([[0.0, -0.0, 0.0, -0.0]], np.float32), "f32")
    assert stats.zeros == 4 and stats.toggles == 3        # the sign bit flips three times
    assert tensor_stats(np.full((4, 8), 3.5), "bf16").toggles == 0


def test_adversarial_patterns_toggle_every_bit():
    stats = tensor_stats(np.resize(np.int8([85, -86]), (4, 64)), "i8")    # 0x55, 0xAA
    assert stats.toggle_rate == 1.0 and activity(stats, "i8") == 2.0


def test_reference_data_has_activity_one():
    for dt in ("f32", "bf16", "f16"):
        sample = np.random.default_rng(123).standard_normal(1 << 16).astype(np.float32)
        assert activity(tensor_stats(sample, dt, axis=None), dt) == pytest.approx(1.0, abs=0.01)
    assert reference_toggle_rate("i8") == 0.5


def test_stats_merge_by_adding_counts():
    a = tensor_stats(make("random", "f32", (3, 5), 1), "f32")
    b = tensor_stats(make("sparse", "f32", (2, 5), 2), "f32")
    both = tensor_stats(np.concatenate([make("random", "f32", (3, 5), 1),
                                        make("sparse", "f32", (2, 5), 2)]), "f32")
    assert a + b == both
    with pytest.raises(nx.NexusError, match="cannot merge statistics of 32-bit and 16-bit"):
        a + tensor_stats(np.ones(4), "f16")


def test_memory_mapped_weights_are_read_in_chunks(tmp_path):
    """64 MiB of f32 weights on disk, streamed along either axis, in 4 MiB chunks: the heap never
    holds a copy of the file."""
    path = tmp_path / "w.bin"
    data = np.memmap(path, np.float32, "w+", shape=(4096, 4096))
    data[:] = np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)
    data.flush()
    weights = np.memmap(path, np.float32, "r", shape=(4096, 4096))
    for axis in (-1, 0):                  # load numba's kernels before counting the heap
        tensor_stats(weights[:64], "f32", axis=axis)
    tracemalloc.start()
    rows = tensor_stats(weights, "f32", axis=-1, chunk_bytes=4 << 20)
    columns = tensor_stats(weights, "f32", axis=0, chunk_bytes=4 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB: the file was copied"
    assert rows.elements == columns.elements == 4096 * 4096
    assert rows.transitions == columns.transitions == 4096 * 4095
    assert activity(rows, "f32") == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------------------------- the pass
def matmul_graph(weight: np.ndarray | None) -> nx.Graph:
    """x @ w with w's data, or shape only (None)."""
    g = nx.Graph("mm")
    x = g.add_input("x", "f32[8,64]")
    w = g.add_constant("w", type_="f32[64,32]") if weight is None else \
        g.add_constant("w", weight.astype(np.float32))
    g.set_outputs(g.op("matmul", x, w))
    return g


def test_weight_bits_scale_compute_energy_by_the_activity_model():
    h100 = load_target("h100")
    floor = h100.activity_floor.value if h100.activity_floor else 0.0
    random = nx.compile(matmul_graph(np.random.default_rng(0).standard_normal((64, 32))))
    zeros = nx.compile(matmul_graph(np.zeros((64, 32))))
    shapes_only = nx.compile(matmul_graph(None))
    # zero weights: the weight stream has activity 0, x (no statistics) counts as 1: mean 1/2
    node = zeros.nodes[0]
    assert node.compute_j == pytest.approx(shapes_only.nodes[0].compute_j *
                                           energy_scale(0.5, floor), rel=1e-12)
    w_activity = activity(tensor_stats(np.random.default_rng(0).standard_normal((64, 32)),
                                       "f32", axis=0), "f32")
    assert random.nodes[0].compute_j == pytest.approx(
        shapes_only.nodes[0].compute_j * energy_scale((1 + w_activity) / 2, floor), rel=1e-12)
    assert zeros.metrics["saf_t"] == pytest.approx(shapes_only.metrics["saf_t"] * 0.5)


def test_ddev_is_not_available_without_per_input_data():
    report = nx.compile("example:resnet50", bindings={"batch": 1})
    assert report.metrics["ddev"] is None
    assert "DDEV                       n/a (give calibration inputs: --calibration-data " \
        "DATA.npz)" in str(report)


torch = pytest.importorskip("torch")


class TinyMLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = torch.nn.Linear(16, 32), torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_activations_are_read_from_calibration_inputs():
    from frontends.pytorch import export, from_exported
    from runtime.activations import activation_stats

    model = TinyMLP().eval()
    inputs = [torch.randn(2, 16), torch.zeros(2, 16)]
    program = export(model, (inputs[0],))
    graph = from_exported(program)
    stats = activation_stats(program, graph, [(x,) for x in inputs])
    x_name = graph.inputs[0].name
    assert stats[x_name][-1] == [tensor_stats(x.numpy(), "f32") for x in inputs]
    hidden = next(n for n in graph.nodes if n.op == "relu").outputs[0].name
    relu_out = [torch.relu(model.fc1(x)).detach().numpy() for x in inputs]
    assert stats[hidden][-1] == [tensor_stats(h, "f32") for h in relu_out]


def test_ddev_from_calibration_inputs():
    model = TinyMLP().eval()
    example = (torch.randn(2, 16),)
    same = nx.compile(model, example, calibration=[example, example, example])
    assert same.metrics["ddev"] == pytest.approx(0.0, abs=1e-15)
    mixed = nx.compile(model, example, calibration=[example, (torch.zeros(2, 16),)])
    assert mixed.metrics["ddev"] > 0.0
    # two inputs: CV = |E1 − E2| / (E1 + E2); zeros lower the first layer's compute energy
    assert mixed.metrics["energy_j"] < same.metrics["energy_j"]
    by_name = nx.compile(model, example, calibration={"x": np.stack([example[0].numpy(),
                                                                      np.zeros((2, 16), np.float32)])})
    assert by_name.metrics["ddev"] == pytest.approx(mixed.metrics["ddev"], rel=1e-6)


def test_tree_ddev_follows_per_row_compares():
    from frontends.sklearn import from_sklearn
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, x[:, 0] * x[:, 1] > 0)
    report = nx.compile(from_sklearn(tree, x), {"X": x})
    node_cost = next(n for n in report.nodes if n.op == "tree_ensemble")
    per_row = np.asarray(tree.decision_path(x).sum(axis=1)).ravel() - 1
    energies = report.metrics["energy_j"] + node_cost.compute_j * (per_row / per_row.mean() - 1)
    assert report.metrics["ddev"] == pytest.approx(energies.std() / energies.mean(), rel=1e-9)
    assert report.metrics["ddev"] > 0


def test_calibration_is_for_pytorch_models():
    with pytest.raises(nx.NexusError, match="calibration inputs are taken for PyTorch models"):
        nx.compile("example:cnn", bindings={"batch": 1}, calibration=[np.zeros((1, 3, 32, 32))])


def test_energy_scale_is_the_documented_affine_law():
    assert energy_scale(1.0, 0.3) == 1.0 and energy_scale(0.0, 0.3) == 0.3
    assert math.isclose(energy_scale(0.5, 0.2), 0.6)
    assert TensorStats(0, 8, 0, 0, 0, 0).toggle_rate == 0.0


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=2, max_size=4), axis_pick=st.integers(0, 3),
       dtype_name=st.sampled_from(["f32", "f16", "bf16", "i8", "i32"]), seed=st.integers(0, 99),
       chunk=st.sampled_from([64, 1 << 20]))
def test_streams_along_a_leading_axis_read_in_place_equal_the_transposed_read(
        shape, axis_pick, dtype_name, seed, chunk):
    """A weight streamed along a leading axis is read where it lies (slab XOR slab); its
    statistics equal those of the transposed copy streamed along its last axis."""
    rng = np.random.default_rng(seed)
    axis = axis_pick % (len(shape) - 1)              # never the last: the in-place path
    kind = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16,
            "i8": np.int8, "i32": np.int32}[dtype_name]
    values = (rng.standard_normal(shape) * 3).astype(kind)
    values.reshape(-1)[:: max(1, values.size // 3)] = 0          # some zeros, -0.0 included
    transposed = np.ascontiguousarray(np.moveaxis(values, axis, -1))
    assert tensor_stats(values, dtype_name, axis, chunk_bytes=chunk) == \
        tensor_stats(transposed, dtype_name, -1)


def test_read_only_weights_are_read_once_across_costings(monkeypatch):
    """A graph costed again does not read its weights' bits again; a writable array, which may
    have changed, is read every time."""
    import passes.switching as switching
    reads = []
    real = switching.read_arrays
    monkeypatch.setattr(switching, "read_arrays",
                        lambda requests, exact: reads.extend(requests) or real(requests, exact))
    g = nx.Graph("w")
    x = g.add_input("x", "f32[2,8]")
    data = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    w = g.add_constant("w", data)
    g.set_outputs(g.op("matmul", x, w))
    first = nx.compile(g, target="h100").metrics["energy_j"]
    count = len(reads)
    assert count >= 1 and nx.compile(g, target="h100").metrics["energy_j"] == first
    assert len(reads) == count                                     # read-only: not read again
    from types import SimpleNamespace
    stub = SimpleNamespace(data=np.array(data), type=nx.TensorType([8, 4], "f32"), users=[])
    assert stub.data.flags.writeable
    switching.constants_stats([(stub, 0)])
    switching.constants_stats([(stub, 0)])
    assert len(reads) == count + 2                                 # writable: read each time


def test_the_statistics_of_a_collected_array_are_forgotten():
    """The read-once cache holds statistics by array id only while the array lives: once it is
    collected its entry goes, so a new array that takes the same id is read afresh."""
    import gc
    from types import SimpleNamespace

    import passes.switching as switching
    data = np.arange(32, dtype=np.float32).reshape(8, 4)
    data.flags.writeable = False
    key = id(data)
    stub = SimpleNamespace(data=data, type=nx.TensorType([8, 4], "f32"), users=[])
    (stats, read), = switching.constants_stats([(stub, 0)])
    assert read == 32 and switching._READ[key][1] == {(0, "f32", False, False): (stats, read)}
    del stub, data
    gc.collect()
    assert key not in switching._READ


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 17), min_size=1, max_size=3), axis_pick=st.integers(0, 3),
       dtype_name=st.sampled_from(["f32", "f16", "bf16", "i8", "i32", "f64"]),
       seed=st.integers(0, 99))
def test_small_tensors_in_numpy_equal_the_numba_kernels(shape, axis_pick, dtype_name, seed):
    """Tensors under NUMPY_BYTES are read by numpy (no JIT); forcing them through the serial
    and the parallel numba kernels gives the same statistics."""
    import passes.bit_stats as bit_stats
    kind = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16, "i8": np.int8,
            "i32": np.int32, "f64": np.float64}[dtype_name]
    values = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(kind)
    values.reshape(-1)[::3] = 0
    axis = axis_pick % len(shape)
    small = tensor_stats(values, dtype_name, axis)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bit_stats, "NUMPY_BYTES", 0)
        assert tensor_stats(values, dtype_name, axis) == small       # serial numba
        patch.setattr(bit_stats, "PARALLEL_BYTES", 0)
        assert tensor_stats(values, dtype_name, axis) == small       # parallel numba


# ---------------------------------------------------------------------------- sampled weights
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from sampled_stats_accuracy import structured  # noqa: E402
@pytest.mark.parametrize("kind", ["row scales", "pruned rows", "sorted", "quantized"])
@pytest.mark.parametrize("dt", ["f32", "bf16", "i8"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_sampled_statistics_are_close_to_exact_on_structured_weights(kind, dt, axis):
    """A 786,432-element weight read on 16,384 elements (2 %): activity, Hamming weight and zero
    fraction within 0.03 of the exact ones (the worst of these cases: int8 rows whose scales span
    16 binades, streamed down the rows, 0.024); elements and transitions exact."""
    w = structured(kind, dt)
    exact = tensor_stats(w, dt, axis)
    estimate, read = sampled_stats(w, dt, axis)
    assert read == 16384 and (estimate.elements, estimate.transitions) == \
        (exact.elements, exact.transitions)
    assert activity(estimate, dt) == pytest.approx(activity(exact, dt), abs=0.03)
    assert estimate.hamming_weight == pytest.approx(exact.hamming_weight, abs=0.03)
    assert estimate.zero_fraction == pytest.approx(exact.zero_fraction, abs=0.03)


def test_weights_up_to_the_threshold_are_read_exactly():
    w = np.random.default_rng(0).standard_normal((SAMPLE_ABOVE // 64, 64)).astype(np.float32)
    assert sampled_stats(w, "f32", -1) == (tensor_stats(w, "f32", -1), w.size)


def test_reports_say_how_much_of_the_weights_bits_was_read():
    g = nx.Graph("big")
    x = g.add_input("x", "f32[1,1024]")
    w = g.add_constant("w", np.random.default_rng(0).standard_normal((1024, 512)).astype(
        np.float32))
    g.set_outputs(g.op("matmul", x, w))
    sampled = nx.compile(g, target="h100")
    assert sampled.metrics["weight_bits_read"] == pytest.approx(16384 / (1024 * 512))
    assert "a sample of the weights' bits (3.1% read; --exact-bits reads all)" in \
        str(sampled).replace("\n", " ")
    exact = nx.compile(g, target="h100", exact_bits=True)
    assert exact.metrics["weight_bits_read"] == 1.0 and "sample" not in str(exact)
    assert exact.metrics["energy_j"] == pytest.approx(sampled.metrics["energy_j"], rel=1e-3)
