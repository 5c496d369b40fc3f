"""Max and average pooling: windowed, global, and adaptive (to a fixed output size)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .base import Arg, ArgIssue, Kept, Layer, Shape, ShapeIssue, WindowValue, broadcast, extents, register, window
from .emission import Emitter
from .framework import (
    Constructor,
    KerasCode,
    NoTorchForm,
    TorchCode,
    extent,
    keras_class,
    keras_padding,
    per_axis,
    per_axis_pairs,
    torch_class,
    torch_padding,
)
from .geometry import (
    AxisGeometry,
    Padding,
    axes,
    describe_window,
    dropped_rows,
    output_sizes,
    padding,
    pads_for_onnx,
    window_reach,
)
from .keras_helpers import SPATIAL_PAD, WINDOW_MEAN
from .reach import WHOLE, Window


@register
class Pool(Layer):
    kind: ClassVar[str] = "pool"
    aliases: ClassVar[tuple[str, ...]] = ("maxpool", "avgpool")
    summary: ClassVar[str] = "pooling; `pool` alone is max pooling, the stride defaults to the window"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("window", window(), positional=True, doc="window per axis, optionally /stride (3/2, 2x2/2)"),
        Arg("op", words=("max", "avg"), doc="max (default) or avg"),
        Arg("pad", padding, Padding(), doc="padding, as for conv"),
        Arg(
            "ceil",
            words=("ceil",),
            doc="round the output size up (the last window must start inside the input or its begin padding)",
        ),
        Arg(
            "exclude_pad",
            words=("exclude_pad",),
            doc="avg: divide by the real pixels only (PyTorch's count_include_pad=False)",
        ),
        Arg("global_", words=("global",), doc="pool each channel over its whole extent"),
        Arg("adaptive", extents(1), doc="avg: output size per axis (adaptive 6x6), exact windows only"),
    )

    examples: ClassVar[tuple[str, ...]] = (
        "pool 2/1",
        "avgpool 3/2 pad 1 ceil exclude_pad",
        "pool max 3/1 pad 1 ceil",
        "pool avg global",
        "pool max global",
        "pool avg adaptive 2",
    )
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)

    op: str = "max"
    window: WindowValue | None = None
    pad: Padding = Padding()
    ceil: str | None = None
    exclude_pad: str | None = None
    global_: str | None = None
    adaptive: tuple[int, ...] | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> Pool:
        op = args["op"] or ("avg" if word == "avgpool" else "max")
        if word != "pool" and args["op"] and args["op"] != word[:3]:
            raise ArgIssue("E202", f"'{word}' cannot also be '{args['op']}'", arg="op")
        whole = args["global_"] or args["adaptive"]
        if args["window"] is None and not whole:
            raise ArgIssue("E203", "pooling needs a window (pool 2x2/2), 'global' or 'adaptive SIZE'", arg=None)
        if whole and args["window"] is not None:
            raise ArgIssue("E202", "a global or adaptive pooling takes no window", arg="window")
        if args["adaptive"] and (op != "avg" or args["global_"]):
            raise ArgIssue("E202", "adaptive pooling is average pooling: write 'pool avg adaptive 6x6'", arg="adaptive")
        if args["exclude_pad"] and op != "avg":
            raise ArgIssue("E202", "exclude_pad applies to average pooling only", arg="exclude_pad")
        return cls(**{**args, "op": op})

    def _geometry(self, in_shape: Shape) -> list[AxisGeometry]:
        window = self._window()
        return axes(
            in_shape[1:],
            window.extent,
            window.stride or window.extent,
            (1,),
            self.pad,
            ceil=bool(self.ceil),
            what="window",
        )

    def _window(self) -> WindowValue:
        assert self.window is not None, "from_args gives a pooling without global or adaptive a window"
        return self.window

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        spatial = in_shape[1:]
        if not spatial:
            raise ShapeIssue(
                "E403", "pooling needs a spatial input, but got a flat vector", help="pool before the flatten"
            )
        if self.global_:
            return (in_shape[0], *(1 for _ in spatial))
        if self.adaptive:
            target = broadcast(self.adaptive, len(spatial), "adaptive size")
            for n, out in zip(spatial, target, strict=True):
                if n % out:
                    raise ShapeIssue(
                        "E407",
                        f"adaptive pooling from {n} to {out} would need windows of different sizes",
                        notes=[f"{n} is not a multiple of {out}"],
                        help=f"choose an input size whose spatial extent is a multiple of {out}",
                    )
            return (in_shape[0], *target)
        geometry = self._geometry(in_shape)
        for axis in geometry:
            if max(axis.pad_begin, axis.pad_end) > axis.kernel // 2:
                raise ShapeIssue(
                    "E302",
                    f"pooling padding {max(axis.pad_begin, axis.pad_end)} is more than half the window {axis.kernel}",
                    help=f"a window would then cover nothing but padding; pad at most {axis.kernel // 2}",
                )
        return (in_shape[0], *output_sizes(geometry, "window"))

    def _window_values(self, in_shape: Shape, output: Shape) -> int:
        """The values one output value is taken from (padding included)."""
        if self.global_ or self.adaptive:
            return math.prod(in_shape[1:]) // math.prod(output[1:])
        return math.prod(axis.kernel for axis in self._geometry(in_shape))

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        # Per output value: max, window - 1 comparisons; avg, window - 1 adds and a division.
        window = self._window_values(inputs[0], output)
        return (window - 1 if self.op == "max" else window) * math.prod(output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        if self.op == "max":  # the input, and where each maximum came from
            return Kept(inputs=(0,), index_values=math.prod(output))
        # Average pooling to one value per channel is a mean in PyTorch (adaptive_avg_pool2d to
        # 1x1, torchvision's global pooling), which needs only the input's size; any other keeps
        # the input.
        to_one = (self.global_ or self.adaptive) and all(extent == 1 for extent in output[1:])
        return Kept() if to_one else Kept(inputs=(0,))

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        if self.global_:
            return (WHOLE,)
        if self.adaptive:  # exact windows only: n / out wide, as far apart
            return (tuple(Window(n // out, n // out) for n, out in zip(inputs[0][1:], output[1:], strict=True)),)
        return (window_reach(self._geometry(inputs[0])),)

    def dropped_input(self, in_shape: Shape) -> list[tuple[int, str]]:
        if self.global_ or self.adaptive:
            return []
        return dropped_rows(self._geometry(in_shape))

    @property
    def display_kind(self) -> str:
        return f"{self.op}pool"

    def describe(self) -> str:
        if self.global_:
            return "global"
        if self.adaptive:
            return "adaptive " + "x".join(map(str, self.adaptive))
        parts = describe_window(self._window(), self.pad)
        parts += [flag for flag in (self.ceil, self.exclude_pad) if flag]
        return ", ".join(parts)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        stem = "MaxPool" if self.op == "max" else "AvgPool"
        if self.global_ or self.adaptive:
            return TorchCode(Constructor(torch_class(f"Adaptive{stem}", inputs[0]), (extent(output[1:]),)))
        geometry = self._geometry(inputs[0])
        begin, end = [a.pad_begin for a in geometry], [a.pad_end for a in geometry]
        arguments = [extent([a.kernel for a in geometry]), f"stride={extent([a.stride for a in geometry])}"]
        call = "{m}({x})"
        # torch pads both ends alike, and refuses a window larger than the unpadded input: then the
        # input is padded before.
        if begin != end or any(a.kernel > a.size for a in geometry):
            if self.ceil or self.exclude_pad:
                raise NoTorchForm(
                    "pooling with uneven padding, or a window larger than the unpadded input, "
                    "and `ceil` or `exclude_pad` has no PyTorch form"
                )
            fill = ', value=float("-inf")' if self.op == "max" else ""
            call = f"{{m}}(F.pad({{x}}, {torch_padding(begin, end)}{fill}))"
        elif any(begin):
            arguments.append(f"padding={extent(begin)}")
        if self.ceil:
            arguments.append("ceil_mode=True")
        if self.exclude_pad:
            arguments.append("count_include_pad=False")
        return TorchCode(Constructor(torch_class(stem, inputs[0]), tuple(arguments)), call)

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        stem = "MaxPooling" if self.op == "max" else "AveragePooling"
        if self.global_:
            return KerasCode(Constructor(keras_class(f"Global{stem}", inputs[0]), ("keepdims=True",)))
        if self.adaptive:  # exact windows only (output_shape), so a plain pooling
            exact = [n // out for n, out in zip(inputs[0][1:], output[1:], strict=True)]
            return KerasCode(Constructor(keras_class(stem, inputs[0]), (extent(exact),)))
        geometry = self._geometry(inputs[0])
        begin, padded_end = [a.pad_begin for a in geometry], [a.pad_end for a in geometry]
        # Keras has no ceil mode: the windows it adds past the end become padding at the end (which
        # max pooling ignores and average pooling leaves uncounted).
        end = [
            max((out - 1) * a.stride + a.kernel - a.size - a.pad_begin, a.pad_end)
            for out, a in zip(output[1:], geometry, strict=True)
        ]
        windows, strides = [a.kernel for a in geometry], [a.stride for a in geometry]
        if self.op == "avg" and (end != padded_end or (self.exclude_pad and any(begin + end))):
            counted = ([0] * len(begin), [0] * len(end)) if self.exclude_pad else (begin, padded_end)
            padding = (f"padding={per_axis_pairs(begin, end)}", f"counted={per_axis_pairs(*counted)}")
            mean = Constructor("WindowMean", (per_axis(windows), f"strides={per_axis(strides)}", *padding))
            return KerasCode(mean, helpers=(WINDOW_MEAN,))
        before: tuple[tuple[str, Constructor], ...] = ()
        if any(begin + end) and self.op == "max":  # padded with -inf, which no window picks
            minus_infinity = (per_axis_pairs(begin, end), 'value=float("-inf")')
            before = (("pad", Constructor("SpatialPad", minus_infinity)),)
        elif any(begin + end):
            before = (("pad", Constructor(keras_class("ZeroPadding", inputs[0]), (keras_padding(begin, end),))),)
        arguments = (extent(windows), f"strides={extent(strides)}")
        helpers = (SPATIAL_PAD,) if self.op == "max" and before else ()
        return KerasCode(Constructor(keras_class(stem, inputs[0]), arguments), before=before, helpers=helpers)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        op = "MaxPool" if self.op == "max" else "AveragePool"
        if self.global_:
            return tape.op(f"Global{op}", inputs, name)
        if self.adaptive:
            kernel = [n // out for n, out in zip(in_shapes[0][1:], out_shape[1:], strict=True)]
            return tape.op(op, inputs, name, kernel_shape=kernel, strides=kernel)
        geometry = self._geometry(in_shapes[0])
        # ONNX Runtime drops a last window that would start in the end padding; ONNX's shape
        # inference has not always applied that rule. Dropping only ever brings a size back to the
        # floor size, so emit ceil_mode only where it adds a window: the model then means the same
        # to every consumer, whichever rounding rule it implements.
        floor_sizes = [
            AxisGeometry(a.size, a.kernel, a.stride, a.dilation, a.pad_begin, a.pad_end).output() for a in geometry
        ]
        ceil_mode = int(bool(self.ceil) and list(out_shape[1:]) != floor_sizes)
        pads = pads_for_onnx(geometry)
        for i, (a, size, floor) in enumerate(zip(geometry, out_shape[1:], floor_sizes, strict=True)):
            if ceil_mode and size == floor and a.pad_end >= a.reach % a.stride:
                # An axis whose last window was dropped, next to one that gains a window: trim the
                # end padding that no window reaches, so that ONNX's ceil formula gives the floor.
                pads[len(geometry) + i] -= a.reach % a.stride
        attributes: dict[str, Any] = {
            "kernel_shape": [a.kernel for a in geometry],
            "strides": [a.stride for a in geometry],
            "pads": pads,
            "ceil_mode": ceil_mode,
        }
        if self.op == "avg":
            # ONNX defaults to excluding padding; PyTorch (and cnndsl) to counting it.
            attributes["count_include_pad"] = 0 if self.exclude_pad else 1
        return tape.op(op, inputs, name, **attributes)
