"""Graph ⇄ JSON.

The document is an object with ``schema_version``, ``name``, ``inputs``, ``constants``, ``nodes``
and ``outputs``; values are referenced by name. A constant's ``role`` is written when it is not
``parameter`` (``buffer``, ``constant``). Types are ``{"shape": [...], "dtype": "f32"}``.
Values JSON lacks are tagged objects ``{"$t": tag, ...}``: ``array`` (dtype, shape, base64 of the
little-endian bytes), ``dtype``, ``type``, and ``float`` for inf/nan. Output is deterministic:
the same graph gives the same bytes.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from . import collector
from .attrs import freeze
from .dtypes import DType, dtype
from .errors import NexusError, SerializationError
from .graph import Constant, Graph, Node, Value
from .types import TensorType

SCHEMA_VERSION = 1
TAG = "$t"


def encode_value(v: Any) -> Any:
    """A JSON-compatible form of an attribute or annotation value. Objects of other packages
    serialize through their ``__nexus_json__()`` method (they come back as its plain value)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if hasattr(v, "__nexus_json__"):
        return encode_value(v.__nexus_json__())
    if isinstance(v, float):
        return v if math.isfinite(v) else {TAG: "float", "v": repr(v)}
    if isinstance(v, np.generic):
        return encode_value(v.item())
    if isinstance(v, (list, tuple)):
        return [encode_value(x) for x in v]
    if isinstance(v, Mapping):
        if TAG in v:
            raise SerializationError(f"a dict key '{TAG}' is reserved for tagged values")
        for k in v:
            if not isinstance(k, str):
                raise SerializationError(f"dict keys must be strings, got {k!r}")
        return {k: encode_value(x) for k, x in v.items()}
    if isinstance(v, DType):
        return {TAG: "dtype", "v": v.name}
    if isinstance(v, TensorType):
        return {TAG: "type", "v": encode_type(v)}
    if isinstance(v, np.ndarray):
        if v.dtype == object:
            raise SerializationError("object arrays cannot be serialized")
        little = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<"))
        return {TAG: "array", "dtype": little.dtype.str, "shape": list(v.shape),
                "data": base64.b64encode(little.tobytes()).decode("ascii")}
    raise SerializationError(f"cannot serialize a value of type {type(v).__name__}: {v!r}")


def decode_value(v: Any) -> Any:
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if not isinstance(v, dict):
        return v
    tag = v.get(TAG)
    if tag is None:
        return {k: decode_value(x) for k, x in v.items()}
    try:
        if tag == "float":
            return float(v["v"])
        if tag == "dtype":
            return dtype(v["v"])
        if tag == "type":
            return decode_type(v["v"])
        if tag == "array":
            raw = base64.b64decode(v["data"], validate=True)
            return np.frombuffer(raw, dtype=np.dtype(v["dtype"])).reshape(v["shape"]).copy()
    except (KeyError, TypeError, ValueError, NexusError) as err:
        raise SerializationError(f"malformed tagged value {tag!r}: {err}") from None
    raise SerializationError(f"unknown tagged value {tag!r}")


def encode_type(t: TensorType) -> dict[str, Any]:
    return {"shape": list(t.shape), "dtype": t.dtype.name}


def decode_type(obj: Any) -> TensorType:
    if not isinstance(obj, dict) or "shape" not in obj or "dtype" not in obj:
        raise SerializationError(f"a type must be {{'shape': [...], 'dtype': ...}}, got {obj!r}")
    try:
        return TensorType(obj["shape"], obj["dtype"])
    except NexusError as err:
        raise SerializationError(f"bad type {obj!r}: {err}") from None


def graph_to_dict(graph: Graph, include_data: bool = True) -> dict[str, Any]:
    """The JSON document of ``graph`` as Python objects."""
    def const(c: Constant) -> dict[str, Any]:
        data = encode_value(c.data) if include_data and c.data is not None else None
        doc = {"name": c.name, "type": encode_type(c.type), "data": data}
        return doc if c.role == "parameter" else {**doc, "role": c.role}

    def node(n: Node) -> dict[str, Any]:
        return {
            "op": n.op,
            "inputs": [v.name for v in n._inputs],
            "outputs": [{"name": o.name, "type": encode_type(o.type)} for o in n.outputs],
            "attributes": {k: encode_value(v) for k, v in n.attributes.items()},
            "source": n.source,
            "annotations": encode_value(dict(n.annotations)),
        }

    return {
        "schema_version": SCHEMA_VERSION,
        "name": graph.name,
        "inputs": [{"name": v.name, "type": encode_type(v.type)} for v in graph.inputs],
        "constants": [const(c) for c in graph.constants.values()],
        "nodes": [node(n) for n in graph],
        "outputs": [v.name for v in graph.outputs],
        **({"quantization": graph.quantization} if graph.quantization else {}),
    }


def graph_to_json(graph: Graph, include_data: bool = True, indent: int | None = None) -> str:
    """Serialize ``graph``; ``include_data=False`` keeps constants as shapes only."""
    with collector.paused():
        return json.dumps(graph_to_dict(graph, include_data), indent=indent, allow_nan=False,
                          separators=(",", ": ") if indent else (",", ":"))


def graph_from_dict(doc: Any) -> Graph:
    """Rebuild a graph as written; it is not verified here (call ``verify``)."""
    if not isinstance(doc, dict):
        raise SerializationError("a NEXUS graph document is a JSON object")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SerializationError(f"unsupported schema_version {version!r}: this NEXUS reads "
                                 f"{SCHEMA_VERSION}; upgrade nexus-ml or re-export the graph")
    _check_layout(doc)
    try:
        with collector.paused():
            return _build(doc)
    except KeyError as err:
        raise SerializationError(f"graph document lacks the field {err}") from None
    except (TypeError, AttributeError) as err:
        raise SerializationError(f"malformed graph document: {err}") from None


_NAMED = {"name": str, "type": dict}
_LAYOUT = {"name": str, "inputs": [_NAMED], "constants": [{**_NAMED, "role": str}],
           "nodes": [{"op": str, "inputs": [str], "outputs": [_NAMED], "attributes": dict,
                      "source": str, "annotations": dict}],
           "outputs": [str], "quantization": dict}
"""The document's layout: what each field must be where it is given."""


def _check_layout(doc: Any, layout: Any = _LAYOUT, where: str = "graph") -> None:
    """Every field the document gives has the kind ``_LAYOUT`` names: one clear line
    otherwise, before anything is built from it."""
    if isinstance(layout, type):
        if not isinstance(doc, layout) or isinstance(doc, bool):
            raise SerializationError(f"malformed graph document: {where} must be a "
                                     f"{ {str: 'string', dict: 'object'}[layout]}, got "
                                     f"{type(doc).__name__}")
    elif isinstance(layout, list):
        if not isinstance(doc, list):
            raise SerializationError(f"malformed graph document: {where} must be a list, got "
                                     f"{type(doc).__name__}")
        for i, item in enumerate(doc):
            _check_layout(item, layout[0], f"{where}[{i}]")
    else:
        if not isinstance(doc, dict):
            raise SerializationError(f"malformed graph document: {where} must be an object, "
                                     f"got {type(doc).__name__}")
        for key, kind in layout.items():     # a missing field is _build's KeyError
            if key in doc:
                _check_layout(doc[key], kind, f"{where}.{key}")


def _build(doc: dict[str, Any]) -> Graph:
    graph = Graph(doc["name"])
    for item in doc["inputs"]:
        graph.add_input(item["name"], decode_type(item["type"]))
    for item in doc["constants"]:
        data = decode_value(item["data"]) if item["data"] is not None else None
        if data is not None and not isinstance(data, np.ndarray):
            raise SerializationError(f"constant %{item['name']}: data must be an array")
        try:
            graph.add_constant(item["name"], data, decode_type(item["type"]),
                               item.get("role", "parameter"))
        except NexusError as err:
            raise SerializationError(str(err)) from None
    placeholders: dict[str, Value] = {}

    def lookup(name: str) -> Value:
        """A value by name; a forward or dangling reference gets a placeholder, kept outside the
        graph, so the verifier reports it as the problem it is."""
        if graph.has_value(name):
            return graph.value(name)
        return placeholders.setdefault(name, Value(name, TensorType([], "f32"), graph))

    for item in doc["nodes"]:
        attrs = {k: freeze(decode_value(v)) for k, v in item["attributes"].items()}
        n = Node(item["op"], [lookup(name) for name in item["inputs"]], MappingProxyType(attrs),
                 item["source"], graph)
        n.outputs = tuple(graph._register(Value(o["name"], decode_type(o["type"]), graph, n))
                          for o in item["outputs"])
        n.annotations = decode_value(item.get("annotations", {}))
        for v in n._inputs:
            v._users.append(n)
        graph._append(n)
    for name, stand_in in placeholders.items():
        if graph.has_value(name):
            real = graph.value(name)
            for user in stand_in._users:
                user._inputs = tuple(real if v is stand_in else v for v in user._inputs)
                real._users.append(user)
    graph.outputs = [lookup(name) for name in doc["outputs"]]
    graph.quantization = dict(doc.get("quantization", {}))
    return graph


def graph_from_json(text: str | bytes) -> Graph:
    """Parse a graph from JSON text."""
    try:
        with collector.paused():
            doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise SerializationError(f"not valid JSON: {err}") from None
    except RecursionError:
        raise SerializationError("JSON nested too deeply to be a NEXUS graph") from None
    return graph_from_dict(doc)
