"""Stochastic depth (torchvision's StochasticDepth, "drop path"): while training, a residual
branch's whole output is dropped for a sample with probability p. At inference it is the identity,
so it is not emitted; it stays in the spec for the frameworks that train it.
"""

from __future__ import annotations

from typing import ClassVar

from .base import Arg, Layer, Shape, real, register
from .emission import Emitter


@register
class DropPath(Layer):
    kind: ClassVar[str] = "droppath"
    summary: ClassVar[str] = "stochastic depth: drops a residual branch per sample while training; not emitted"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("p", real(0.0, 1.0, open_max=True), 0.1, positional=True, doc="drop probability in [0, 1)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("droppath", "droppath 0.2")
    training_only: ClassVar[bool] = True

    p: float = 0.1

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def describe(self) -> str:
        return f"p={self.p:g}"

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return inputs[0]
