"""Runners: what ``nexus measure`` calls back to back (CPU here; CUDA on a GPU machine)."""

import numpy as np
import pytest

from nexus_ir import NexusError
from runtime.execute import flat_inputs, onnx_runner, prepare_torch, torch_runner

torch = pytest.importorskip("torch")


def test_torch_runner_runs_the_module_on_cpu_in_bf16():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    expected = model(x).detach()
    runner = torch_runner(model, [x], "cpu", "bf16")
    out = runner.call()
    runner.sync()
    assert out.dtype == torch.bfloat16 and runner.description == "cpu (bf16, eager PyTorch)"
    torch.testing.assert_close(out.float(), expected, atol=0.05, rtol=0.05)


def test_cuda_and_dtype_errors_are_one_line():
    if not torch.cuda.is_available():
        with pytest.raises(NexusError, match="no CUDA device: PyTorch sees no GPU here"):
            prepare_torch(torch.nn.Linear(2, 2), [torch.zeros(1, 2)], "cuda", "f32")
    with pytest.raises(NexusError, match="dtype 'f8': choose one of f32, bf16, f16"):
        prepare_torch(torch.nn.Linear(2, 2), [torch.zeros(1, 2)], "cpu", "f8")


def test_flat_inputs_follow_the_graph_signature():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3)).eval()
    x = torch.randn(4, 3)
    program = torch.export.export(model, (x,))
    args = flat_inputs(program, [x])
    assert args[-1] is x and len(args) == len(program.graph_signature.input_specs)
    torch.testing.assert_close(program.graph_module(*args)[0], model(x))


def test_onnx_runner_on_the_cpu_provider(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 2, "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.array([[1, 2, 3]], np.float32)
    runner = onnx_runner(path, {"x": x}, "CPUExecutionProvider")
    np.testing.assert_allclose(runner.call()[0], 2 * x)
    with pytest.raises(NexusError, match="onnxruntime has no NoSuchExecutionProvider here"):
        onnx_runner(path, {"x": x}, "NoSuchExecutionProvider")


def test_runner_keeps_the_models_own_dtype():
    """A bf16 model is measured as bf16 (it used to be cast to fp32 silently)."""
    import torch

    from runtime.execute import model_dtype, torch_runner

    model = torch.nn.Linear(4, 2).to(torch.bfloat16)
    assert model_dtype(model) == "bf16" and model_dtype(torch.nn.ReLU()) == "f32"
    runner = torch_runner(model, [torch.randn(1, 4)], "cpu")
    assert runner.description == "cpu (bf16, eager PyTorch)"
    assert runner.call().dtype == torch.bfloat16
    assert torch_runner(model, [torch.randn(1, 4)], "cpu", "f32").call().dtype == torch.float32


def test_cuda_graph_runner_replays_what_it_captured(monkeypatch):
    """The capture is injected (no GPU here): the runner calls the replay it was given."""
    import torch

    import runtime.execute as execute

    captured = []
    monkeypatch.setattr(execute, "prepare_torch", lambda m, x, device, dtype: (m, list(x)))
    runner = execute.torch_runner(torch.nn.ReLU(), [torch.ones(2)], "cuda", "f32", "cuda-graph",
                                  graph=lambda fn: captured.append(fn) or (lambda: "replayed"))
    assert runner.call() == "replayed" and len(captured) == 1
    assert captured[0]().tolist() == [1.0, 1.0]
    assert runner.description == "cuda (f32, CUDA-graph replay)"
    with pytest.raises(NexusError, match="--execution cuda-graph replays a CUDA graph: it needs "
                                         "--device cuda"):
        execute.torch_runner(torch.nn.ReLU(), [torch.ones(2)], "cpu", "f32", "cuda-graph")
