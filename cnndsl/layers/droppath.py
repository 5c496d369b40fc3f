"""Stochastic depth (torchvision's StochasticDepth, "drop path"): while training, a residual
branch's whole output is dropped for a sample with probability p. At inference it is the identity,
as dropout is, so it is not emitted; it stays in the spec for the frameworks that train it. Unlike
dropout it belongs between convolutions (no W102).
"""

from __future__ import annotations

from typing import ClassVar

from .base import Arg, Kept, Shape, real, register
from .dense import Dropout
from .framework import Constructor, KerasCode, TorchCode, number
from .keras_helpers import DROP_PATH

# torchvision's StochasticDepth in its "row" mode, without importing torchvision.
TORCH_DROP_PATH = '''class DropPath(nn.Module):
    """Stochastic depth: while training, drops each sample's whole input with probability p."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0], *[1] * (x.dim() - 1))).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)
'''


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

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(Constructor("DropPath", (number(self.p),)), helper=TORCH_DROP_PATH)

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # Not Dropout's: Keras's Dropout drops single values, a drop path whole samples.
        return KerasCode(Constructor("DropPath", (number(self.p),)), helpers=(DROP_PATH,))
