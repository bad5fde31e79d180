"""What optimize checks by running graphs: output deviation of a rewrite, top-1 accuracy, and
the activation ranges that activation quantization scales from (PyTorch through
``runtime.torch_graph``: every IR dtype runs, float8 included)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError
from passes.rewrites import quantize_activations

from .torch_graph import GraphModule, run_graph


def _outputs(graph: Graph, feed: Mapping[str, Any]) -> np.ndarray:
    """The first output of one run (PyTorch, ``runtime.torch_graph``: every IR dtype runs,
    float8 included, where ONNX opset 17 has none)."""
    result = run_graph(graph, feed)
    result = result[0] if isinstance(result, tuple) else result
    return result.float().numpy()


def output_deviation(original: Graph, rewritten: Graph, feeds: Sequence[Mapping[str, np.ndarray]]
                     ) -> float:
    """Largest |Δ| of the first output over the feeds, relative to the original's largest
    |output|."""
    worst, scale = 0.0, 0.0
    for feed in feeds:
        a, b = _outputs(original, feed), _outputs(rewritten, feed)
        worst = max(worst, float(np.abs(a - b).max()))
        scale = max(scale, float(np.abs(a).max()))
    return worst / scale if scale else worst


def accuracy(graph: Graph, inputs: Mapping[str, np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of the graph's first output (class scores on its last axis) against
    ``labels``."""
    labels = np.asarray(labels).reshape(-1)
    predicted = _outputs(graph, inputs).reshape(len(labels), -1).argmax(axis=1)
    return float((predicted == labels).mean())


def activation_ranges(graph: Graph, feeds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Largest |value| of every float value over the calibration feeds (a PyTorch run of the
    graph, ``runtime.torch_graph``)."""
    import torch

    module = GraphModule(graph)
    ranges: dict[str, float] = {}
    with torch.no_grad():
        for feed in feeds:
            values = module.values(*[torch.as_tensor(np.asarray(feed[v.name]))
                                     for v in graph.inputs])
            for name, value in values.items():
                if value.is_floating_point() and value.numel():
                    ranges[name] = max(ranges.get(name, 0.0), float(value.abs().max()))
    return ranges


def quantize_calibrated(graph: Graph, feeds: Sequence[Mapping[str, Any]], fmt: str = "i8"
                        ) -> tuple[Graph, int]:
    """Weights and activations in ``fmt`` with each activation's scale from its largest
    |value| over the calibration ``feeds`` (``passes.rewrites.quantize_activations``)."""
    if not feeds:
        raise NexusError("activation quantization needs calibration inputs (feeds)")
    return quantize_activations(graph, lambda quantized: activation_ranges(quantized, feeds), fmt)
