"""Sliding-window geometry shared by convolution and pooling: padding and the output-size formula.

out = floor((n + p_begin + p_end - d*(k-1) - 1) / s) + 1, per spatial axis. With ceil rounding,
the last window must start inside the input or the begin padding (PyTorch's and ONNX Runtime's
rule). 'same' padding follows ONNX's SAME_UPPER: the odd pixel goes to the end.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .base import ArgIssue, PairValue, ShapeIssue, WindowValue, broadcast, extents
from .reach import Window

AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


class Padding(NamedTuple):
    """Either explicit begin/end extents (broadcast per axis) or 'same' / 'valid'."""

    begin: tuple[int, ...] = (0,)
    end: tuple[int, ...] = (0,)
    mode: str = "explicit"  # explicit | same

    def text(self) -> str:
        if self.mode == "same":
            return "same"
        if self.begin == self.end:
            return "x".join(map(str, self.begin))
        return f"{'x'.join(map(str, self.begin))},{'x'.join(map(str, self.end))}"

    @property
    def is_zero(self) -> bool:
        return self.mode == "explicit" and not any(self.begin) and not any(self.end)


def padding(value: Any, name: str) -> Padding:
    """`pad 1`, `pad 1x2`, `pad 0,1` (begin,end), `pad 0x0,1x1`, `pad same`, `pad valid`."""
    if value == "same":
        return Padding(mode="same")
    if value == "valid":
        return Padding()
    non_negative = extents(minimum=0)
    try:
        if isinstance(value, PairValue):
            return Padding(non_negative(value.first, name), non_negative(value.second, name))
        both = non_negative(value, name)
    except ArgIssue as issue:
        if issue.code == "E302":
            raise ArgIssue(
                "E302",
                f"{name} must not be negative",
                arg=name,
                help="padding adds rows and columns; to crop, use a larger stride or kernel",
            ) from None
        raise
    return Padding(both, both)


class AxisGeometry(NamedTuple):
    size: int
    kernel: int
    stride: int
    dilation: int
    pad_begin: int
    pad_end: int
    ceil: bool = False

    @property
    def span(self) -> int:
        """Receptive extent of the dilated kernel: d*(k-1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def reach(self) -> int:
        """n + p_begin + p_end - d*(k-1) - 1: how far the window can travel."""
        return self.size + self.pad_begin + self.pad_end - self.span

    def output(self) -> int:
        if not self.ceil:
            return self.reach // self.stride + 1
        out = -(-self.reach // self.stride) + 1
        if (out - 1) * self.stride >= self.size + self.pad_begin:
            out -= 1
        return out

    def formula(self) -> str:
        d = f"{self.dilation}*({self.kernel}-1)" if self.dilation != 1 else f"({self.kernel}-1)"
        rounding = "ceil" if self.ceil else "floor"
        return (
            f"{rounding}(({self.size} + {self.pad_begin} + {self.pad_end} - {d} - 1) / "
            f"{self.stride}) + 1 = {self.output()}"
        )

    def unused(self) -> int:
        """Real input rows (not padding) that the floor leaves unread at the end of this axis."""
        if self.ceil or self.reach < 0 or self.span < self.stride:
            # A window narrower than its stride skips rows by design (a 1x1/2 projection).
            return 0
        return min(self.size, max(0, self.reach % self.stride - self.pad_end))  # windows may end in the begin padding


def axes(
    in_spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...] | None,
    dilation: tuple[int, ...],
    pad: Padding,
    *,
    ceil: bool = False,
    what: str = "kernel",
) -> list[AxisGeometry]:
    """Broadcast the attributes to the input's rank and resolve 'same' padding per axis."""
    rank = len(in_spatial)
    if rank == 0:
        raise ShapeIssue(
            "E403",
            "this layer needs a spatial input, but got a flat vector",
            help="sliding windows need at least one spatial axis; remove the flatten before it",
        )
    kernel = broadcast(kernel, rank, what)
    stride = broadcast(stride, rank, "stride") if stride is not None else (1,) * rank
    dilation = broadcast(dilation, rank, "dilation")
    if pad.mode != "same":  # once, not per axis: an input may have thousands of axes
        pad_begin, pad_end = broadcast(pad.begin, rank, "padding"), broadcast(pad.end, rank, "padding")
    result = []
    for i, n in enumerate(in_spatial):
        if pad.mode == "same":
            out = -(-n // stride[i])
            total = max((out - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 - n, 0)
            begin, end = total // 2, total - total // 2
        else:
            begin, end = pad_begin[i], pad_end[i]
        result.append(AxisGeometry(n, kernel[i], stride[i], dilation[i], begin, end, ceil))
    return result


def output_sizes(geometry: list[AxisGeometry], what: str) -> tuple[int, ...]:
    """Apply the formula per axis; a size that collapses is E401 with the numbers filled in."""
    sizes = tuple(axis.output() for axis in geometry)
    for i, (axis, size) in enumerate(zip(geometry, sizes, strict=True)):
        if size <= 0:
            names = AXIS_NAMES.get(len(geometry), tuple(f"axis {j}" for j in range(len(geometry))))
            needed = axis.span - axis.pad_begin - axis.pad_end
            raise ShapeIssue(
                "E401",
                f"the {what} does not fit its input: output {names[i]} would be {size}",
                notes=[f"{names[i]}: {axis.formula()}"],
                help=(
                    f"the {names[i]} must be at least {needed} for this {what}; pad the input by "
                    f"{-(-(axis.span - axis.size) // 2)} on each side or use a smaller {what}"
                ),
            )
    return sizes


def dropped_rows(geometry: list[AxisGeometry]) -> list[tuple[int, str]]:
    """Per axis: the real input rows the windows never read, and the formula when there are any
    (W101; the text is made only for the axes it is shown for)."""
    result = []
    for axis in geometry:
        unused = axis.unused()
        result.append((unused, axis.formula() if unused else ""))
    return result


def describe_window(window: WindowValue, pad: Padding) -> list[str]:
    """Summary text shared by convolution and pooling: ['3x3/2', 'pad 1']."""
    text = "x".join(map(str, window.extent))
    if window.stride:
        text += "/" + "x".join(map(str, window.stride))
    return [text] + ([] if pad.is_zero else [f"pad {pad.text()}"])


def window_reach(geometry: list[AxisGeometry], mode: str = "zeros") -> tuple[Any, ...]:
    """The receptive-field declaration of a sliding window (layers/reach.py), one per axis."""
    return tuple(Window(a.kernel, a.stride, a.pad_begin, a.dilation, mode) for a in geometry)


def pads_for_onnx(geometry: list[AxisGeometry]) -> list[int]:
    return [a.pad_begin for a in geometry] + [a.pad_end for a in geometry]
