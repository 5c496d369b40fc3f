"""Convolution over 1, 2 or 3 spatial axes (the rank comes from the input)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

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
    choice,
    extents,
    integer,
    register,
    shape_text,
    window,
)
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
    number,
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
from .initializers import Literal, Uniform
from .keras_helpers import SPATIAL_PAD, SUBSAMPLE

# The seeds call the padding modes constant, nearest, mirror and wrap; PyTorch says zeros,
# replicate, reflect and circular. Both spellings are accepted; PyTorch's is canonical.
PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
PAD_MODE_SYNONYMS = {"constant": "zeros", "nearest": "replicate", "mirror": "reflect", "wrap": "circular"}


def pad_mode(value: Any, name: str) -> str:
    value = PAD_MODE_SYNONYMS.get(value, value)
    return choice(*PAD_MODES)(value, name)


def check_output_groups(channels: int, groups: int) -> None:
    """E302 unless the groups divide the output channels (at binding: both are known)."""
    if channels % groups:
        raise ArgIssue(
            "E302",
            f"groups must divide the output channels: {channels} channels cannot be split into {groups} groups",
            arg="groups",
        )


def check_input_groups(channels: int, groups: int) -> None:
    """E404 unless the groups divide the input channels (known with the shapes only)."""
    if channels % groups:
        raise ShapeIssue(
            "E404", f"groups must divide the input channels: {channels} channels cannot be split into {groups} groups"
        )


class KernelLiteral(NamedTuple):
    """A kernel written in the spec: its nested-list shape and values in row-major order."""

    shape: tuple[int, ...]
    values: tuple[float, ...]


def kernel_literal(value: Any, name: str) -> KernelLiteral:
    scale = 1.0
    if isinstance(value, WindowValue):  # `[1 1 1] / 3`
        if not isinstance(value.stride, (int, float)) or isinstance(value.stride, bool) or value.stride == 0:
            raise ArgIssue("E301", f"{name} can only be divided by a non-zero number", arg=name)
        value, scale = value.extent, 1.0 / value.stride
    if not isinstance(value, list):
        raise ArgIssue("E301", f"{name} must be an array such as [1 0 -1], got {value!r}", arg=name)
    shape, flat = _flatten(value, name)
    values = tuple(v * scale for v in flat)
    if not all(abs(v) <= _MAX_LITERAL for v in values):  # NaN compares False too
        raise ArgIssue(
            "E303",
            f"{name} has a value too large after the division (more than {_MAX_LITERAL:g})",
            arg=name,
            help="divide by a larger number",
        )
    return KernelLiteral(shape, values)


_MAX_LITERAL = 1e18  # as for any number in a spec; float32 holds it (up to 3.4e38)


def _flatten(value: list[Any], name: str) -> tuple[tuple[int, ...], list[float]]:
    """Shape and row-major values of a rectangular nested list (iterative: nesting can be deep)."""
    shape: list[int] = []
    level: list[Any] = [value]
    while all(isinstance(v, list) for v in level):
        lengths = {len(v) for v in level}
        if 0 in lengths:
            raise ArgIssue("E301", f"{name} has an empty array", arg=name)
        if len(lengths) > 1:
            raise ArgIssue("E301", f"{name} is not rectangular: its rows have different lengths", arg=name)
        if len(shape) == 5:
            raise ArgIssue(
                "E403", f"{name} has more than 5 axes; a kernel has at most (out, in, depth, height, width)", arg=name
            )
        shape.append(lengths.pop())
        level = [v for row in level for v in row]
    if any(isinstance(v, list) for v in level):
        raise ArgIssue("E301", f"{name} is not rectangular: it mixes numbers and rows", arg=name)
    return tuple(shape), [float(v) for v in level]


def keras_window_padding(
    geometry: list[AxisGeometry], mode: str = "zeros"
) -> tuple[str, tuple[tuple[str, Constructor], ...], tuple[str, ...]]:
    """A window's `padding=` in Keras, the padding layer before it and that layer's helper: "same"
    where Keras's padding is the spec's (stride 1, the odd total split evenly or the extra row at
    the end), otherwise "valid" after explicit zeros, or a SpatialPad for another mode."""
    begin, end = [a.pad_begin for a in geometry], [a.pad_end for a in geometry]
    if not any(begin + end):
        return "valid", (), ()
    if mode != "zeros":
        pad = Constructor("SpatialPad", (per_axis_pairs(begin, end), f'mode="{mode}"'))
        return "valid", (("pad", pad),), (SPATIAL_PAD,)
    totals = [(a.kernel - 1) * a.dilation for a in geometry]
    if (
        all(a.stride == 1 for a in geometry)
        and begin == [t // 2 for t in totals]
        and end == [t - t // 2 for t in totals]
    ):
        return "same", (), ()
    zeros = Constructor(f"keras.layers.ZeroPadding{len(geometry)}D", (keras_padding(begin, end),))
    return "valid", (("pad", zeros),), ()


@register
class Conv(ActivationSuffix, Layer):
    kind: ClassVar[str] = "conv"
    summary: ClassVar[str] = "convolution; 1D, 2D or 3D following the input"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "window",
            window(),
            positional=True,
            required=True,
            doc="kernel extent per axis (5, 11x11, 3x3x3), optionally /stride (11x11/4, 3/2x1)",
        ),
        Arg("channels", integer(1), positional=True, required=True, doc="output channels"),
        Arg("pad", padding, Padding(), doc="padding: 2, 1x2 (per axis), 0,1 (begin,end), same, valid"),
        Arg(
            "mode",
            pad_mode,
            "zeros",
            doc="padding mode: zeros, reflect, replicate, circular (also constant, mirror, nearest, wrap)",
        ),
        Arg("dilation", extents(1), (1,), doc="spacing between kernel taps, per axis"),
        Arg("groups", integer(1), 1, doc="channel groups (2 for AlexNet's two GPUs; = channels for depthwise)"),
        Arg("nobias", words=("nobias",), doc="no bias term"),
        Arg("weights", kernel_literal, doc="fixed hand-crafted kernel, e.g. [1 1 1] / 3; implies no bias"),
        *suffix_args(),
    )
    examples: ClassVar[tuple[str, ...]] = (
        "conv 3 4",
        "conv 3/2 6 pad 1 groups 2 nobias relu",
        "conv 3 4 pad 2 mode reflect dilation 2 leakyrelu 0.1",
        "conv 2 4 pad 0,1 mode circular gelu",
    )
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)
    is_convolution: ClassVar[bool] = True

    window: WindowValue
    channels: int
    pad: Padding = Padding()
    mode: str = "zeros"
    dilation: tuple[int, ...] = (1,)
    groups: int = 1
    nobias: str | None = None
    weights: KernelLiteral | None = None
    activation: str | None = None
    activation_value: float | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> Conv:
        check_output_groups(args["channels"], args["groups"])
        args["activation_value"] = checked_value(args["activation"], args["activation_value"])
        return cls(**args)

    @property
    def bias(self) -> bool:
        return self.nobias is None and self.weights is None

    def _geometry(self, in_shape: Shape) -> list[AxisGeometry]:
        return axes(in_shape[1:], self.window.extent, self.window.stride, self.dilation, self.pad)

    def kernel_shape(self, in_shape: Shape) -> tuple[int, ...]:
        """The kernel's extent per spatial axis (no padding or output sizes needed for that)."""
        return broadcast(self.window.extent, len(in_shape) - 1, "kernel")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        channels = in_shape[0]
        check_input_groups(channels, self.groups)
        geometry = self._geometry(in_shape)
        if self.mode in ("reflect", "circular"):
            for axis in geometry:
                if max(axis.pad_begin, axis.pad_end) >= axis.size + (self.mode == "circular"):
                    raise ShapeIssue(
                        "E302",
                        f"{self.mode} padding of {max(axis.pad_begin, axis.pad_end)} "
                        f"needs an input larger than {axis.size}",
                    )
        if self.weights is not None:
            expected = (self.channels, channels // self.groups, *(a.kernel for a in geometry))
            if self.weights.shape not in (expected, expected[2:]) or (
                self.weights.shape == expected[2:] and expected[:2] != (1, 1)
            ):
                raise ShapeIssue(
                    "E403",
                    f"the literal kernel has shape {shape_text(self.weights.shape)}, "
                    f"but this convolution needs {shape_text(expected)}",
                    notes=["shape is (output channels, input channels per group, *kernel)"],
                )
        return (self.channels, *output_sizes(geometry, "kernel"))

    def dropped_input(self, in_shape: Shape) -> list[tuple[int, str]]:
        return dropped_rows(self._geometry(in_shape))

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        return (window_reach(self._geometry(inputs[0]), self.mode),)

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        in_shape = inputs[0]
        kernel = self.kernel_shape(in_shape)
        fan_in = in_shape[0] // self.groups * math.prod(kernel)
        shape = (self.channels, in_shape[0] // self.groups, *kernel)
        if self.weights is not None:
            return (Weight("weight", shape, Literal(self.weights.values)),)
        bias = (Weight("bias", (self.channels,), Uniform(fan_in)),) if self.bias else ()
        return (Weight("weight", shape, Uniform(fan_in)), *bias)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        in_shape = inputs[0]
        weights = self.channels * (in_shape[0] // self.groups) * math.prod(self.kernel_shape(in_shape))
        return weights * math.prod(output[1:])

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return 2 * self.macs(inputs, output) + self.suffix_flops(output, self.bias)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return self.kept_with_suffix(output)

    def opset_needed(self, inputs: list[Shape]) -> tuple[int, str]:
        # ONNX's Pad has mode 'wrap' from opset 19; without padding no Pad node is emitted.
        wraps = self.mode == "circular" and any(pads_for_onnx(self._geometry(inputs[0])))
        return self.with_function_opset((19, "Pad (mode wrap)") if wraps else (MIN_OPSET, "Conv"))

    @property
    def ends_with_bias(self) -> bool:
        return self.bias and not self.activation

    def describe(self) -> str:
        parts = describe_window(self.window, self.pad)
        if self.mode != "zeros":
            parts.append(self.mode)
        if self.dilation != (1,):
            parts.append("dilation " + "x".join(map(str, self.dilation)))
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if self.weights is not None:
            parts.append("fixed weights")
        elif not self.bias:
            parts.append("nobias")
        if self.activation:
            parts.append(suffix_text(self.activation, self.activation_value))
        return ", ".join(parts)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        if self.weights is not None:
            raise NoTorchForm("a convolution with a literal kernel (`weights [...]`) has no PyTorch form yet")
        in_shape = inputs[0]
        geometry = self._geometry(in_shape)
        begin, end = [a.pad_begin for a in geometry], [a.pad_end for a in geometry]
        arguments = [str(in_shape[0]), str(self.channels), f"kernel_size={extent([a.kernel for a in geometry])}"]
        if any(a.stride != 1 for a in geometry):
            arguments.append(f"stride={extent([a.stride for a in geometry])}")
        call = "{m}({x})"
        if begin != end:  # torch pads both ends alike: the rest is padded before
            mode = "" if self.mode == "zeros" else f', mode="{self.mode}"'
            call = f"{{m}}(F.pad({{x}}, {torch_padding(begin, end)}{mode}))"
        elif any(begin):
            arguments.append(f"padding={extent(begin)}")
            if self.mode != "zeros":
                arguments.append(f'padding_mode="{self.mode}"')
        if any(a.dilation != 1 for a in geometry):
            arguments.append(f"dilation={extent([a.dilation for a in geometry])}")
        if self.groups != 1:
            arguments.append(f"groups={self.groups}")
        if not self.bias:
            arguments.append("bias=False")
        module = Constructor(torch_class("Conv", in_shape), tuple(arguments))
        return TorchCode(module, call, activation=self.torch_suffix())

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        in_shape = inputs[0]
        geometry = self._geometry(in_shape)
        padding, before, helpers = keras_window_padding(geometry, self.mode)
        strides, dilation = [a.stride for a in geometry], [a.dilation for a in geometry]
        after: tuple[tuple[str, Constructor], ...] = ()
        if any(s != 1 for s in strides) and any(d != 1 for d in dilation):
            # Keras refuses both at once: the dilated convolution at stride 1, then every stride-th position
            after, helpers = (("subsample", Constructor("Subsample", (per_axis(strides),))),), (*helpers, SUBSAMPLE)
            strides = [1] * len(strides)
        arguments = [extent([a.kernel for a in geometry])]
        if any(s != 1 for s in strides):
            arguments.append(f"strides={extent(strides)}")
        arguments.append(f'padding="{padding}"')
        if any(d != 1 for d in dilation):
            arguments.append(f"dilation_rate={extent(dilation)}")
        kernel = KerasWeight("weight", "kernel", channels_last_kernel(len(geometry)))
        depthwise = self.groups == in_shape[0] > 1 and len(geometry) < 3  # Keras has no DepthwiseConv3D
        if depthwise:
            arguments.append(f"depth_multiplier={self.channels // self.groups}")
            window = tuple(a.kernel for a in geometry)
            kernel = KerasWeight("weight", "kernel", (*range(2, len(geometry) + 2), 0, 1), (self.groups, -1, *window))
        else:
            arguments.insert(0, str(self.channels))
            if self.groups != 1:
                arguments.append(f"groups={self.groups}")
        if not self.bias:
            arguments.append("use_bias=False")
        if self.weights is not None:  # fixed, and from the start the literal in Keras's layout
            shape = kernel.reshape or self.parameters(inputs)[0].shape
            values = f"np.reshape([{', '.join(map(number, self.weights.values))}], {shape})"
            initial = f"keras.initializers.Constant(np.transpose({values}, {kernel.axes}))"
            arguments += [f"{'depthwise' if depthwise else 'kernel'}_initializer={initial}", "trainable=False"]
        activation, function = self.keras_suffix()
        stem = "DepthwiseConv" if depthwise else "Conv"
        layer = Constructor(keras_class(stem, in_shape), (*arguments, *activation))
        weights = (kernel, KerasWeight("bias", "bias")) if self.bias else (kernel,)
        return KerasCode(layer, before=before, weights=weights, helpers=helpers, activation=function, after=after)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        in_shape = in_shapes[0]
        geometry = self._geometry(in_shape)
        pads = pads_for_onnx(geometry)
        x = inputs[0]
        if self.mode != "zeros" and any(pads):
            rank = len(geometry)
            full = [0, 0, *pads[:rank], 0, 0, *pads[rank:]]
            padded = (in_shape[0], *(a.size + a.pad_begin + a.pad_end for a in geometry))
            x = tape.op(
                "Pad",
                [x, tape.constant(f"{name}.pads", full, integer=True)],
                f"{name}.padded",
                shape=padded,
                mode=PAD_MODES[self.mode],
            )
            pads = [0] * len(pads)
        operands = [x, *tape.weights(name, self.parameters(in_shapes))]
        y = tape.op(
            "Conv",
            operands,
            self.own_output(name, "conv"),
            kernel_shape=[a.kernel for a in geometry],
            strides=[a.stride for a in geometry],
            pads=pads,
            dilations=[a.dilation for a in geometry],
            group=self.groups,
        )
        return self.emit_function_after(tape, name, y)
