"""Memory of loading an ONNX model over 2 GB (external data): peak resident memory of
``nexus compile`` in a fresh process against the bytes of its weights.

Target (issue 18): a valid model past protobuf's 2 GB limit loads, by path, with memory close to
one copy of its weights (it was refused after 6.3 GB). The model is written by a child process
and the peak is nexus compile's own (``os.wait4`` on its process).

    python3 bench/onnx_large.py [GIB]          # default 2.1 GiB of weights, in a temporary folder
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_model(folder: Path, gib: float) -> int:
    """A chain of square MatMuls whose weights (f32) total ``gib`` GiB, saved with external
    data beside the model; returns the weight bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    side, layers = 8192, max(1, round(gib * 2 ** 30 / (8192 * 8192 * 4)))
    rng = np.random.default_rng(0)
    nodes, inits, last = [], [], "x"
    for i in range(layers):
        weight = rng.standard_normal((side, side), dtype=np.float32)
        inits.append(numpy_helper.from_array(weight, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [last, f"w{i}"], [f"h{i}"]))
        last = f"h{i}"
    graph = helper.make_graph(nodes, "large", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, side])], [helper.make_tensor_value_info(
            last, TensorProto.FLOAT, [1, side])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, folder / "large.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="large.bin")
    return layers * side * side * 4


def main() -> None:
    if sys.argv[1:2] == ["--write"]:             # the writer runs in its own process
        print(write_model(Path(sys.argv[2]), float(sys.argv[3])))
        return
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.1
    with tempfile.TemporaryDirectory() as folder:
        weights = int(subprocess.run([sys.executable, __file__, "--write", folder, str(gib)],
                                     capture_output=True, text=True, check=True).stdout)
        start = time.perf_counter()
        with tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen([sys.executable, "-m", "nexus_ir.app.cli", "compile",
                                      str(Path(folder) / "large.onnx"), "--target", "h100"],
                                     stdout=subprocess.DEVNULL, stderr=err, text=True)
            _, status, usage = os.wait4(child.pid, 0)      # this child's own peak
            err.seek(0)
            last = (err.read().strip().splitlines() or [""])[-1]
        seconds, code = time.perf_counter() - start, os.waitstatus_to_exitcode(status)
        peak = usage.ru_maxrss * 1024
    print(f"{'weights':<28}{weights / 2 ** 30:>10.2f} GiB")
    print(f"{'nexus compile peak RSS':<28}{peak / 2 ** 30:>10.2f} GiB  "
          f"({peak / weights:.2f}x the weights)")
    print(f"{'wall time':<28}{seconds:>10.1f} s   exit {code}")
    if code:
        print(last)


if __name__ == "__main__":
    main()
