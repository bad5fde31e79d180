"""Loading and checking ONNX models: the checker, external data confined to the model's
folder, opset upgrades."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import NexusError

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


def _check_external_location(location: str, base: Path) -> Path:
    """The file an external-data ``location`` names, refused unless it lies inside ``base``."""
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")) \
            or re.match(r"^[A-Za-z]:", location):
        raise NexusError(f"external data location '{location}' is an absolute path; ONNX "
                         "external data must be a path relative to the model's folder")
    candidate = (base / location)
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise NexusError(f"external data location '{location}' escapes the model's folder "
                         f"{base} (through '..' or a symlink); refusing to read it. Move the "
                         "data file next to the model")
    if not resolved.is_file():
        raise NexusError(f"external data file '{location}' is missing from {base}")
    return resolved


def _load_external(model: Any, base: Path) -> None:
    """Attach external tensor data, read through a memory map, to the initializers."""
    from onnx import external_data_helper as edh

    for tensor in edh._get_all_tensors(model):
        if not edh.uses_external_data(tensor):
            continue
        info = edh.ExternalDataInfo(tensor)
        path = _check_external_location(info.location, base)
        offset = int(info.offset or 0)
        size = os.path.getsize(path)
        length = int(info.length) if info.length else size - offset
        if offset + length > size:
            raise NexusError(f"external data of '{tensor.name}' ({offset}+{length} bytes) runs "
                             f"past the end of {info.location} ({size} bytes)")
        tensor.raw_data = np.memmap(path, np.uint8, "r", offset, (length,)).tobytes()
        del tensor.external_data[:]
        tensor.data_location = 0


def load_model(model: Any) -> Any:
    """A checked ``ModelProto`` with its external data attached, from a path or a ModelProto."""
    onnx = require("onnx", "onnx")

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
        if not model.graph.node and not model.graph.output:
            raise NexusError(f"{path} is not a valid ONNX model (no graph in it); re-export it")
        base = path.parent
    from onnx import external_data_helper as edh
    uses_external = any(edh.uses_external_data(t) for t in edh._get_all_tensors(model))
    if uses_external:
        if base is None:
            raise NexusError("this ModelProto refers to external data files; load it from its "
                             ".onnx path so the files can be found beside it")
        _load_external(model, base)
    return model


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
