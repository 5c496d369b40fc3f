"""One part of a split along the channels: ShuffleNetV2's channel split, PyTorch's torch.chunk and
torch.split on dim 1. A spec names each part it uses as a tensor:

    left = x -> split 2 part 0
    right = x -> split 2 part 1

`split N` cuts the channels into N equal parts (N must divide them, as torch.chunk's parts are equal
here); `split [S1 S2 ...]` into parts of the given sizes, which must add up to the channels.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Arg, ArgIssue, Layer, Shape, ShapeIssue, integer, register
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode
from .keras_helpers import CHANNEL_SLICE

_count = integer(1)


def _parts(value: Any, name: str) -> int | tuple[int, ...]:
    """A number of equal parts, or an array of part sizes."""
    if isinstance(value, list):
        if not value:
            raise ArgIssue("E302", "a split needs at least one part size", arg=name)
        return tuple(_count(size, name) for size in value)
    return _count(value, name)


@register
class Split(Layer):
    kind: ClassVar[str] = "split"
    summary: ClassVar[str] = (
        "one part of the channels split into equal parts or parts of given sizes (torch.chunk, torch.split)"
    )
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "parts",
            _parts,
            positional=True,
            required=True,
            doc="the number of equal parts (2), or the sizes of the parts ([16 48])",
        ),
        Arg("part", integer(0), required=True, doc="which part is the output, counting from 0"),
    )
    # Valid three times in a row on 4 channels: only a split into one part keeps them all.
    examples: ClassVar[tuple[str, ...]] = ("split 1 part 0", "split [4] part 0")

    # torch.chunk and torch.split give views: keeping a part keeps the whole input's storage.
    views_input: ClassVar[bool] = True

    parts: int | tuple[int, ...]
    part: int

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> Split:
        parts, part = args["parts"], args["part"]
        count = parts if isinstance(parts, int) else len(parts)
        if part >= count:
            raise ArgIssue(
                "E302",
                f"part must be below the number of parts, {count}; got {part}",
                arg="part",
                help=f"parts are counted from 0: the last of {count} is part {count - 1}",
            )
        return cls(parts, part)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        _, size = self._extent(in_shape[0])
        return (size, *in_shape[1:])

    def _extent(self, channels: int) -> tuple[int, int]:
        """The first channel of the chosen part and its size; ShapeIssue if the parts do not fit."""
        if isinstance(self.parts, int):
            if channels % self.parts:
                sizes = _near_equal(channels, self.parts)
                raise ShapeIssue(
                    "E404",
                    f"cannot split {channels} channels into {self.parts} equal parts",
                    help=f"give the sizes of the parts instead, such as [{' '.join(map(str, sizes))}]"
                    if channels >= self.parts
                    else f"a split into {self.parts} parts needs at least {self.parts} channels",
                )
            size = channels // self.parts
            return self.part * size, size
        total = sum(self.parts)
        if total != channels:
            raise ShapeIssue(
                "E411",
                f"the split sizes {' + '.join(map(str, self.parts))} add up to {total}, "
                f"but the input has {channels} channels",
                help="the sizes of the parts must add up to the input's channels",
            )
        return sum(self.parts[: self.part]), self.parts[self.part]

    def describe(self) -> str:
        parts = str(self.parts) if isinstance(self.parts, int) else f"[{' '.join(map(str, self.parts))}]"
        return f"part {self.part} of {parts}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        offset, size = self._extent(inputs[0][0])
        return TorchCode(None, f"{{x}}[:, {offset}:{offset + size}]")

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        offset, size = self._extent(inputs[0][0])
        return KerasCode(Constructor("ChannelSlice", (str(offset), str(offset + size))), helpers=(CHANNEL_SLICE,))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        offset, size = self._extent(in_shapes[0][0])
        operands = [
            inputs[0],
            tape.constant(f"{name}.starts", [offset], integer=True),
            tape.constant(f"{name}.ends", [offset + size], integer=True),
            tape.constant(f"{name}.axes", [1], integer=True),
        ]
        return tape.op("Slice", operands, name)


def _near_equal(channels: int, parts: int) -> list[int]:
    """`parts` sizes adding up to `channels`, the first ones one larger (torch.tensor_split's rule)."""
    size, extra = divmod(channels, parts)
    return [size + 1] * extra + [size] * (parts - extra)
