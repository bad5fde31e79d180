"""Activations of calibration inputs: running an exported PyTorch program on each input and
reading the bits of every tensor an IR node consumes (the input of ``passes.switching``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from frontends.pytorch import ORIGIN
from nexus_ir import Graph, Value
from passes.bit_stats import tensor_stats
from passes.switching import merge_inputs, stream_axis

from .execute import flat_inputs


def activation_stats(program: Any, graph: Graph, calibration: Sequence[Any]) -> dict[str, dict]:
    """Bit statistics of every activation a node of ``graph`` reads, per calibration input, by
    running ``program`` on each input (an fx Interpreter over the exported graph, so fx node
    names match the lowering) and reading each tensor once, along the axis its consumer streams
    it. Returns ``{IR value name: {axis: [TensorStats per input]}}`` for ``value_stats``."""
    import torch

    wanted: dict[str, list[tuple[Value, int | None, int | None]]] = {}
    inputs = {v.name for v in graph.inputs}
    for node in graph.nodes:
        for index, value in enumerate(node.inputs):
            if value.is_constant:
                continue
            origin = (value.name, None) if value.name in inputs else \
                value.producer.annotations.get(ORIGIN, {}).get(value.name)
            if origin is not None:
                wanted.setdefault(origin[0], []).append((value, origin[1],
                                                         stream_axis(node, index)))
    class Collector(torch.fx.Interpreter):
        def __init__(self) -> None:
            super().__init__(program.graph_module)
            self.found: dict[str, dict] = {}

        def run_node(self, n: Any) -> Any:
            result = super().run_node(n)
            for value, index, axis in wanted.get(n.name, ()):
                tensor = result if index is None else result[index]
                per_axis = self.found.setdefault(value.name, {})
                if axis not in per_axis:
                    array = tensor.detach().cpu()
                    array = (array.float() if array.is_floating_point() else array).numpy()
                    per_axis[axis] = tensor_stats(array, value.type.dtype, axis)
            return result

    per_input = []
    for sample in calibration:
        user = list(sample) if isinstance(sample, (tuple, list)) else [sample]
        collector = Collector()
        with torch.no_grad():
            collector.run(*flat_inputs(program, user))
        per_input.append(collector.found)
    return merge_inputs(per_input)
