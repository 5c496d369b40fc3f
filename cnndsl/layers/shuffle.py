"""ShuffleNet's channel shuffle, PyTorch's nn.ChannelShuffle(G) and torchvision's channel_shuffle:
the channels, seen as G groups of C/G, are transposed to C/G groups of G, so that the next grouped
convolution mixes channels from every group. Channel g*(C/G) + i moves to i*G + g.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .base import Arg, Layer, Shape, ShapeIssue, integer, register
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode
from .keras_helpers import CHANNEL_SHUFFLE


@register
class Shuffle(Layer):
    kind: ClassVar[str] = "shuffle"
    summary: ClassVar[str] = "channel shuffle across G groups (ShuffleNet; PyTorch's nn.ChannelShuffle)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "groups", integer(1), positional=True, required=True, doc="the number of groups G; it divides the channels"
        ),
    )
    examples: ClassVar[tuple[str, ...]] = ("shuffle 2", "shuffle 4")

    groups: int

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        if in_shape[0] % self.groups:
            raise ShapeIssue(
                "E404",
                f"shuffle groups must divide the channels: {in_shape[0]} channels cannot be split into "
                f"{self.groups} groups",
                help="use a number of groups that divides the channels",
            )
        return in_shape

    def describe(self) -> str:
        return f"{self.groups} groups"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        # torchvision's channel_shuffle, for every rank.
        return TorchCode(None, f"{{x}}.unflatten(1, ({self.groups}, -1)).transpose(1, 2).flatten(1, 2)")

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return KerasCode(Constructor("ChannelShuffle", (str(self.groups),)), helpers=(CHANNEL_SHUFFLE,))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        # torchvision's view (N, G, C/G, *S) -> transpose(1, 2) -> flatten, with the spatial axes
        # as one, so that one form serves every rank (a flat vector has one position).
        channels, *spatial = in_shapes[0]
        positions = math.prod(spatial)
        grouped = (self.groups, channels // self.groups, positions)
        shuffled = (channels // self.groups, self.groups, positions)
        x = tape.op(
            "Reshape",
            [inputs[0], tape.constant(f"{name}.grouped_shape", [0, *grouped], integer=True)],
            f"{name}.grouped",
            shape=grouped,
        )
        x = tape.op("Transpose", [x], f"{name}.transposed", shape=shuffled, perm=[0, 2, 1, 3])
        return tape.op("Reshape", [x, tape.constant(f"{name}.shape", [0, *out_shape], integer=True)], name)
