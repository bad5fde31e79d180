"""Loading and checking ONNX models: the checker, external data confined to the model's
folder, opset upgrades."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import NexusError, dtype, to_numpy

from .. import require


MIN_OPSET = 13
ML = "ai.onnx.ml"

# TensorProto.DataType → NEXUS dtype name (strings and complex numbers have none).
ONNX_DTYPES = {1: "f32", 2: "u8", 3: "i8", 5: "i16", 6: "i32", 7: "i64", 9: "i1", 10: "f16",
               11: "f64", 16: "bf16", 17: "f8e4m3", 19: "f8e5m2", 22: "i4", 23: "f4e2m1"}
_TO_ONNX = {name: code for code, name in ONNX_DTYPES.items()}


class UnmappedOpsWarning(UserWarning):
    """ONNX ops that became ``opaque`` nodes (reported as unmodeled by the cost model)."""


class Unmappable(Exception):
    """A handler cannot express this node in IR; it becomes ``opaque``."""


def load_model(model: Any) -> tuple[Any, Path | None]:
    """A ``ModelProto`` (from a path or as given) with ``onnx.checker``'s findings reported, and
    the folder its external data is read from (None for a ModelProto). External data is not
    attached here: ``initializer_array`` reads each tensor through onnx's own hardened opener
    when the converter needs it, so shape inference and the checker see a small model."""
    onnx = require("onnx", "onnx")
    from onnx import external_data_helper as edh

    if isinstance(model, onnx.ModelProto):
        base = None
    else:
        path = Path(model)
        if not path.is_file():
            raise NexusError(f"model file {path} does not exist")
        data = path.read_bytes()
        try:
            model = onnx.load_model_from_string(data)
        except Exception as err:      # protobuf's DecodeError and friends
            raise NexusError(f"{path} is not a valid ONNX model (truncated or corrupt file: "
                             f"{type(err).__name__}: {err}); re-export it") from None
        del data
        if not model.graph.node and not model.graph.output:
            raise NexusError(f"{path} is not a valid ONNX model (no graph in it); re-export it")
        base = path.parent
    if base is None and any(edh.uses_external_data(t) for t in edh._get_all_tensors(model)):
        raise NexusError("this ModelProto refers to external data files; load it from its "
                         ".onnx path so the files can be found beside it")
    checker_findings(model)
    return model, base


def _plain_dtypes() -> dict[int, np.dtype]:
    """ONNX element types numpy holds as they are stored, by ONNX code."""
    found = {}
    for code, name in ONNX_DTYPES.items():
        try:
            found[code] = np.dtype(to_numpy(dtype(name)))
        except NexusError:            # bf16, f8, i4, f4: onnx's own conversion
            pass
    return found


PLAIN_DTYPES = _plain_dtypes()
"""Read straight into an array from the external data file."""


def initializer_array(tensor: Any, base: Path | None) -> np.ndarray:
    """An initializer's values. External data is opened through onnx's own hardened opener
    (by descriptor, confined to the model's folder: no absolute path, no '..', no symlink or
    hard link out), its offset and length checked against the file, and read straight into
    the array: the weights are held once, with no transient copy."""
    from onnx import external_data_helper as edh

    from .operands import tensor_array

    if not edh.uses_external_data(tensor):
        return _read_only(tensor_array(tensor), tensor)
    info = edh.ExternalDataInfo(tensor)

    def refused(why: str) -> NexusError:
        return NexusError(f"external data '{info.location}' of initializer '{tensor.name}' is "
                          f"refused by onnx's loader: {why[:300]} (keep the data files inside "
                          "the model's folder, as onnx.save writes them)")
    try:
        fd = edh._open_external_data_fd(str(base), info.location, tensor.name, True)
    except Exception as err:          # onnx's checker errors: traversal, links, missing file
        raise refused(str(err).strip().splitlines()[0] if str(err).strip() else
                      type(err).__name__) from None
    numbers = PLAIN_DTYPES.get(tensor.data_type)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = int(info.offset or 0)
        length = int(info.length) if info.length is not None else size - offset
        if offset > size or length > size - offset:
            raise refused(f"External data length ({length}) exceeds the {size - offset} bytes "
                          f"from offset {offset}")
        if numbers is None:           # bf16, f8, i4…: onnx's own conversion
            handle.seek(offset)
            tensor.raw_data = handle.read(length)
            tensor.data_location = 0
            del tensor.external_data[:]
            return _read_only(tensor_array(tensor), tensor)
        count = int(np.prod(tensor.dims, dtype=object))
        if count * numbers.itemsize != length:
            raise refused(f"{length} bytes hold no {list(tensor.dims)} tensor of "
                          f"{numbers.name}")
        handle.seek(offset)
        return _read_only(np.fromfile(handle, dtype=numbers, count=count).reshape(
            tuple(tensor.dims)), tensor)


def _read_only(array: np.ndarray, tensor: Any) -> np.ndarray:
    """The array made read-only (constants share it rather than copy it), the tensor's own
    bytes released."""
    tensor.ClearField("raw_data")
    array.flags.writeable = False
    return array


LARGE_INITIALIZER_BYTES = 1 << 16
"""Initializers above this size are given to shape inference as typed inputs, not data: their
values never size a tensor, and inference then copies no weights."""


def inference_model(model: Any) -> Any:
    """A model for shape inference: ``model``'s graph and functions without its large
    initializers' data (each becomes a graph input of its type; small ones, which shape
    arithmetic reads, stay), so inference copies no weights."""
    from onnx import GraphProto, ModelProto, helper
    from onnx import external_data_helper as edh

    graph = model.graph
    skeleton = ModelProto(ir_version=model.ir_version, opset_import=model.opset_import,
                          functions=model.functions)
    skeleton.graph.CopyFrom(GraphProto(name=graph.name, node=graph.node, input=graph.input,
                                       output=graph.output, value_info=graph.value_info))
    declared = {v.name for v in graph.input}
    for tensor in graph.initializer:
        if tensor.ByteSize() > LARGE_INITIALIZER_BYTES or edh.uses_external_data(tensor):
            if tensor.name not in declared:
                skeleton.graph.input.append(helper.make_tensor_value_info(
                    tensor.name, tensor.data_type, list(tensor.dims)))
        else:
            skeleton.graph.initializer.append(tensor)
    return skeleton


class CheckerWarning(UserWarning):
    """onnx.checker rejects the model: NEXUS costs it as it reads it, and says so."""


def checker_findings(model: Any) -> str | None:
    """Run ``onnx.checker``'s full check (types and shapes too) on the model as stored, before
    external data is attached (so the check stays small); a rejection is a warning naming the
    first problem, since NEXUS's own reading may still cost the graph. Returns the finding."""
    import warnings

    from onnx import checker

    try:
        checker.check_model(model, full_check=True)
    except Exception as err:             # ValidationError, InferenceError, and size limits
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        finding = f"onnx.checker rejects this model: {first[:300]}"
        warnings.warn(f"{finding}; costed as NEXUS reads it, check the export",
                      CheckerWarning, stacklevel=4)
        return finding
    return None


def default_opset(model: Any) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 0


def upgrade_opset(model: Any) -> Any:
    """Models on an opset older than 13 go through ONNX's version converter."""
    opset = default_opset(model)
    if opset == 0 or opset >= MIN_OPSET:
        return model
    from onnx import version_converter
    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as err:
        raise NexusError(f"the model uses opset {opset}; NEXUS reads opset {MIN_OPSET} and newer "
                         f"and ONNX's version converter could not upgrade it ({err}); re-export "
                         f"with opset >= {MIN_OPSET}") from None
