"""Small example graphs built in code (no downloads): used by ``nexus example`` and the docs."""

from __future__ import annotations

import numpy as np

from .graph import Graph, Value


def _conv_block(g: Graph, x: Value, name: str, c_in: int, c_out: int, rng: np.random.Generator
                ) -> Value:
    """conv3x3 → batch norm → relu → 2x2 max pool, weights random, module path ``name``."""
    def const(suffix: str, shape: tuple[int, ...], scale: float = 1.0) -> Value:
        data = (rng.standard_normal(shape) * scale).astype(np.float32)
        return g.add_constant(f"{name}.{suffix}", data)

    w = const("conv.weight", (c_out, c_in, 3, 3), (2 / (9 * c_in)) ** 0.5)
    y = g.op("conv", x, w, padding=[1, 1], source=f"{name}.conv")
    ones, zeros = np.ones(c_out, np.float32), np.zeros(c_out, np.float32)
    bn = [g.add_constant(f"{name}.bn.{p}", d) for p, d in
          (("weight", ones), ("bias", zeros), ("running_mean", zeros), ("running_var", ones))]
    y = g.op("batch_norm", y, *bn, source=f"{name}.bn")
    y = g.op("relu", y, source=f"{name}.relu")
    return g.op("max_pool", y, kernel_size=[2, 2], source=f"{name}.pool")


def example_cnn(seed: int = 0) -> Graph:
    """A two-block CNN classifier over ``f32[batch,3,32,32]`` images, ten classes."""
    rng = np.random.default_rng(seed)
    g = Graph("small_cnn")
    x = g.add_input("image", "f32[batch,3,32,32]")
    y = _conv_block(g, x, "features.0", 3, 16, rng)
    y = _conv_block(g, y, "features.1", 16, 32, rng)
    y = g.op("global_avg_pool", y, source="pool")
    y = g.op("flatten", y, source="flatten")
    w = g.add_constant("classifier.weight",
                       (rng.standard_normal((10, 32)) / 32 ** 0.5).astype(np.float32))
    b = g.add_constant("classifier.bias", np.zeros(10, np.float32))
    g.set_outputs(g.op("linear", y, w, b, source="classifier", name="logits"))
    return g


EXAMPLES = {"cnn": example_cnn}
