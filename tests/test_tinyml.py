"""TinyML: the TFLite frontend, TFLM's arena plan, flash and fit, the MCU board targets, and
sliding-window redundancy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tflite_build import FLOAT32, INT8, INT32, Op, T, build, residual_cnn

import nexus_ir as nx
from frontends.tflite import load_tflite
from passes.arena import Buffer, greedy_offsets, plan_arena
from passes.streaming import sliding_windows

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT.parent / "shared" / "data" / "mlperf_tiny"
MODELS = sorted(TINY.glob("*.tflite"))
TFLM = json.loads((ROOT / "docs/data/tflm_arena.json").read_text())["models"]
PUBLISHED = json.loads((ROOT / "docs/data/mlperf_tiny_v1.1_nucleo.json").read_text())


# ---------------------------------------------------------------- a model written in the test
def small_model(tmp_path: Path) -> Path:
    path = tmp_path / "small.tflite"
    path.write_bytes(residual_cnn())
    return path


def test_small_model_converts_with_layout_and_quantization(tmp_path):
    g = load_tflite(small_model(tmp_path))
    assert [n.op for n in g] == ["conv", "conv", "add", "reshape", "linear"]
    c1, c2 = list(g)[:2]
    assert c1.outputs[0].type.shape == (1, 4, 6, 6)            # NHWC [1,6,6,4] channels-first
    assert c1.inputs[1].type.shape == (4, 3, 3, 3)             # [O,kh,kw,I] → [O,I,kh,kw]
    assert c2.attributes["padding"] == (1, 1, 1, 1)            # SAME 3×3 stride 1
    assert c1.attributes["padding"] == (0, 0, 0, 0)
    assert c1.inputs[2].type.dtype.name == "i32"
    assert g.quantization["input"] == {"scale": [0.5], "zero_point": [0], "axis": None}
    assert g.quantization["w1"]["axis"] == 0 and len(g.quantization["w1"]["scale"]) == 4
    assert list(g)[0].source == "c1"                           # tensor names are module names
    # MACs by hand: conv1 6·6·4·(3·3·3), conv2 6·6·4·(3·3·4), FC 144·10
    report = nx.compile(g, target="stm32l4r5")
    assert report.metrics["macs"] == 36 * 4 * 27 + 36 * 4 * 36 + 1440


def test_small_model_arena_by_hand(tmp_path):
    """Scopes: input 0–1, c1 1–3, c2 2–3, sum 3–4, flat 4–5, logits 5–5; sizes 192, 144 ×4, 16
    (10 rounded up). Largest first, equal sizes last-added first: input@0, flat@0, sum@144,
    c2@0 (fits below sum), c1 after input, c2 and sum: 288; logits@144. Arena 432."""
    plan = plan_arena(load_tflite(small_model(tmp_path)))
    offsets = {b["name"]: b["offset"] for b in plan["buffers"]}
    assert offsets == {"input": 0, "c1": 288, "c2": 0, "sum": 144, "flat": 0, "logits": 144}
    assert plan["arena_bytes"] == 432


def test_graph_quantization_round_trips(tmp_path):
    g = load_tflite(small_model(tmp_path))
    back = nx.Graph.from_json(g.to_json())
    assert back.quantization == g.quantization


@pytest.mark.skipif(not (TINY / "ad01_int8.tflite").exists(), reason="../shared/data missing")
@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_arena_equals_tflm(model):
    """TFLM's own non-persistent arena (its Python interpreter, docs/data/tflm_arena.json)."""
    assert plan_arena(load_tflite(model))["arena_bytes"] == TFLM[model.name]["head_bytes"]


def test_arena_equals_live_tflm(tmp_path):
    """The test's own model planned by TFLM's interpreter, where tflite-micro is installed."""
    pytest.importorskip("tflite_micro", reason="tflite-micro (a dev dependency) not installed")
    sys.path.insert(0, str(ROOT / "bench"))
    from tflm_arena import tflm_allocations
    path = small_model(tmp_path)
    assert tflm_allocations(path)["head_bytes"] == plan_arena(load_tflite(path))["arena_bytes"]


@pytest.mark.skipif(not MODELS, reason="../shared/data missing")
def test_mlperf_tiny_macs_by_hand():
    """One layer of each type by hand: FC 640→128 (AD), conv 10×4 over 1 channel to 64 at
    25×5, depthwise 3×3 over 64 at 25×5, pointwise 64→64 at 25×5 (KWS)."""
    ad = load_tflite(TINY / "ad01_int8.tflite")
    first = next(iter(ad))
    assert first.op == "linear" and math.prod(first.inputs[1].type.shape) == 640 * 128
    layers = [(128, 640)] + [(128, 128)] * 3 + [(8, 128), (128, 8)] + [(128, 128)] * 3 + \
        [(640, 128)]
    assert nx.compile(ad, target="stm32l4r5").metrics["macs"] == sum(o * i for o, i in layers)
    kws = nx.compile(load_tflite(TINY / "kws_ref_model.tflite"), target="stm32l4r5")
    macs = [row.macs for row in kws.nodes if row.op == "conv"]
    assert macs[:3] == [25 * 5 * 64 * 10 * 4, 25 * 5 * 64 * 9, 25 * 5 * 64 * 64]


# ---------------------------------------------------------------- the planner by hand
def chain(sizes: list[int], *, residual: bool = False, concat: bool = False) -> nx.Graph:
    g = nx.Graph("hand")
    x = g.add_input("x", f"i8[1,{sizes[0]}]")
    if concat:
        a = g.op("relu", x, name="a")
        b = g.op("relu", x, name="b")
        g.set_outputs(g.op("concat", a, b, axis=1, name="c"))
        return g
    v = x
    for name in ("a", "b")[:len(sizes) - 1]:
        v = g.op("relu", v, name=name)
    g.set_outputs(g.op("add", x, v, name="y") if residual else g.op("relu", v, name="y"))
    return g


def test_planner_chain_by_hand():
    """x 0–1, a 1–2, b 2–3, y 3–3, each 1008 B (1000 rounded to 16): y@0, b@1008, a@0,
    x@1008."""
    plan = plan_arena(chain([1000, 1000, 1000]))
    assert {b["name"]: b["offset"] for b in plan["buffers"]} == {"x": 1008, "a": 0, "b": 1008,
                                                                "y": 0}
    assert plan["arena_bytes"] == 2016


def test_planner_residual_by_hand():
    """x lives 0–3 (read by the add): y@0, b@64, a@0 and x above all three at 128."""
    plan = plan_arena(chain([64, 64, 64], residual=True))
    assert {b["name"]: b["offset"] for b in plan["buffers"]} == {"x": 128, "a": 0, "b": 64,
                                                                "y": 0}
    assert plan["arena_bytes"] == 192


def test_planner_concat_by_hand():
    """x 0–2 (40 → 48 B), a 1–3, b 2–3, c 3–3 (80 B): c@0, b@80, a@128, x@0 (free of c)."""
    plan = plan_arena(chain([40], concat=True))
    assert {b["name"]: b["offset"] for b in plan["buffers"]} == {"x": 0, "a": 128, "b": 80,
                                                                "c": 0}
    assert plan["arena_bytes"] == 176


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 12), st.integers(0, 6)),
                min_size=1, max_size=30))
def test_planner_never_overlaps_live_buffers(spec):
    """Buffers live at the same time never share bytes; the arena lies between the peak of
    live bytes and their sum."""
    plan = [Buffer(str(i), size, first, first + span) for i, (size, first, span) in
            enumerate(spec)]
    offsets = greedy_offsets(plan)
    for i, a in enumerate(plan):
        for j in range(i):
            b = plan[j]
            if a.first <= b.last and b.first <= a.last:
                assert offsets[i] + a.size <= offsets[j] or offsets[j] + b.size <= offsets[i]
    arena = max(o + b.size for o, b in zip(offsets, plan))
    peak = max(sum(b.size for b in plan if b.first <= t <= b.last) for t in range(20))
    assert peak <= arena <= sum(b.size for b in plan)


def test_cmsis_nn_scratch_by_hand():
    """CMSIS-NN's DSP conv: 2·⌈kh·kw·C_in⌉₄ int16 = 4·⌈3·3·3⌉₄ = 112 B im2col buffer for a 3×3
    conv over 3 channels; a 1×1 stride-1 conv needs none."""
    g = nx.Graph("scratch")
    x = g.add_input("x", "i8[1,3,8,8]")
    w = g.add_constant("w", np.ones((4, 3, 3, 3), np.int8))
    w1 = g.add_constant("w1", np.ones((4, 4, 1, 1), np.int8))
    y = g.op("conv", x, w, padding=(1, 1), name="y")
    g.set_outputs(g.op("conv", y, w1, name="z"))
    scratch = [b for b in plan_arena(g, cmsis_nn=True)["buffers"] if b["kind"] == "scratch"]
    assert [(b["name"], b["bytes"], b["first_scope"]) for b in scratch] == [("y.scratch", 112, 1)]


# ---------------------------------------------------------------- flash, fit, boards
def test_flash_is_weights_quantization_and_code(tmp_path):
    g = load_tflite(small_model(tmp_path))
    m = nx.compile(g, target="stm32l4r5").metrics
    weights = 4 * 27 + 4 * 4 + 4 * 36 + 4 * 4 + 1440 + 40   # int8 weights, int32 biases (the
    # reshape's shape is an attribute of the IR op, not a weight)
    params = sum(12 * len(q["scale"]) for q in g.quantization.values())
    assert m["flash_bytes"] == weights + params + 60000
    # CMSIS-NN adds im2col scratch: 4·⌈27⌉₄ = 112 B at scope 1, 4·36 = 144 B at scope 2.
    # Placed with the tensors (the 144 B scratch, added last, first among the 144 B buffers):
    # input@0, scratch2@0, flat@0, sum@144, c2@288, c1@432 (to 576), scratch1@192, logits@144
    assert m["arena_bytes"] == 576 and m["fits"] is True
    assert m["memory_needed"]["sram"] == m["arena_bytes"] + m["persistent_bytes"]


def test_resnet50_does_not_fit_a_microcontroller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = nx.compile("example:resnet50", target="stm32h7a3", bindings={"batch": 1})
    m = report.metrics
    assert m["fits"] is False and m["memory_needed"]["flash"] > 100e6
    lines = [str(w.message) for w in caught if "does not fit" in str(w.message)]
    assert len(lines) == 1 and "flash needs 10" in lines[0] and "of 2.1 MB" in lines[0]


@pytest.mark.skipif(not MODELS, reason="../shared/data missing")
@pytest.mark.parametrize("board", ["stm32l4r5", "stm32h7a3"])
def test_boards_predict_held_out_models_within_25_percent(board):
    """Fitted on image classification and visual wake words only (bench/tinyml_boards.py);
    anomaly detection and keyword spotting against MLPerf Tiny v1.1's published energies."""
    for key in ("ad", "kws"):
        model = TINY / PUBLISHED["models"][key]
        energy = nx.compile(str(model), target=board).metrics["energy_j"]
        published = PUBLISHED["boards"][board]["energy_uj"][key] * 1e-6
        assert abs(energy / published - 1) < 0.25, (key, energy, published)


def test_mcu_timing_by_hand():
    """A batch-1 int8 fully connected layer on stm32l4r5: MACs at the GEMV share of the int8
    rate, plus the per-output time of its outputs."""
    from lowering.target import load_target
    t = load_target("stm32l4r5")
    g = nx.Graph("fc")
    x = g.add_input("x", "i8[1,256]")
    w = g.add_constant("w", np.ones((64, 256), np.int8))
    g.set_outputs(g.op("linear", x, w, name="y"))
    node = next(iter(nx.compile(g, target=t).nodes))
    want = 256 * 64 / (t.peak_rate("matrix", "i8") * t.number("gemv_efficiency")) + \
        64 * t.number("per_output_s")
    assert node.time_s == pytest.approx(want + t.kernel_overhead_s.value, rel=1e-9)


# ---------------------------------------------------------------- sliding windows
def conv_stack() -> nx.Graph:
    """x [1,4,20] f32 → conv k3 (8) → conv k5 → conv k3 stride 2, all unpadded."""
    g = nx.Graph("stack")
    v = g.add_input("x", "f32[1,4,20]")
    for i, (c_in, k, s) in enumerate([(4, 3, 1), (8, 5, 1), (8, 3, 2)]):
        w = g.add_constant(f"w{i}", np.ones((8, c_in, k), np.float32))
        v = g.op("conv", v, w, stride=(s,), name=f"c{i}")
    g.set_outputs(v)
    return g


def test_sliding_window_by_hand():
    """hop 2. c0: S 1, field 3, outputs 18: t + 3 + 2 ≤ 20 → 16 recomputed. c1: field 7, 14
    outputs → 12. c2: S 2, field 9, 6 outputs: 2t + 9 + 2 ≤ 20 → 5. State (k−1)·frame_in:
    2·16 + 4·32 + 2·32 B; working: c1's 6 input and 2 output frames, 256 B."""
    r = sliding_windows(conv_stack(), hop=2)
    assert [(row["outputs"], row["recomputed"]) for row in r["layers"]] == \
        [(18, 16), (14, 12), (6, 5)]
    macs = [18 * 8 * 4 * 3, 14 * 8 * 8 * 5, 6 * 8 * 8 * 3]
    assert r["macs"] == sum(macs)
    assert r["recomputed_macs"] == pytest.approx(macs[0] * 16 / 18 + macs[1] * 12 / 14 +
                                                 macs[2] * 5 / 6)
    assert r["state_bytes"] == 32 + 128 + 64 and r["working_bytes"] == 256
    assert r["ring_buffer_bytes"] == 480


def test_sliding_window_odd_hop_breaks_reuse_after_a_stride():
    r = sliding_windows(conv_stack(), hop=1)
    assert [row["recomputed"] for row in r["layers"]] == [17, 13, 0]


def test_sliding_window_padding_is_not_reused():
    """A padded conv's edge outputs read padding: 20 frames, k3 pad 1, hop 1: outputs t with
    t − 1 ≥ 0 and t − 1 + 3 + 1 ≤ 20, 1 ≤ t ≤ 17 → 17 of 20."""
    g = nx.Graph("pad")
    x = g.add_input("x", "f32[1,1,20]")
    w = g.add_constant("w", np.ones((1, 1, 3), np.float32))
    g.set_outputs(g.op("conv", x, w, padding=(1,), name="y"))
    assert sliding_windows(g, hop=1)["layers"][0]["recomputed"] == 17


# ---------------------------------------------------------------- bad input, CLI
def run_nexus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mutate, why", [
    (lambda data: data[:4] + b"XXXX" + data[8:], "identifier is not TFL3"),
    (lambda data: data[:40], "does not parse"),
])
def test_broken_tflite_is_one_line(tmp_path, mutate, why):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(mutate(small_model(tmp_path).read_bytes()))
    done = run_nexus("compile", str(bad), "--target", "stm32l4r5")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("nexus: error")]
    assert len(lines) == 1 and why in lines[0], done.stderr


def test_arena_command(tmp_path):
    path = small_model(tmp_path)
    done = run_nexus("arena", str(path), "-o", str(tmp_path / "plan.json"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert doc["arena_bytes"] == 576 and doc["fits"] is True    # with CMSIS-NN's scratch
    assert {b["name"]: b["offset"] for b in doc["buffers"]} == {
        "input": 0, "c1": 432, "c2": 288, "sum": 144, "flat": 0, "logits": 144,
        "c1.scratch": 192, "c2.scratch": 0}
    page = run_nexus("arena", str(path), "-o", str(tmp_path / "plan.html"))
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "plan.html").read_text()
    assert "TFLM arena 576 B (cmsis-nn kernels)" in html and "<td>432</td>" in html
    refused = run_nexus("arena", str(path), "--target", "h100")
    assert refused.returncode == 2 and "no microcontroller" in refused.stderr


def test_stream_command(tmp_path):
    g = conv_stack()
    (tmp_path / "stack.json").write_text(g.to_json())
    done = run_nexus("stream", str(tmp_path / "stack.json"), "--hop", "2")
    assert done.returncode == 0, done.stderr
    assert "ring-buffer schedule needs 480 B" in done.stdout
    bad = run_nexus("stream", str(tmp_path / "stack.json"), "--hop", "20")
    assert bad.returncode == 2 and "below the window's 20 frames" in bad.stderr


def test_float_tflite_model(tmp_path):
    """A float32 model: FC with a fused ReLU kept in the kernel, softmax over the last axis."""
    rng = np.random.default_rng(1)
    tensors = [T("x", [1, 16], FLOAT32), T("w", [4, 16], FLOAT32,
                                            data=rng.standard_normal((4, 16), np.float32)),
               T("y", [1, 4], FLOAT32), T("p", [1, 4], FLOAT32)]
    path = tmp_path / "float.tflite"
    path.write_bytes(build(tensors, [Op(9, [0, 1, -1], [2]), Op(25, [2], [3])], [0], [3]))
    g = load_tflite(path)
    assert [n.op for n in g] == ["linear", "softmax"] and not g.quantization
    assert next(iter(g)).inputs[0].type.dtype.name == "f32"
    assert INT8 == 9                       # the type codes tflite_build writes


def lstm_model(tmp_path: Path, quantized: bool = False) -> Path:
    """UNIDIRECTIONAL_SEQUENCE_LSTM over x [1, 5, 3], hidden 4, batch-major, state variables."""
    import tflite
    rng = np.random.default_rng(0)
    kind = INT8 if quantized else FLOAT32
    q = {"scale": [0.1], "zero_point": [0]} if quantized else {}
    weight = (lambda shape: rng.integers(-3, 3, shape, dtype=np.int8)) if quantized else \
        (lambda shape: rng.standard_normal(shape).astype(np.float32))
    bias_type, bias_np = (INT32, np.int32) if quantized else (FLOAT32, np.float32)
    tensors = [T("x", [1, 5, 3], kind, **q)]
    tensors += [T(f"wi{g}", [4, 3], kind, data=weight((4, 3)), **q) for g in range(4)]
    tensors += [T(f"wh{g}", [4, 4], kind, data=weight((4, 4)), **q) for g in range(4)]
    tensors += [T(f"b{g}", [4], bias_type, data=np.zeros(4, bias_np)) for g in range(4)]
    tensors += [T("h", [1, 4], kind, variable=True, **q),
                T("c", [1, 4], 7 if quantized else FLOAT32, variable=True),   # int16 cell
                T("y", [1, 5, 4], kind, **q)]
    ins = [0, *range(1, 9), -1, -1, -1, *range(9, 13), -1, -1, 13, 14, -1, -1, -1, -1]

    def options(b):
        tflite.UnidirectionalSequenceLSTMOptionsStart(b)
        tflite.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(b, 4)
        return tflite.UnidirectionalSequenceLSTMOptionsEnd(b)
    path = tmp_path / ("lstm_int8.tflite" if quantized else "lstm.tflite")
    path.write_bytes(build(tensors, [Op(44, ins, [15], 71, options)], [0], [15]))
    return path


def test_lstm_by_hand(tmp_path):
    """One recurrent layer: 5 steps × 4·4 gates·(3 + 4) MACs. Arena: x 60 → 64 B (0–1), y 80 B
    (1–1), TFLM's four LSTM scratch buffers of 1·4 float32 (16 B, scope 1); the states are
    variables, updated in place: y@0, x@80, the scratch buffers at 144…192 → 208 B."""
    path = lstm_model(tmp_path)
    g = load_tflite(path)
    (node,) = list(g)
    assert node.op == "recurrent" and node.attributes["batch_first"]
    assert node.inputs[3].type.shape == (16, 3)          # input, forget, cell, output stacked
    assert nx.compile(g, target="stm32l4r5").metrics["macs"] == 5 * 16 * 7
    assert plan_arena(g)["arena_bytes"] == 208


def test_lstm_arena_equals_live_tflm(tmp_path):
    pytest.importorskip("tflite_micro", reason="tflite-micro (a dev dependency) not installed")
    sys.path.insert(0, str(ROOT / "bench"))
    from tflm_arena import tflm_allocations
    path = lstm_model(tmp_path)
    assert tflm_allocations(path)["head_bytes"] == plan_arena(load_tflite(path))["arena_bytes"]


def test_quantized_lstm_keeps_its_dtypes(tmp_path):
    """int8 input and weights, int32 biases, an int16 cell state (TFLM's quantized LSTM)."""
    (node,) = list(load_tflite(lstm_model(tmp_path, quantized=True)))
    assert [v.type.dtype.name for v in node.inputs] == ["i8", "i8", "i16", "i8", "i8", "i32",
                                                        "i32"]
    assert [o.type.dtype.name for o in node.outputs] == ["i8", "i8", "i16"]
    # four scratch buffers of 1·4 int16 cell-state elements (8 B, rounded to 16)
    assert [b["bytes"] for b in plan_arena(load_tflite(lstm_model(tmp_path, True)))["buffers"]
            if b["kind"] == "scratch"] == [16] * 4


def test_mcu_reports_say_whether_it_fits(tmp_path):
    """Text and HTML reports on a microcontroller carry the arena, flash and the fit."""
    report = nx.compile(load_tflite(small_model(tmp_path)), target="stm32l4r5")
    text = str(report).replace("\n", " ")
    assert "(TFLM arena 576 B + persistent" in text and "— fits" in text
    assert "fp32 math" not in text              # no setting the target's numbers ignore
    html = report.to_html()
    assert "TFLM arena" in html and "576 B" in html and "fits" in html


def test_layout_ops_keep_the_files_shapes(tmp_path):
    """TRANSPOSE (channels-last perm composed with the layout), RESIZE, SPLIT, ARG_MAX and
    BATCH_MATMUL: every output has the file's shape (the frontend checks each against it)."""
    i32 = lambda *v: np.array(v, np.int32)
    tensors = [T("x", [1, 4, 4, 2], FLOAT32), T("perm", [4], INT32, data=i32(0, 3, 1, 2)),
               T("xt", [1, 2, 4, 4], FLOAT32), T("size", [2], INT32, data=i32(8, 8)),
               T("up", [1, 8, 8, 2], FLOAT32), T("axis", [1], INT32, data=i32(3)),
               T("left", [1, 8, 8, 1], FLOAT32), T("right", [1, 8, 8, 1], FLOAT32),
               T("best", [1, 4, 4], INT32), T("a", [2, 3, 4], FLOAT32),
               T("b", [2, 4, 5], FLOAT32, data=np.ones((2, 4, 5), np.float32)),
               T("ab", [2, 3, 5], FLOAT32)]
    ops = [Op(39, [0, 1], [2]), Op(97, [0, 3], [4]), Op(49, [5, 4], [6, 7]),
           Op(56, [0, 5], [8]), Op(126, [9, 10], [11])]
    path = tmp_path / "layout.tflite"
    path.write_bytes(build(tensors, ops, [0, 9], [2, 6, 7, 8, 11]))
    g = load_tflite(path)
    assert [n.op for n in g] == ["transpose", "resize", "split", "argmax", "cast", "matmul"]
    assert [v.type.shape for v in g.outputs] == [(1, 4, 2, 4), (1, 1, 8, 8), (1, 1, 8, 8),
                                                 (1, 4, 4), (2, 3, 5)]
    assert next(iter(g)).attributes["perm"] == (0, 3, 1, 2)    # (N, C, H, W) to (N, W, C, H)
    assert nx.compile(g, target="stm32l4r5").metrics["macs"] == 2 * 3 * 4 * 5


def test_axes_of_4d_ops_map_to_channels_first(tmp_path):
    """Channels-last axis 3 is IR axis 1, 1 is 2, 2 is 3: a concat over channels, a mean over
    the spatial axes, a softmax over the last axis."""
    i32 = lambda *v: np.array(v, np.int32)

    def concat_options(b):
        import tflite
        tflite.ConcatenationOptionsStart(b)
        tflite.ConcatenationOptionsAddAxis(b, 3)
        return tflite.ConcatenationOptionsEnd(b)
    tensors = [T("x", [1, 4, 5, 2], FLOAT32), T("both", [1, 4, 5, 4], FLOAT32),
               T("axes", [2], INT32, data=i32(1, 2)), T("pooled", [1, 4], FLOAT32),
               T("p", [1, 4, 5, 4], FLOAT32)]
    ops = [Op(2, [0, 0], [1], 10, concat_options), Op(40, [1, 2], [3]), Op(25, [1], [4])]
    path = tmp_path / "axes.tflite"
    path.write_bytes(build(tensors, ops, [0], [3, 4]))
    concat, mean, softmax = load_tflite(path)
    assert concat.attributes["axis"] == 1 and concat.output.type.shape == (1, 4, 4, 5)
    assert mean.attributes["axes"] == (2, 3) and softmax.attributes["axis"] == 1


def test_strided_slice_and_gather(tmp_path):
    """STRIDED_SLICE (a stride, begin/end masks, a shrunk axis dropped) and GATHER keep the
    file's shapes; the slice's elements by hand: x[:, 2:8:2, :] has 1·3·8."""
    import tflite
    i32 = lambda *v: np.array(v, np.int32)      # noqa: E731

    def slice_options(begin_mask: int, end_mask: int, shrink: int):
        def write(b):
            tflite.StridedSliceOptionsStart(b)
            tflite.StridedSliceOptionsAddBeginMask(b, begin_mask)
            tflite.StridedSliceOptionsAddEndMask(b, end_mask)
            tflite.StridedSliceOptionsAddShrinkAxisMask(b, shrink)
            return tflite.StridedSliceOptionsEnd(b)
        return write
    tensors = [T("x", [1, 10, 8], FLOAT32), T("b", [3], INT32, data=i32(0, 2, 0)),
               T("e", [3], INT32, data=i32(0, 8, 0)), T("s", [3], INT32, data=i32(1, 2, 1)),
               T("strided", [1, 3, 8], FLOAT32),
               T("b1", [3], INT32, data=i32(0, 3, 0)), T("e1", [3], INT32, data=i32(1, 4, 8)),
               T("s1", [3], INT32, data=i32(1, 1, 1)), T("row", [1, 8], FLOAT32),
               T("table", [10, 4], FLOAT32, data=np.ones((10, 4), np.float32)),
               T("ids", [3], INT32), T("picked", [3, 4], FLOAT32)]
    ops = [Op(45, [0, 1, 2, 3], [4], 32, slice_options(0b101, 0b101, 0)),
           Op(45, [0, 5, 6, 7], [8], 32, slice_options(0, 0, 0b010)),
           Op(36, [9, 10], [11])]
    path = tmp_path / "slices.tflite"
    path.write_bytes(build(tensors, ops, [0, 10], [4, 8, 11]))
    g = load_tflite(path)
    assert [n.op for n in g] == ["slice", "slice", "reshape", "gather"]
    assert [v.type.shape for v in g.outputs] == [(1, 3, 8), (1, 8), (3, 4)]
