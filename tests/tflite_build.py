"""Small TFLite flatbuffers written in tests with the ``tflite`` package's builders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np
import tflite

INT8, INT32, FLOAT32 = 9, 2, 0


@dataclass
class T:
    """A tensor: shape as TFLite holds it (NHWC), its type code, data for a constant."""

    name: str
    shape: Sequence[int]
    type: int = INT8
    data: np.ndarray | None = None
    scale: Sequence[float] = ()
    zero_point: Sequence[int] = ()
    axis: int = 0
    variable: bool = False


@dataclass
class Op:
    """An operator: builtin code, tensor indices, and its options (type code and a function
    that writes the options table into the builder and returns its offset)."""

    code: int
    inputs: Sequence[int]
    outputs: Sequence[int]
    options_type: int = 0
    options: Callable[[Any], int] | None = None


def _vector(builder: Any, start: Callable, values: Sequence[Any], prepend: str) -> int:
    start(builder, len(values))
    for v in reversed(values):
        getattr(builder, prepend)(v)
    return builder.EndVector()


def conv_options(stride: int = 1, padding: int = 1, activation: int = 0) -> Callable:
    """Conv2DOptions: padding 0 SAME, 1 VALID."""
    def write(b: Any) -> int:
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, padding)
        tflite.Conv2DOptionsAddStrideW(b, stride)
        tflite.Conv2DOptionsAddStrideH(b, stride)
        tflite.Conv2DOptionsAddDilationWFactor(b, 1)
        tflite.Conv2DOptionsAddDilationHFactor(b, 1)
        tflite.Conv2DOptionsAddFusedActivationFunction(b, activation)
        return tflite.Conv2DOptionsEnd(b)
    return write


def build(tensors: Sequence[T], ops: Sequence[Op], inputs: Sequence[int],
          outputs: Sequence[int]) -> bytes:
    """The flatbuffer of a one-subgraph model (file identifier TFL3)."""
    b = flatbuffers.Builder(1024)
    tflite.BufferStart(b)
    buffers = [tflite.BufferEnd(b)]          # buffer 0: empty, as converters write it
    buffer_of = {}
    for i, t in enumerate(tensors):
        if t.data is not None:
            raw = np.ascontiguousarray(t.data).view(np.uint8).reshape(-1)
            data = b.CreateNumpyVector(raw)
            tflite.BufferStart(b)
            tflite.BufferAddData(b, data)
            buffer_of[i] = len(buffers)
            buffers.append(tflite.BufferEnd(b))
    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(t.name)
        shape = _vector(b, tflite.TensorStartShapeVector, list(t.shape), "PrependInt32")
        quant = None
        if t.scale:
            scale = _vector(b, tflite.QuantizationParametersStartScaleVector, list(t.scale),
                            "PrependFloat32")
            zero = _vector(b, tflite.QuantizationParametersStartZeroPointVector,
                           list(t.zero_point or [0] * len(t.scale)), "PrependInt64")
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zero)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, t.type)
        tflite.TensorAddBuffer(b, buffer_of.get(i, 0))
        tflite.TensorAddName(b, name)
        tflite.TensorAddIsVariable(b, t.variable)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))
    codes = sorted({op.code for op in ops})
    code_offsets = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    op_offsets = []
    for op in ops:
        ins = _vector(b, tflite.OperatorStartInputsVector, list(op.inputs), "PrependInt32")
        outs = _vector(b, tflite.OperatorStartOutputsVector, list(op.outputs), "PrependInt32")
        options = op.options(b) if op.options else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op.code))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, op.options_type)
            tflite.OperatorAddBuiltinOptions(b, options)
        op_offsets.append(tflite.OperatorEnd(b))

    def offsets(start: Callable, values: Sequence[int]) -> int:
        start(b, len(values))
        for v in reversed(values):
            b.PrependUOffsetTRelative(v)
        return b.EndVector()

    t_vec = offsets(tflite.SubGraphStartTensorsVector, tensor_offsets)
    o_vec = offsets(tflite.SubGraphStartOperatorsVector, op_offsets)
    in_vec = _vector(b, tflite.SubGraphStartInputsVector, list(inputs), "PrependInt32")
    out_vec = _vector(b, tflite.SubGraphStartOutputsVector, list(outputs), "PrependInt32")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddOperators(b, o_vec)
    tflite.SubGraphAddInputs(b, in_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = offsets(tflite.ModelStartSubgraphsVector, [subgraph])
    code_vec = offsets(tflite.ModelStartOperatorCodesVector, code_offsets)
    buffer_vec = offsets(tflite.ModelStartBuffersVector, buffers)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddBuffers(b, buffer_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def residual_cnn() -> bytes:
    """input [1,8,8,3] → conv 3×3 VALID (4) → conv 3×3 SAME (4) → add (residual) → reshape →
    fully connected (10), int8 with per-channel conv weights."""
    rng = np.random.default_rng(0)
    q = {"scale": [0.5], "zero_point": [0]}
    w_q = {"scale": [0.01] * 4, "zero_point": [0] * 4, "axis": 0}
    tensors = [
        T("input", [1, 8, 8, 3], **q),
        T("w1", [4, 3, 3, 3], data=rng.integers(-5, 5, (4, 3, 3, 3), dtype=np.int8), **w_q),
        T("b1", [4], INT32, data=np.zeros(4, np.int32), scale=[0.005] * 4, zero_point=[0] * 4),
        T("c1", [1, 6, 6, 4], **q),
        T("w2", [4, 3, 3, 4], data=rng.integers(-5, 5, (4, 3, 3, 4), dtype=np.int8), **w_q),
        T("b2", [4], INT32, data=np.zeros(4, np.int32), scale=[0.005] * 4, zero_point=[0] * 4),
        T("c2", [1, 6, 6, 4], **q),
        T("sum", [1, 6, 6, 4], **q),
        T("shape", [2], INT32, data=np.array([1, 144], np.int32)),
        T("flat", [1, 144], **q),
        T("w3", [10, 144], data=rng.integers(-5, 5, (10, 144), dtype=np.int8), scale=[0.01],
          zero_point=[0]),
        T("b3", [10], INT32, data=np.zeros(10, np.int32), scale=[0.005], zero_point=[0]),
        T("logits", [1, 10], **q),
    ]
    ops = [Op(3, [0, 1, 2], [3], 1, conv_options(padding=1)),
           Op(3, [3, 4, 5], [6], 1, conv_options(padding=0)),
           Op(0, [3, 6], [7]), Op(22, [7, 8], [9]), Op(9, [9, 10, 11], [12])]
    return build(tensors, ops, [0], [12])
