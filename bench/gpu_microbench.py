"""Microbenchmarks that give a GPU target its numbers: idle and busy-floor power, host dispatch
per kernel in eager PyTorch and replay cost per kernel in a CUDA graph, copy bandwidth and
pJ/byte (HBM and L2-resident), matrix rate and pJ/FMA per math mode (bf16, f16, fp8, TF32,
FP32), achieved rate of GEMMs and convolutions by shape, and kernels per op.

    PYTHONPATH=src:bench python3 bench/gpu_microbench.py measure OUT     # on the GPU, ≈ 3 min
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py dispatch OUT    # host time per op
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py shapes OUT      # device time by shape
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py ops OUT         # single ops: time, energy
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py ops-report docs/data/gpu_ops_h200.json
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py attention OUT   # SDPA by shape
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py attention-report \
        docs/data/gpu_attention_h200.json                                # the attention fit
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py depthwise-fit docs/data/gpu_shapes_h200.json
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py conv-kernels OUT    # cuDNN's kernels
    PYTHONPATH=src:bench python3 bench/gpu_microbench.py conv-kernels-report \
        docs/data/gpu_conv_kernels_h100.json                             # against NEXUS's rule

Each writes one JSON file of raw readings under OUT (checked in as docs/data/gpu_*_h200.json);
every number of ``src/lowering/targets/h200.toml`` names the reading it comes from and the
arithmetic that turns it into the target's unit.
"""

from __future__ import annotations

import collections
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

SQUARE = 8192
GEMM_M = (1, 8, 32, 128, 512, 2048, 8192)
GEMM_NK = ((768, 768), (3072, 768), (768, 3072), (4096, 4096), (1000, 2048), (14336, 4096))
CONVS = (  # c_in, c_out, kernel, stride, size, groups
    (3, 64, 7, 2, 224, 1), (64, 64, 3, 1, 56, 1), (64, 256, 1, 1, 56, 1), (256, 64, 1, 1, 56, 1),
    (128, 128, 3, 2, 56, 1), (256, 256, 3, 1, 14, 1), (512, 2048, 1, 1, 7, 1),
    (96, 96, 3, 1, 112, 96), (384, 384, 7, 1, 14, 384), (32, 32, 3, 1, 112, 32))


def op_cases() -> dict[str, tuple[Callable[[], Any], tuple[int, ...]]]:
    """Single ops as the zoo's models use them, at the batch sizes where they cost most: name ->
    (module factory, input shape). Built on the CPU too, where ``ops-report`` compiles each with
    NEXUS beside its measurement."""
    import torch
    from torch import nn

    class Permuted(nn.Module):
        """A permute that materializes (``.contiguous()``), as a window partition does."""

        def forward(self, x):
            return x.permute(0, 2, 1, 3).contiguous()

    class Add(nn.Module):
        def forward(self, x):
            return x + x

    class Softmax(nn.Module):
        def forward(self, x):
            return torch.softmax(x, dim=-1)

    class Scores(nn.Module):
        """Windowed attention scores: many small batched products (Swin's 7×7 windows)."""

        def forward(self, x):
            return x @ x.transpose(-1, -2)

    return {
        "batch_norm_b128": (lambda: nn.BatchNorm2d(64), (128, 64, 56, 56)),
        "batch_norm_b1": (lambda: nn.BatchNorm2d(64), (1, 64, 56, 56)),
        "layer_norm_c96_b128": (lambda: nn.LayerNorm(96), (128, 56, 56, 96)),
        "layer_norm_c384_b128": (lambda: nn.LayerNorm(384), (128, 197, 384)),
        "layer_norm_c768_b1": (lambda: nn.LayerNorm(768), (1, 197, 768)),
        "max_pool_b128": (lambda: nn.MaxPool2d(3, 2, 1), (128, 64, 112, 112)),
        "avg_pool_b128": (lambda: nn.AvgPool2d(2, 2), (128, 128, 56, 56)),
        "softmax_49": (Softmax, (128 * 64 * 3, 49, 49)),
        "softmax_197": (Softmax, (128 * 6, 197, 197)),
        "window_scores": (Scores, (128 * 64 * 3, 49, 32)),
        "depthwise7_b128": (lambda: nn.Conv2d(96, 96, 7, 1, 3, groups=96), (128, 96, 56, 56)),
        "depthwise3_b128": (lambda: nn.Conv2d(144, 144, 3, 1, 1, groups=144), (128, 144, 56, 56)),
        "relu_b128": (nn.ReLU, (128, 64, 56, 56)),
        "gelu_b128": (nn.GELU, (128, 64, 56, 56)),
        "add_b128": (Add, (128, 64, 56, 56)),
        "relu_b1": (nn.ReLU, (1, 64, 56, 56)),
        "add_b1": (Add, (1, 32, 112, 112)),
        "permute_b128": (Permuted, (128, 197, 6, 64)),
        "lstm_b1": (lambda: nn.LSTM(256, 512, 2, batch_first=True), (1, 64, 256)),
    }


def ops(out_dir: str) -> None:
    """Every ``op_cases`` op at fp32 and bf16: device seconds per op (ten ops per CUDA graph,
    replay timed with CUDA events), energy per op from a >= 1 s window of replays (NVML) and the
    busy floor measured before, kernels per op."""
    import torch

    import gpu_probe as gp
    from runtime.execute import cuda_graph

    energy = gp.Energy()
    torch.zeros(1, device="cuda")
    doc: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "busy_floor_w": gp.idle_watts(energy, 3.0), "ops": []}
    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16):
            for name, (build, shape) in op_cases().items():
                torch.manual_seed(0)
                module = build().to("cuda", dtype).eval()
                x = torch.randn(shape, device="cuda", dtype=dtype)
                call = lambda module=module, x=x: module(x)  # noqa: E731
                replay = cuda_graph(lambda call=call: [call() for _ in range(10)])
                seconds = gp.event_time(replay, 10) / 10
                win = gp.window(energy, replay, 1.0, sync_each=False)
                doc["ops"].append({"name": name, "dtype": str(dtype).split(".")[1],
                                   "shape": list(shape), "s": seconds,
                                   "j": win["j_per_call"] / 10, "watts": win["watts"],
                                   "kernels": gp.kernel_profile(call)["kernels"]})
                print(f"{name:<22} {dtype}  {seconds * 1e6:9.1f} us  {win['watts']:6.0f} W",
                      flush=True)
                del module, x, replay
    Path(out_dir, "gpu_ops.json").write_text(json.dumps(doc, indent=1))


MEMORY_BOUND = ("batch_norm", "layer_norm", "max_pool", "avg_pool", "softmax", "relu", "gelu",
                "add", "permute")
"""Op cases whose kernels stream memory (no matrix work): the ones the energy fit reads."""


def ops_report(path: str, target: str = "h200") -> None:
    """On the CPU: every op measured by ``ops`` beside NEXUS (cuda-graph execution on
    ``target``), and the fit that gives the target its HBM pJ/byte and ``active_power_w``:
    least relative squares over the memory-bound cases whose tensors stream from HBM (larger
    than ``weights_resident_below_bytes``; there the kernels keep every multiprocessor busy for
    the whole measured time) of their energy above the busy floor, less NEXUS's compute energy
    and the target's L2 energy for their bytes, against bytes from HBM and measured time. The
    cases that stay in L2 check the result."""
    import numpy as np
    import torch

    from lowering.target import load_target
    from nexus_ir.app.api import compile as nexus_compile

    doc = json.loads(Path(path).read_text())
    tgt = load_target(target)
    floor, l2 = doc["busy_floor_w"], tgt.on_chip.pj_per_byte.value * 1e-12
    cases = op_cases()
    print(f"{doc['device']}, busy floor {floor:.1f} W; NEXUS on {target}, cuda-graph")
    print("| op | dtype | measured µs | NEXUS µs | measured mJ above floor | NEXUS mJ |")
    print("|---|---|---|---|---|---|")
    design, measured = [], []
    for op in doc["ops"]:
        build, shape = cases[op["name"]]
        torch.manual_seed(0)
        module = build().eval().to(getattr(torch, op["dtype"]))
        x = torch.randn(shape, dtype=getattr(torch, op["dtype"]))
        m = nexus_compile(module, (x,), tgt, execution="cuda-graph").metrics
        above = op["j"] - floor * op["s"]
        print(f"| {op['name']} | {op['dtype']} | {op['s'] * 1e6:.1f} | "
              f"{(m['latency_s'] - m['call_overhead_s']) * 1e6:.1f} | {above * 1e3:.4g} | "
              f"{(m['energy_j'] - tgt.floor_power_w * m['latency_s']) * 1e3:.4g} |")
        streams = 2 * x.nbytes > tgt.number("weights_resident_below_bytes", float("inf"))
        if op["name"].startswith(MEMORY_BOUND) and streams:
            design.append([m["on_chip_bytes"], op["s"]])
            measured.append(above - m["compute_j"] - m["on_chip_bytes"] * l2)
    a, y = np.array(design), np.array(measured)
    coef, *_ = np.linalg.lstsq(a / y[:, None], np.ones(len(y)), rcond=None)
    residual = np.abs(a @ coef / y - 1)
    print(f"\nfit over {len(y)} memory-bound cases streaming from HBM: HBM {coef[0] * 1e12:.1f} "
          f"pJ/byte beyond L2's {l2 * 1e12:.1f}, active power {coef[1]:.1f} W; median |residual| "
          f"{np.median(residual):.1%}, max {residual.max():.1%}")
    fma_energies(Path(path).with_name("gpu_microbench_h200.json"), tgt)


def fma_energies(path: Path, tgt: Any) -> None:
    """Energy per FMA of each measured 8192³ product (``measure``'s matmul entries): its joules
    less the target's busy floor and active power over its measured time and the target's
    memory energy for its operands and result, over its FMAs."""
    import torch

    from nexus_ir.app.api import compile as nexus_compile

    class Product(torch.nn.Module):
        def forward(self, a, b):
            return a @ b

    doc = json.loads(path.read_text())
    power = tgt.floor_power_w + tgt.number("active_power_w")
    for mode, kind in (("bf16", torch.bfloat16), ("f16", torch.float16), ("tf32", torch.float32),
                       ("f32", torch.float32), ("fp8", torch.bfloat16)):
        entry = doc["matmul"][mode]
        a, b = torch.randn(SQUARE, SQUARE, dtype=kind), torch.randn(SQUARE, SQUARE, dtype=kind)
        memory = nexus_compile(Product(), (a, b), tgt, execution="cuda-graph",
                               math="tf32" if mode == "tf32" else "highest").metrics["memory_j"]
        if mode == "fp8":                  # e4m3 operands: a quarter of the bf16 operand bytes
            memory *= (2 * 1 + 2) / (3 * 2)
        pj = (entry["j_per_call"] - power * entry["s_per_call"] - memory) / entry["fma"] * 1e12
        print(f"{mode}: {entry['j_per_call']:.4g} J in {entry['s_per_call'] * 1e3:.4g} ms, memory "
              f"{memory:.4g} J -> {pj:.4g} pJ per FMA")


def _module_stacks() -> dict[str, Any]:
    import torch
    from torch import nn

    linear = nn.Sequential(*[nn.Linear(64, 64) for _ in range(32)])
    conv = nn.Sequential(*[m for _ in range(16) for m in (nn.Conv2d(16, 16, 3, padding=1),
                                                          nn.BatchNorm2d(16), nn.ReLU())])
    return {"linear32": (linear, torch.randn(1, 64)),
            "conv_bn_relu16": (conv, torch.randn(1, 16, 16, 16))}


def measure(out_dir: str) -> None:
    import torch

    import gpu_probe as gp
    from runtime.execute import cuda_graph

    torch.backends.cudnn.benchmark = False
    energy = gp.Energy()
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    doc: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "sms": props.multi_processor_count,
                           "l2_bytes": getattr(props, "L2_cache_size", None)}
    torch.zeros(1, device=dev)
    doc["idle_w"] = gp.idle_watts(energy, 3.0)
    doc["clocks_idle"] = energy.clocks()

    # Dispatch: tiny kernels eager (host-bound) and replayed from a graph.
    tiny = torch.zeros(1024, device=dev)
    one_op = lambda: tiny.add_(1.0)  # noqa: E731
    hundred = lambda: [tiny.add_(1.0) for _ in range(100)]  # noqa: E731
    doc["eager_add_sync"] = gp.window(energy, one_op, 1.0)
    doc["eager_add100"] = gp.window(energy, hundred, 2.0)
    doc["graph_add_sync"] = gp.window(energy, cuda_graph(one_op), 1.0)
    doc["graph_add100"] = gp.window(energy, cuda_graph(hundred), 2.0)
    stacks = {}
    for name, (module, x) in _module_stacks().items():
        for dtype in (torch.float32, torch.bfloat16):
            m, xx = module.to(dev, dtype).eval(), x.to(dev, dtype)
            call = lambda m=m, xx=xx: m(xx)  # noqa: E731
            with torch.no_grad():
                entry = {"kernels": gp.kernel_profile(call)["kernels"],
                         "eager": gp.window(energy, call, 2.0),
                         "graph": gp.window(energy, cuda_graph(call), 2.0)}
            stacks[f"{name}_{str(dtype).split('.')[1]}"] = entry
    doc["stacks"] = stacks
    doc["clocks_dispatch"] = energy.clocks()

    # Copies: HBM (1 GiB buffers) and L2-resident (8 MiB, 100 copies per graph replay).
    big = torch.empty(1 << 28, device=dev)
    big_out = torch.empty_like(big)
    doc["copy_hbm"] = {"bytes": 2 * big.nbytes,
                       **gp.window(energy, lambda: big_out.copy_(big), 2.0)}
    small = torch.empty(1 << 21, device=dev)
    small_out = torch.empty_like(small)
    doc["copy_l2"] = {"bytes": 100 * 2 * small.nbytes, "kernels": 100,
                      **gp.window(energy, cuda_graph(lambda: [small_out.copy_(small)
                                                              for _ in range(100)]), 2.0)}
    del big, big_out

    # Matrix products per math mode, 8192^3, preallocated output.
    mats = {}
    for mode in ("bf16", "f16", "tf32", "f32", "fp8"):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        kind = {"bf16": torch.bfloat16, "f16": torch.float16}.get(mode, torch.float32)
        a = torch.randn(SQUARE, SQUARE, device=dev, dtype=kind)
        b = torch.randn(SQUARE, SQUARE, device=dev, dtype=kind)
        if mode == "fp8":
            a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn).t().contiguous().t()
            one = torch.ones((), device=dev)
            fn = lambda a8=a8, b8=b8, one=one: torch._scaled_mm(  # noqa: E731
                a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            item = 1
        else:
            c = torch.empty_like(a)
            fn = lambda a=a, b=b, c=c: torch.matmul(a, b, out=c)  # noqa: E731
            item = a.element_size()
        try:
            mats[mode] = {"fma": SQUARE ** 3, "operand_bytes": 2 * SQUARE * SQUARE * item,
                          **gp.window(energy, fn, 2.0, sync_each=False)}
        except RuntimeError as err:               # fp8 needs torch._scaled_mm on sm_89+
            mats[mode] = {"error": str(err).splitlines()[0][:200]}
            continue
        mats[mode]["clocks"] = energy.clocks()
        del a, b
        torch.cuda.empty_cache()
    torch.backends.cuda.matmul.allow_tf32 = False
    doc["matmul"] = mats

    # A large convolution with cuDNN's TF32 on (PyTorch's default) and off.
    x = torch.randn(64, 256, 56, 56, device=dev)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dev).eval()
    convs = {}
    for tf32 in (True, False):
        torch.backends.cudnn.allow_tf32 = tf32
        with torch.no_grad():
            convs["tf32" if tf32 else "f32"] = {
                "fma": 64 * 256 * 256 * 9 * 56 * 56,
                **gp.window(energy, lambda: conv(x), 2.0, sync_each=False)}
    torch.backends.cudnn.allow_tf32 = True
    doc["conv_big"] = convs

    # Achieved rate by shape (time only, CUDA events around 20 eager calls).
    doc["gemm_shapes"], doc["conv_shapes"] = shape_sweep(gp.event_time, kernels=True)
    doc["clocks_end"] = energy.clocks()
    Path(out_dir, "gpu_microbench.json").write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: v for k, v in doc.items() if k not in ("gemm_shapes", "conv_shapes")},
                     indent=1))


def shape_sweep(seconds: Callable[[Callable[[], Any], int], float], kernels: bool = False
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Time every GEMM (``GEMM_M`` × ``GEMM_NK`` per math mode: bf16, TF32, FP32) and every
    convolution (``CONVS`` × batch 1/16/128 at fp32 and bf16) with ``seconds(fn, reps)``;
    with ``kernels``, also the kernels of one eager convolution."""
    import torch

    import gpu_probe as gp

    dev = torch.device("cuda")
    gemms = []
    for mode in ("bf16", "tf32", "f32"):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        kind = torch.bfloat16 if mode == "bf16" else torch.float32
        for n, k in GEMM_NK:
            w = torch.randn(n, k, device=dev, dtype=kind)
            for m in GEMM_M:
                x = torch.randn(m, k, device=dev, dtype=kind)
                gemms.append({"mode": mode, "m": m, "n": n, "k": k, "s": seconds(
                    lambda x=x, w=w: torch.nn.functional.linear(x, w), 20)})
    torch.backends.cuda.matmul.allow_tf32 = False
    convs = []
    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16):
            for c_in, c_out, k, stride, size, groups in CONVS:
                layer = torch.nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups,
                                        bias=False).to(dev, dtype).eval()
                for batch in (1, 16, 128):
                    x = torch.randn(batch, c_in, size, size, device=dev, dtype=dtype)
                    call = lambda x=x, layer=layer: layer(x)  # noqa: E731
                    row = {"dtype": str(dtype).split(".")[1], "c_in": c_in, "c_out": c_out,
                           "k": k, "stride": stride, "size": size, "groups": groups,
                           "batch": batch, "s": seconds(call, 10)}
                    if kernels:
                        row["kernels"] = gp.kernel_profile(call)["kernels"]
                    convs.append(row)
    return gemms, convs


def shapes(out_dir: str) -> None:
    """Device time of GEMMs and convolutions by shape, free of host dispatch: ten calls captured
    in a CUDA graph, the replay timed with CUDA events (seconds per call)."""
    import torch

    import gpu_probe as gp
    from runtime.execute import cuda_graph

    torch.backends.cudnn.benchmark = False

    def device_seconds(fn: Callable[[], Any], _reps: int) -> float:
        replay = cuda_graph(lambda: [fn() for _ in range(10)])
        return gp.event_time(replay, 10) / 10

    gemms, convs = shape_sweep(device_seconds)
    doc = {"gemm_shapes": gemms, "conv_shapes": convs}
    Path(out_dir, "gpu_shapes.json").write_text(json.dumps(doc, indent=1))
    print(f"{len(gemms)} GEMMs, {len(convs)} convolutions timed")


ATTENTION_BATCHES = (1, 16, 128)
ATTENTION_LENGTHS = (49, 128, 197, 512, 1024)
ATTENTION_HEAD_SIZES = (32, 64)


def attention(out_dir: str) -> None:
    """Device time of one SDPA call by shape (batch × 12 heads × length × head size, fp32 and
    bf16; no mask, causal, and a float mask [batch, 1, L, L] as Hugging Face models pass one):
    eager calls back to back timed with CUDA events, ten calls replayed from a CUDA graph, and
    the kernels one eager call runs (their names say which backend PyTorch picked)."""
    import torch
    import torch.nn.functional as F

    import gpu_probe as gp
    from runtime.execute import cuda_graph

    rows = []
    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16):
            for batch in ATTENTION_BATCHES:
                for length in ATTENTION_LENGTHS:
                    for size in ATTENTION_HEAD_SIZES:
                        q, k, v = (torch.randn(batch, 12, length, size, device="cuda",
                                               dtype=dtype) for _ in range(3))
                        mask = torch.zeros(batch, 1, length, length, device="cuda", dtype=dtype)
                        calls = {"none": lambda: F.scaled_dot_product_attention(q, k, v),
                                 "causal": lambda: F.scaled_dot_product_attention(
                                     q, k, v, is_causal=True),
                                 "float-mask": lambda: F.scaled_dot_product_attention(
                                     q, k, v, attn_mask=mask)}
                        for masking, call in calls.items():
                            replay = cuda_graph(lambda call=call: [call() for _ in range(10)])
                            profile = gp.kernel_profile(call)
                            rows.append({"dtype": str(dtype).split(".")[1], "batch": batch,
                                         "heads": 12, "length": length, "head_size": size,
                                         "mask": masking, "eager_s": gp.event_time(call, 50),
                                         "graph_s": gp.event_time(replay, 10) / 10,
                                         "kernels": profile["kernels"],
                                         "names": sorted(profile["names"])})
                            del replay
                        del q, k, v, mask
                        torch.cuda.empty_cache()
    Path(out_dir, "gpu_attention.json").write_text(json.dumps({"rows": rows}, indent=1))
    print(f"{len(rows)} attention calls timed")


ATTENTION_TILES = {"float32": ((64, 64),),
                   "bfloat16": ((64, 64), (64, 128), (128, 64), (128, 128))}
"""(query rows, keys) per tile tried by the fit: fp32's ``fmha_cutlassF_f32_aligned_64x64``
names its tiles; cuDNN's flash kernel (``..._64x128x64_4x1x1``) does not say which is which."""


def _attention_design(row: dict[str, Any], rows: int, keys: int, slots: int) -> list[float]:
    """One measured call's terms of ``passes.cost.attention_time``: waves, key steps, steps ×
    (E + Ev), steps under a mask, steps under a mask whose rows are not 16-byte aligned."""
    from passes.cost import attention_steps, unaligned_rows

    waves, steps = attention_steps(row["batch"] * row["heads"], row["length"],
                                   row["mask"] == "causal", rows, keys, slots)
    masked = row["mask"] == "float-mask"
    unaligned = masked and unaligned_rows(row["length"], 32 if row["dtype"] == "float32" else 16)
    return [waves, steps, steps * 2 * row["head_size"], steps * masked, steps * unaligned]


def attention_report(path: str, target: str = "h200") -> None:
    """On the CPU: the fit of ``target``'s ``[attention.DTYPE]`` numbers to the SDPA calls
    ``attention`` measured. Per dtype, for each tile shape (``ATTENTION_TILES``) and 1-4 blocks
    resident per multiprocessor, non-negative least relative squares of the replayed time per
    call, less the gap after one kernel and ``min_kernel_s`` (which the cost model adds to every
    matrix kernel), against ``_attention_design``; the shape with the smallest median residual
    is kept. Then every call beside NEXUS on ``target`` as it ships (cuda-graph)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from scipy.optimize import nnls

    from lowering.target import load_target
    from nexus_ir.app.api import compile as nexus_compile

    class Attention(torch.nn.Module):
        def __init__(self, causal: bool) -> None:
            super().__init__()
            self.causal = causal

        def forward(self, q: Any, k: Any, v: Any, *mask: Any) -> Any:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[0] if mask else None,
                                                  is_causal=self.causal)

    tgt = load_target(target)
    calls = json.loads(Path(path).read_text())["rows"]
    base = tgt.number("kernel_gap_s") + tgt.number("min_kernel_s")
    sms = int(tgt.number("sms"))
    for dt in ATTENTION_TILES:
        mine = [r for r in calls if r["dtype"] == dt]
        y = np.array([r["graph_s"] - base for r in mine])
        fits = []
        for (rows, keys), per_sm in itertools.product(ATTENTION_TILES[dt], range(1, 5)):
            a = np.array([_attention_design(r, rows, keys, per_sm * sms) for r in mine])
            coef, _ = nnls(a / y[:, None], np.ones(len(y)))
            residual = np.abs(a @ coef / y - 1)
            fits.append((float(np.median(residual)), float(residual.max()), rows, keys, per_sm,
                         coef))
        med, worst, rows, keys, per_sm, coef = min(fits, key=lambda f: f[0])
        print(f"{dt}: {len(y)} calls, tiles {rows}x{keys}, {per_sm} blocks per SM: median "
              f"|residual| {med:.1%}, max {worst:.1%}")
        names = ("block_s", "step_s", "step_per_dim_s", "mask_step_s", "unaligned_mask_step_s")
        print("  " + ", ".join(f"{n} = {c:.4g}" for n, c in zip(names, coef)))
    print("\n| dtype | batch×heads | length | head size | mask | measured µs | NEXUS µs | × |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for r in calls:
        torch.manual_seed(0)
        shape = (r["batch"], r["heads"], r["length"], r["head_size"])
        kind = getattr(torch, r["dtype"])
        q, k, v = (torch.randn(shape, dtype=kind) for _ in range(3))
        extra = (torch.zeros(r["batch"], 1, r["length"], r["length"], dtype=kind),) \
            if r["mask"] == "float-mask" else ()
        module = Attention(r["mask"] == "causal").eval()
        m = nexus_compile(module, (q, k, v, *extra), tgt, execution="cuda-graph").metrics
        predicted = m["latency_s"] - m["call_overhead_s"]
        ratios.append(predicted / r["graph_s"])
        print(f"| {r['dtype']} | {r['batch']}×{r['heads']} | {r['length']} | {r['head_size']} | "
              f"{r['mask']} | {r['graph_s'] * 1e6:.1f} | {predicted * 1e6:.1f} | "
              f"{ratios[-1]:.2f} |")
    error = np.abs(np.array(ratios) - 1)
    print(f"\nNEXUS on {target} against {len(ratios)} replayed calls: median |error| "
          f"{np.median(error):.1%}, max {error.max():.1%}")


def depthwise_fit(path: str) -> None:
    """The depthwise convolutions of ``shapes`` at batch 16 and 128 fitted as outputs ×
    ``depthwise_output_s`` + FMA / ``depthwise_fma_per_s`` (least squares on relative error),
    each shape's prediction against its time."""
    import numpy as np

    rows = [r for r in json.loads(Path(path).read_text())["conv_shapes"]
            if r["groups"] > 1 and r["batch"] > 1]
    outputs = [r["c_out"] * (r["size"] // r["stride"]) ** 2 * r["batch"] for r in rows]
    design = np.array([[o / r["s"], o * r["k"] ** 2 / r["s"]] for o, r in zip(outputs, rows)])
    (per_output, per_fma), *_ = np.linalg.lstsq(design, np.ones(len(rows)), rcond=None)
    print(f"depthwise_output_s = {per_output:.3g}, depthwise_fma_per_s = {1 / per_fma:.4g}")
    for r, row in zip(rows, design):
        print(f"  {r['dtype']:<9} {r['c_in']:>4} ch {r['k']}x{r['k']} {r['size']:>4}^2 batch "
              f"{r['batch']:>3}: predicted / measured {row @ [per_output, per_fma]:.3f}")


def _timed_kernels(call: Callable[[], Any]) -> dict[str, Any]:
    """The kernels one eager ``call`` launches, by name, and its device time two ways: the
    microseconds of that one profiled call (``kernel_us``, after a warm-up call; a lone call
    measures about twice the back-to-back time, docs/validation.md) and the seconds per call
    of ten calls replayed back to back from a CUDA graph (``graph_s``), as a model runs them."""
    import torch

    import gpu_probe as gp
    from runtime.execute import cuda_graph

    def ten_calls() -> None:
        """Each output dropped as the next call runs: the capture reuses its memory (ten
        outputs of a batch-128 convolution would not fit)."""
        for _ in range(10):
            call()

    found = gp.kernel_profile(call)
    replay = cuda_graph(ten_calls)
    timed = {"names": found["names"],
             "kernel_us": sum(us for _, _, us in found["by_op"].values()),
             "graph_s": gp.event_time(replay, 10) / 10}
    del replay                      # the graph's memory pool back before the next shape
    torch.cuda.empty_cache()
    return timed


CONV_GRID = {"k": (1, 3), "stride": (1, 2), "c_in": (8, 16, 32, 64, 128, 256, 512),
             "widen": (1, 2), "size": (8, 16, 32, 56, 112), "batch": (1, 16, 128)}
"""Regular convolutions (groups 1, padding k // 2, no bias) whose eager kernels are recorded
by ``conv_kernels``: c_out = c_in × widen."""


def conv_kernels(out_dir: str) -> None:
    """The kernels cuDNN runs for one eager convolution of each ``CONV_GRID`` shape at fp32
    (PyTorch's default math: TF32 allowed for cuDNN) and bf16, by name: which shapes take the
    NCHW FFMA path (one kernel) and which the NHWC tensor-core path with layout transforms;
    and their times (``_timed_kernels``), which ``conv-simt-report`` reads."""
    import torch

    rows = []
    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16):
            for k, stride, c_in, widen, size, batch in itertools.product(*CONV_GRID.values()):
                layer = torch.nn.Conv2d(c_in, c_in * widen, k, stride, k // 2,
                                        bias=False).to("cuda", dtype).eval()
                x = torch.randn(batch, c_in, size, size, device="cuda", dtype=dtype)
                rows.append({"dtype": str(dtype).split(".")[1], "k": k, "stride": stride,
                             "c_in": c_in, "c_out": c_in * widen, "size": size, "batch": batch,
                             **_timed_kernels(lambda x=x, layer=layer: layer(x))})
    doc = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "rows": rows}
    Path(out_dir, "gpu_conv_kernels.json").write_text(json.dumps(doc, indent=1))
    print(f"{len(rows)} convolutions")


LINEAR_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LINEAR_SHAPES = ((4096, 4096), (4096, 784), (1024, 4096), (4096, 1024), (14336, 4096),
                 (4096, 14336), (768, 768), (3072, 768), (768, 3072), (1000, 2048))
"""(out features, in features) of the fp32 linear layers ``linear_kernels`` runs at each of
``LINEAR_ROWS`` rows: the zoo's MLP and classifier heads and transformer projections."""


def linear_kernels(out_dir: str) -> None:
    """The kernels cuBLAS runs for one eager fp32 ``nn.Linear`` (with and without bias;
    PyTorch's default math: no TF32 for matmuls) of each ``LINEAR_SHAPES`` × ``LINEAR_ROWS``
    shape, by name, with their times (``_timed_kernels``): what few rows cost where cuBLAS
    takes its split-K path (``sgemm_largek`` behind a ``scal_kernel``)."""
    import torch

    rows = []
    with torch.no_grad():
        for (n, k), m, bias in itertools.product(LINEAR_SHAPES, LINEAR_ROWS, (True, False)):
            layer = torch.nn.Linear(k, n, bias=bias).to("cuda").eval()
            x = torch.randn(m, k, device="cuda")
            rows.append({"m": m, "n": n, "k": k, "bias": bias,
                         **_timed_kernels(lambda x=x, layer=layer: layer(x))})
    doc = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}
    Path(out_dir, "gpu_linear_kernels.json").write_text(json.dumps(doc, indent=1))
    print(f"{len(rows)} linear layers")


def linear_kernels_report(path: str) -> None:
    """On the CPU, from a ``linear_kernels`` sweep: per number of rows, the fp32 linear layers'
    (with bias) measured time per call replayed from a CUDA graph against NEXUS's on ``h100``
    in ``cuda-graph`` execution (the node's time, without the per-inference sync; weights
    cold: they stream), median and range of the ratio, and the kernel families cuBLAS
    picked: where few rows leave its GEMV and GEMM kernels."""
    import statistics

    import nexus_ir as nx
    from passes.cost import cost_graph

    doc = json.loads(Path(path).read_text())
    print(f"{doc['device']}, torch {doc['torch']}: fp32 linear with bias, measured / NEXUS time")
    by_rows: dict[int, list[tuple[float, str]]] = {}
    for r in doc["rows"]:
        if not r["bias"]:
            continue
        g = nx.Graph("linear")
        x = g.add_input("x", f"f32[{r['m']},{r['k']}]")
        w = g.add_constant("w", type_=f"f32[{r['n']},{r['k']}]")
        b = g.add_constant("b", type_=f"f32[{r['n']}]")
        g.set_outputs(g.op("linear", x, w, b))
        report = cost_graph(g, "h100", execution="cuda-graph", warm=False)
        family = next((f for f in LINEAR_FAMILIES if any(f in n for n in r["names"])), "other")
        by_rows.setdefault(r["m"], []).append((r["graph_s"] / report.nodes[0].time_s, family))
    for m, found in sorted(by_rows.items()):
        ratios = [ratio for ratio, _ in found]
        families = ", ".join(f"{f} {n}" for f, n in collections.Counter(
            f for _, f in found).most_common())
        print(f"  {m:>4} rows: median {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)}); {families}")


LINEAR_FAMILIES = ("gemv", "gemmSN", "sgemm_largek", "splitKreduce", "cutlass", "xmma_gemm")
"""Marks of cuBLAS's fp32 kernel families in ``linear_kernels``' names, first match wins: the
matrix-vector kernels, the small-N/M ``gemmSN``, split-K over a ``scal_kernel``
(``sgemm_largek``) or a reduction, CUTLASS's SIMT GEMMs and the xmma fp32 GEMM."""


def conv_kernels_report(path: str) -> None:
    """Measured kernels per convolution of ``conv_kernels``' sweep (the device's kernel events
    by name, memsets and copies left out) against NEXUS's rule (``lowering.rules``' conv
    kernels), by dtype, filter and stride: how many shapes it gets right, and the shapes it
    misses with the kernels cuDNN ran."""
    from lowering.rules import cost_facts

    doc = json.loads(Path(path).read_text())
    print(f"{doc['device']}, torch {doc['torch']}, cuDNN {doc['cudnn']}: "
          f"{len(doc['rows'])} convolutions")
    groups: dict[tuple[str, int, int], list[int]] = {}
    misses = []
    for r in doc["rows"]:
        dt, g = _sweep_conv(r)
        node, = g.nodes
        predicted = cost_facts("conv").kernels_of(node)
        measured = sum(n for name, n in r["names"].items() if not name.startswith("Mem"))
        tally = groups.setdefault((dt, r["k"], r["stride"]), [0, 0])
        tally[0] += predicted == measured
        tally[1] += 1
        if predicted != measured:
            misses.append((dt, r, measured, predicted))
    for (dt, k, stride), (right, total) in sorted(groups.items()):
        print(f"  {dt:<5} {k}x{k} stride {stride}: {right} of {total} right")
    print("misses (dtype k stride c_in c_out size batch: measured / NEXUS, kernels):")
    for dt, r, measured, predicted in misses:
        names = ", ".join(n[:60] for n in r["names"])
        print(f"  {dt:<5} {r['k']} {r['stride']} {r['c_in']:>4} {r['c_out']:>4} {r['size']:>4} "
              f"{r['batch']:>3}: {measured} / {predicted}  {names}")


def _sweep_conv(row: dict[str, Any]) -> tuple[str, Any]:
    """The IR dtype and a one-node graph of one ``conv_kernels`` row's convolution."""
    import nexus_ir as nx

    dt = {"float32": "f32", "bfloat16": "bf16"}[row["dtype"]]
    g = nx.Graph("conv")
    x = g.add_input("x", f"{dt}[{row['batch']},{row['c_in']},{row['size']},{row['size']}]")
    w = g.add_constant("w", type_=f"{dt}[{row['c_out']},{row['c_in']},{row['k']},{row['k']}]")
    g.set_outputs(g.op("conv", x, w, stride=[row["stride"]] * 2, padding=[row["k"] // 2] * 2))
    return dt, g


SIMT_CONV_KERNELS = ("implicit_convolve_sgemm", "f32f32_f32f32")
"""Marks of cuDNN's convolution kernels that run on the FP32 lanes, not the tensor cores: the
NCHW implicit GEMM and the all-fp32 xmma kernels (the tensor-core ones say ``tf32`` or
``tensorop``, or are ``nvjet``)."""


def conv_simt_report(path: str) -> None:
    """On the CPU, from a ``conv_kernels`` sweep with kernel times: the convolutions cuDNN ran
    on the FP32 lanes (every kernel ``SIMT_CONV_KERNELS``), by dtype: their achieved FMA rate
    as a share of the device's FP32 lanes (``h100``'s vector f32 peak), over those of at least
    50 M MACs (smaller ones are latency), and NEXUS's device time (eager, gaps and host left
    out) against the measured time: how far costing them as tensor-core work is off. The time
    is the CUDA-graph replay's (``graph_s``) where the sweep has it; older sweeps have only the
    one profiled call's kernel time, about twice the back-to-back time (docs/validation.md)."""
    import statistics

    from passes.cost import cost_graph
    from lowering.target import load_target

    doc = json.loads(Path(path).read_text())
    lanes = load_target("h100").peak_rate("vector", "f32")
    replayed = all("graph_s" in r for r in doc["rows"])
    print(f"{doc['device']}, cuDNN {doc['cudnn']}: convolutions on the FP32 lanes "
          f"({lanes / 1e12:.2f} T FMA/s peak), timed "
          f"{'back to back from a CUDA graph' if replayed else 'in one profiled call'}")
    found: dict[str, list[tuple[float, float]]] = {}
    for r in doc["rows"]:
        kernels = [n for n in r["names"] if not n.startswith("Mem")]
        if not all(any(m in n for m in SIMT_CONV_KERNELS) for n in kernels):
            continue
        dt, g = _sweep_conv(r)
        macs = cost_graph(g, "h100").metrics["macs"]
        if macs < 50e6:
            continue
        node, = g.nodes
        timing = node.annotations["timing"]
        nexus_us = (timing["time_s"] - timing["overhead_s"]) * 1e6
        measured_us = r["graph_s"] * 1e6 if replayed else r["kernel_us"]
        found.setdefault(dt, []).append((macs / (measured_us * 1e-6) / lanes,
                                         measured_us / nexus_us))
    for dt, rows in sorted(found.items()):
        shares, ratios = zip(*rows)
        print(f"  {dt:<5} {len(rows)} of >= 50 M MACs: share of the FP32 lanes median "
              f"{statistics.median(shares):.3f} ({min(shares):.3f}-{max(shares):.3f}); "
              f"measured / NEXUS time median {statistics.median(ratios):.1f}x "
              f"({min(ratios):.1f}-{max(ratios):.1f}x)")


def dispatch(out_dir: str) -> None:
    """Host time per eager op by kind: a view, a functional op, a module call (seconds per op,
    100 ops per synchronized call, tiny tensors so the host sets the pace)."""
    import torch
    from torch import nn

    import gpu_probe as gp

    energy = gp.Energy()
    x = torch.zeros(4, 8, 16, device="cuda")
    relu = nn.ReLU()
    ops = {"view_transpose": lambda: [x.transpose(1, 2) for _ in range(100)],
           "view_reshape": lambda: [x.reshape(32, 16) for _ in range(100)],
           "functional_relu": lambda: [torch.relu(x) for _ in range(100)],
           "module_relu": lambda: [relu(x) for _ in range(100)],
           "functional_add": lambda: [x + x for _ in range(100)]}
    doc = {name: {k: v / 100 if k in ("s_per_call", "j_per_call") else v
                  for k, v in gp.window(energy, fn, 1.0).items()} for name, fn in ops.items()}
    Path(out_dir, "gpu_dispatch.json").write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))


COMMANDS = {"measure": measure, "dispatch": dispatch, "shapes": shapes, "ops": ops,
            "ops-report": ops_report, "attention": attention,
            "attention-report": attention_report, "depthwise-fit": depthwise_fit,
            "conv-kernels": conv_kernels, "conv-kernels-report": conv_kernels_report,
            "linear-kernels": linear_kernels, "linear-kernels-report": linear_kernels_report,
            "conv-simt-report": conv_simt_report}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        raise SystemExit(f"usage: gpu_microbench.py {'|'.join(COMMANDS)} OUT-or-FILE")
    COMMANDS[sys.argv[1]](sys.argv[2])
