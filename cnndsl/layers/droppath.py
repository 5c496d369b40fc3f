"""Stochastic depth (torchvision's StochasticDepth, "drop path"): while training, a residual
branch's whole output is dropped for a sample with probability p. At inference it is the identity,
as dropout is, so it is not emitted; it stays in the spec for the frameworks that train it. Unlike
dropout it belongs between convolutions (no W102).
"""

from __future__ import annotations

from typing import ClassVar

from .base import Arg, Kept, Shape, real, register
from .dense import Dropout


@register
class DropPath(Dropout):
    kind: ClassVar[str] = "droppath"
    summary: ClassVar[str] = "stochastic depth: drops a residual branch per sample while training; not emitted"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("p", real(0.0, 1.0, open_max=True), 0.1, positional=True, doc="drop probability in [0, 1)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("droppath", "droppath 0.2")
    is_dropout: ClassVar[bool] = False

    p: float = 0.1

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        # torchvision's StochasticDepth multiplies by one factor per sample (0 or 1/(1-p)); the
        # product keeps that factor, not the input, which needs no gradient of its own.
        return Kept(values=1)
