"""Transposed convolution (PyTorch's ConvTranspose1d/2d/3d): the upsampling convolution of U-Net's
decoder and of segmentation heads. Each input pixel scatters a kernel-sized patch, `stride` apart:

    out = (n - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + output_padding + 1

per spatial axis. Padding removes rows from the output's edges, and output padding adds rows at the
end, which tells apart the input sizes that a strided convolution maps to the same size.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .activation import ActivationSuffix, checked_value, suffix_args, suffix_text
from .base import (
    MIN_OPSET,
    Arg,
    ArgIssue,
    Kept,
    Layer,
    Shape,
    ShapeIssue,
    WindowValue,
    broadcast,
    extents,
    integer,
    register,
    window,
)
from .conv import check_input_groups, check_output_groups
from .emission import Emitter, Weight
from .framework import (
    Constructor,
    KerasCode,
    KerasWeight,
    NoTorchForm,
    TorchCode,
    channels_last_kernel,
    extent,
    keras_class,
    keras_padding,
    per_axis,
    torch_class,
)
from .geometry import AXIS_NAMES, Padding, describe_window, padding
from .initializers import Uniform
from .keras_helpers import GROUPED_CONV_TRANSPOSE
from .reach import Scatter


@register
class ConvTranspose(ActivationSuffix, Layer):
    kind: ClassVar[str] = "convtranspose"
    aliases: ClassVar[tuple[str, ...]] = ("upconv",)
    summary: ClassVar[str] = "transposed convolution (upsampling); 1D, 2D or 3D following the input"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "window",
            window(),
            positional=True,
            required=True,
            doc="kernel extent per axis, optionally /stride (2x2/2 doubles the size)",
        ),
        Arg("channels", integer(1), positional=True, required=True, doc="output channels"),
        Arg("pad", padding, Padding(), doc="rows removed from the output's edges: 1, 1x2, 0,1 (begin,end)"),
        Arg("output_padding", extents(0), (0,), doc="rows added at the output's end, below the stride or dilation"),
        Arg("dilation", extents(1), (1,), doc="spacing between kernel taps, per axis"),
        Arg("groups", integer(1), 1, doc="channel groups"),
        Arg("nobias", words=("nobias",), doc="no bias term"),
        *suffix_args(),
    )
    examples: ClassVar[tuple[str, ...]] = (
        "convtranspose 2/2 4",
        "upconv 3/2 6 pad 1 output_padding 1 groups 2 nobias relu",
        "convtranspose 3 4 pad 2 dilation 2 elu",
    )
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)
    is_convolution: ClassVar[bool] = True

    window: WindowValue
    channels: int
    pad: Padding = Padding()
    output_padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    groups: int = 1
    nobias: str | None = None
    activation: str | None = None
    activation_value: float | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> ConvTranspose:
        if args["pad"].mode == "same":
            raise ArgIssue(
                "E302",
                "pad same is not defined for a transposed convolution",
                arg="pad",
                help="give the rows to remove, such as pad 1 for a 3x3/2 kernel (with output_padding 1 to double)",
            )
        check_output_groups(args["channels"], args["groups"])
        args["activation_value"] = checked_value(args["activation"], args["activation_value"])
        return cls(**args)

    def _axes(self, in_shape: Shape) -> list[tuple[int, int, int, int, int, int, int]]:
        """Per spatial axis: size, kernel, stride, dilation, pad begin, pad end, output padding."""
        rank = len(in_shape) - 1
        if rank == 0:
            raise ShapeIssue(
                "E403",
                "a transposed convolution needs a spatial input, but got a flat vector",
                help="remove the flatten before it",
            )
        kernel = broadcast(self.window.extent, rank, "kernel")
        stride = broadcast(self.window.stride, rank, "stride") if self.window.stride else (1,) * rank
        dilation = broadcast(self.dilation, rank, "dilation")
        begin, end = broadcast(self.pad.begin, rank, "padding"), broadcast(self.pad.end, rank, "padding")
        extra = broadcast(self.output_padding, rank, "output_padding")
        return list(zip(in_shape[1:], kernel, stride, dilation, begin, end, extra, strict=True))

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        check_input_groups(in_shape[0], self.groups)
        sizes = []
        axes = self._axes(in_shape)  # E403 for a flat input
        for name, (n, k, s, d, begin, end, extra) in zip(AXIS_NAMES[len(axes)], axes, strict=True):
            if extra >= max(s, d):
                raise ShapeIssue(
                    "E302",
                    f"output_padding {extra} must be below the stride ({s}) or the dilation ({d})",
                    help="output padding chooses among the sizes a stride maps to one; it is at most stride - 1",
                )
            size = (n - 1) * s - begin - end + d * (k - 1) + extra + 1
            if size <= 0:
                raise ShapeIssue(
                    "E401",
                    f"the padding removes the whole output: output {name} would be {size}",
                    notes=[f"{name}: ({n} - 1) * {s} - {begin} - {end} + {d}*({k}-1) + {extra} + 1 = {size}"],
                    help="remove less padding",
                )
            sizes.append(size)
        return (self.channels, *sizes)

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        return (tuple(Scatter(k, s, begin, d) for _, k, s, d, begin, _, _ in self._axes(inputs[0])),)

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        in_shape = inputs[0]
        kernel = broadcast(self.window.extent, len(in_shape) - 1, "kernel")
        # PyTorch's layout (in, out / groups, *kernel) and fan-in (its second axis times the kernel).
        fan_in = self.channels // self.groups * math.prod(kernel)
        bias = () if self.nobias else (Weight("bias", (self.channels,), Uniform(fan_in)),)
        return (Weight("weight", (in_shape[0], self.channels // self.groups, *kernel), Uniform(fan_in)), *bias)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        """Every input value is multiplied by the kernel of each output channel of its group."""
        in_shape = inputs[0]
        kernel = broadcast(self.window.extent, len(in_shape) - 1, "kernel")
        return math.prod(in_shape) * self.channels // self.groups * math.prod(kernel)

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return 2 * self.macs(inputs, output) + self.suffix_flops(output, not self.nobias)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return self.kept_with_suffix(output)

    def opset_needed(self, inputs: list[Shape]) -> tuple[int, str]:
        return self.with_function_opset((MIN_OPSET, "ConvTranspose"))

    @property
    def ends_with_bias(self) -> bool:
        return not self.nobias and not self.activation

    def describe(self) -> str:
        parts = describe_window(self.window, self.pad)
        if self.output_padding != (0,):
            parts.append("output_padding " + "x".join(map(str, self.output_padding)))
        if self.dilation != (1,):
            parts.append("dilation " + "x".join(map(str, self.dilation)))
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if self.nobias:
            parts.append("nobias")
        if self.activation:
            parts.append(suffix_text(self.activation, self.activation_value))
        return ", ".join(parts)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        axes = self._axes(inputs[0])
        begin, end = [a[4] for a in axes], [a[5] for a in axes]
        if begin != end:
            raise NoTorchForm("a transposed convolution with uneven padding has no PyTorch form")
        arguments = [str(inputs[0][0]), str(self.channels), f"kernel_size={extent([a[1] for a in axes])}"]
        optional = {
            "stride": [a[2] for a in axes],
            "padding": begin,
            "output_padding": [a[6] for a in axes],
            "dilation": [a[3] for a in axes],
        }
        default = {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1}
        arguments += [f"{name}={extent(values)}" for name, values in optional.items() if set(values) != {default[name]}]
        if self.groups != 1:
            arguments.append(f"groups={self.groups}")
        if self.nobias:
            arguments.append("bias=False")
        module = Constructor(torch_class("ConvTranspose", inputs[0]), tuple(arguments))
        return TorchCode(module, activation=self.torch_suffix())

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        axes = self._axes(inputs[0])
        kernel, strides, dilation = [a[1] for a in axes], [a[2] for a in axes], [a[3] for a in axes]
        extra = [a[6] for a in axes]
        activation, function = self.keras_suffix()
        bias = ("use_bias=False",) if self.nobias else ()
        # Keras's own takes no groups, no stride with dilation, no output padding of the stride or more.
        if (
            self.groups == 1
            and (set(strides) == {1} or set(dilation) == {1})
            and all(e < s for e, s in zip(extra, strides, strict=True))
        ):
            arguments = [str(self.channels), extent(kernel)]
            arguments += [f"strides={extent(strides)}"] if set(strides) != {1} else []
            arguments += ['padding="valid"', f"output_padding={extent(extra)}"]
            arguments += [f"dilation_rate={extent(dilation)}"] if set(dilation) != {1} else []
            layer = Constructor(f"keras.layers.Conv{len(axes)}DTranspose", (*arguments, *bias, *activation))
            helpers: tuple[str, ...] = ()
        else:
            values = {"strides": strides, "dilation_rate": dilation, "output_padding": extra}
            arguments = [str(self.channels), per_axis(kernel), *(f"{k}={per_axis(v)}" for k, v in values.items())]
            layer = Constructor("GroupedConvTranspose", (*arguments, f"groups={self.groups}", *bias, *activation))
            helpers = (GROUPED_CONV_TRANSPOSE,)
        begin, end = [a[4] for a in axes], [a[5] for a in axes]
        # the padding is rows removed from the output's edges
        crop = Constructor(keras_class("Cropping", inputs[0]), (keras_padding(begin, end),))
        kernel_weight = KerasWeight("weight", "kernel", channels_last_kernel(len(axes)))
        weights = (kernel_weight,) if self.nobias else (kernel_weight, KerasWeight("bias", "bias"))
        after = (("crop", crop),) if any(begin + end) else ()
        return KerasCode(layer, weights=weights, helpers=helpers, activation=function, after=after)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        axes = self._axes(in_shapes[0])
        operands = [inputs[0], *tape.weights(name, self.parameters(in_shapes))]
        y = tape.op(
            "ConvTranspose",
            operands,
            self.own_output(name, "convtranspose"),
            kernel_shape=[a[1] for a in axes],
            strides=[a[2] for a in axes],
            dilations=[a[3] for a in axes],
            pads=[a[4] for a in axes] + [a[5] for a in axes],
            output_padding=[a[6] for a in axes],
            group=self.groups,
        )
        return self.emit_function_after(tape, name, y)
