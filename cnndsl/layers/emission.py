"""What emission offers a layer: the `Emitter` protocol its `emit` writes to, and `Weight`, the
declaration of one parameter tensor. cnndsl/onnx's Tape implements the protocol, so layers never
import the emitter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from .initializers import Init

Shape = tuple[int, ...]  # (channels, *spatial) or (features,); the batch axis is implicit


class Weight(NamedTuple):
    """One parameter tensor of a layer ('weight', 'bias', 'running_mean', ...). Emitted as the
    initializer '<layer name>.<name>' and read under that name from a --weights .npz file."""

    name: str
    shape: tuple[int, ...]
    init: Init

    @property
    def trainable(self) -> bool:
        return self.init.trainable

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Emitter(Protocol):
    """What a layer's `emit` writes to; cnndsl/onnx's Tape implements it. The layer names every
    tensor it makes after itself ('conv1.padded'), which keeps the names unique in the graph."""

    @property
    def opset(self) -> int:
        """The opset being emitted: a layer may emit differently per opset range."""
        ...

    def op(
        self, op_type: str, inputs: Sequence[str], output: str, *, shape: Shape | None = None, **attributes: Any
    ) -> str:
        """An ONNX node producing `output`. `shape` (without the batch axis) declares an
        intermediate tensor whose shape differs from the layer's output, such as a padded input."""
        ...

    def weights(self, layer: str, declared: Sequence[Weight]) -> list[str]:
        """The initializers of the layer's declared weights, in order: their tensor names."""
        ...

    def constant(self, name: str, value: Any, integer: bool = False) -> str:
        """A Constant node (not an initializer: initializers are exactly the counted parameters)."""
        ...
