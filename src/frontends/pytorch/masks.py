"""Boolean attention masks that mask nothing, found in an exported program before it is lowered.

Under ``torch.export`` Hugging Face transformers (5.x) builds its attention mask from position
constants (``arange(L) + 0 >= 0`` expanded to [batch, 1, L, L]): tracing cannot take the data-
dependent branch its eager forward takes, which passes SDPA no mask at all when nothing is
padded. The exported graph then carries an all-true mask and the few elementwise ops that build
it, neither of which the model runs eagerly; costed, the mask slows every fused attention kernel
(up to 3× at bf16, where the rows of 197 keys are not 16-byte aligned). A mask computed from
constants alone is evaluated here with PyTorch's own kernels; where it is a boolean mask that is
all true the attention is lowered without it, which is exact, and the ops that built it are
removed where nothing else reads them (``drop_unused``). Positions a model on the meta device
makes are made on the CPU, so it lowers as the same model with weights does. A float mask is kept even when it is
all zero: models pass those deliberately (Swin's window masks in blocks without a shift), and
SDPA runs them as masks (measured on an H200: HF Swin-T's per-call attention time matches the
masked kernel's in every block).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nexus_ir import Constant, Graph, Value

FOLD_LIMIT = 1 << 24
"""Largest mask (elements) evaluated: a [batch, 1, L, L] mask of batch 128 and L = 362 fits."""


def sdpa_mask(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The ``attn_mask`` of an SDPA call's arguments (fx or lowered), None when absent."""
    return args[3] if len(args) > 3 else kwargs.get("attn_mask")


def _sdpa_mask(node: Any) -> Any:
    """The fx node passed as ``attn_mask`` to an SDPA call, None when there is none."""
    mask = sdpa_mask(node.args, node.kwargs)
    return mask if hasattr(mask, "op") else None


def _numel(node: Any) -> int:
    """Elements of an fx node's value; past ``FOLD_LIMIT`` where a size is symbolic."""
    shape = tuple(getattr(node.meta.get("val"), "shape", ()))
    return math.prod(shape) if all(isinstance(d, int) for d in shape) else FOLD_LIMIT + 1


def _ancestors(masks: list[Any]) -> set[Any]:
    """Every fx node the masks are computed from."""
    seen: set[Any] = set()
    stack = list(masks)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack += node.all_input_nodes
    return seen


def maskless_attention(program: Any) -> set[str]:
    """Names of the SDPA calls of ``program`` whose mask, computed from its constants alone,
    is boolean and all true (module doc)."""
    import torch

    calls = [n for n in program.graph.nodes if n.op == "call_function" and
             "scaled_dot_product_attention" in str(n.target) and _sdpa_mask(n) is not None]
    if not calls:
        return set()
    needed = _ancestors([_sdpa_mask(n) for n in calls])
    constants = {**program.state_dict, **getattr(program, "constants", {})}
    targets = {spec.arg.name: spec.target for spec in program.graph_signature.input_specs
               if spec.target is not None}
    values: dict[Any, Any] = {}

    def known(arg: Any) -> bool:
        if isinstance(arg, (list, tuple)):
            return all(map(known, arg))
        return not hasattr(arg, "op") or arg in values

    def value(arg: Any) -> Any:
        if isinstance(arg, (list, tuple)):
            return type(arg)(value(a) for a in arg)
        if isinstance(arg, dict):
            return {k: value(a) for k, a in arg.items()}
        return values[arg] if hasattr(arg, "op") else arg

    with torch.no_grad():
        for node in program.graph.nodes:
            if node not in needed:
                continue
            if node.op == "placeholder":
                tensor = constants.get(targets.get(node.name))
                if tensor is not None and not tensor.is_meta and tensor.numel() <= FOLD_LIMIT:
                    values[node] = tensor
            elif node.op == "call_function" and _numel(node) <= FOLD_LIMIT and \
                    known(node.args) and known(list(node.kwargs.values())):
                kwargs = value(node.kwargs)
                if "device" in kwargs:            # a meta model's positions: made on the CPU
                    kwargs["device"] = torch.device("cpu")
                try:
                    result = node.target(*value(node.args), **kwargs)
                except (RuntimeError, TypeError, ValueError):
                    continue                      # not evaluable here: the mask is kept
                if not getattr(result, "is_meta", False):    # a meta model has no values
                    values[node] = result
    names = set()
    for call in calls:
        mask = values.get(_sdpa_mask(call))
        if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and bool(mask.all()):
            names.add(call.name)
    return names


FOLDED_MASK = "nexus_capture_mask"
"""The keyword ``without_mask`` adds to an SDPA call whose mask it took: the attention handler
records it as the op's ``capture_mask`` (a CUDA-graph capture runs the mask; see
``lowering.rules.captured_math_path``)."""


def without_mask(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], Any]:
    """An SDPA call's lowered arguments with its mask taken out (``FOLDED_MASK`` set in
    ``kwargs``), and the mask taken."""
    mask = sdpa_mask(args, kwargs)
    kwargs[FOLDED_MASK] = True
    if len(args) > 3:
        return [*args[:3], None, *args[4:]], mask
    kwargs.pop("attn_mask")
    return args, mask


def drop_unused(graph: Graph, values: list[Any]) -> None:
    """Remove what computed ``values`` where nothing reads it any more (the ops and constants
    that built a mask the attention no longer takes), walking up from each."""
    stack = [v for v in values if isinstance(v, Value)]
    done: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in done or value.users or value in graph.outputs:
            continue
        done.add(id(value))
        if isinstance(value, Constant):
            graph.erase_constant(value)
        elif value.producer is not None and not any(
                o.users or o in graph.outputs for o in value.producer.outputs):
            inputs = list(value.producer.inputs)
            graph.erase_node(value.producer)
            stack += inputs
