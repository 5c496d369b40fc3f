"""ONNX operators that are one layer each: a table from op type to the function that reads the node
into a `Layer`. Patterns of several nodes (fused.py, arithmetic.py, channels_last.py) are tried first."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx

from .graph import Graph, Layer, attributes, constant_inputs, data_inputs, scalar
from .reading import fail
from .words import extents, keyword, number, padding, window


@dataclass
class Match:
    """What a pattern read: its layers (none for an operator that changes nothing), the nodes it
    covers, and the tensors that stand for others (an Identity's output for its input)."""

    layers: list[Layer]
    covers: list[onnx.NodeProto]
    aliases: dict[str, str] = field(default_factory=dict)


Matcher = Callable[[Graph, onnx.NodeProto], Match]


def unsupported(node: onnx.NodeProto, why: str) -> Exception:
    return fail(
        "E706",
        f"node '{node.name or node.output[0]}' ({node.op_type}) has no equivalent in the language: {why}",
        help="docs/import.md lists what each operator maps to",
    )


def stem_of(graph: Graph, tensor: str, suffix: str = ".weight") -> str | None:
    """The module path a parameter is stored under (`layer1.0.conv1` for `layer1.0.conv1.weight`)."""
    if not graph.is_parameter(tensor) or "::" in tensor:  # TorchScript's folded 'onnx::Conv_193' is no path
        return None
    return tensor[: -len(suffix)] if tensor.endswith(suffix) else tensor


def one_layer(node: onnx.NodeProto, words: str, inputs: list[str], **options: object) -> Match:
    return Match([Layer(words, inputs, node.output[0], node.name or node.output[0], **options)], [node])  # type: ignore[arg-type]


def _required(graph: Graph, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
    value = graph.constant(node.input[index]) if len(node.input) > index else None
    if value is None:
        raise unsupported(node, f"its {what} is computed, not a constant")
    return value


def _same_pads(
    node: onnx.NodeProto, graph: Graph, kernel: list[int], strides: list[int], dilations: list[int]
) -> list[int]:
    """Explicit pads for auto_pad SAME_LOWER/SAME_UPPER from the input's extents."""
    shape = graph.shape(node.input[0])
    if shape is None:
        raise unsupported(node, "auto_pad on an input of unknown shape")
    begin, end = [], []
    for n, k, s, d in zip(shape[2:], kernel, strides, dilations, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, large = total // 2, total - total // 2
        lower = attributes(node).get("auto_pad") == b"SAME_LOWER"
        begin.append(large if lower else small)
        end.append(small if lower else large)
    return begin + end


def geometry(graph: Graph, node: onnx.NodeProto, kernel: list[int]) -> tuple[list[int], list[int], list[int]]:
    """Strides, pads and dilations of a Conv or pooling node, auto_pad made explicit."""
    values = attributes(node)
    rank = len(kernel)
    strides = list(values.get("strides", [1] * rank))  # type: ignore[call-overload]
    dilations = list(values.get("dilations", [1] * rank))  # type: ignore[call-overload]
    auto_pad = values.get("auto_pad", b"NOTSET")
    if auto_pad in (b"SAME_UPPER", b"SAME_LOWER"):
        return strides, _same_pads(node, graph, kernel, strides, dilations), dilations
    pads = list(values.get("pads", [0] * 2 * rank))  # type: ignore[call-overload]
    return strides, [0] * 2 * rank if auto_pad == b"VALID" else pads, dilations


def conv(graph: Graph, node: onnx.NodeProto, extra_pads: list[int] | None = None, mode: str = "") -> Match:
    weight = _required(graph, node, 1, "weight")
    bias = graph.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    kernel = list(weight.shape[2:])
    strides, pads, dilations = geometry(graph, node, kernel)
    if extra_pads is not None:
        pads = [a + b for a, b in zip(pads, extra_pads, strict=True)]
    groups = int(attributes(node).get("group", 1))  # type: ignore[call-overload]
    words = f"conv {window(kernel, strides)} {weight.shape[0]}{padding(pads)}{mode}"
    if any(d != 1 for d in dilations):
        words += f" dilation {dilations[0] if len(set(dilations)) == 1 else extents(dilations)}"
    words += f" groups {groups}" if groups != 1 else ""
    weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    words += " nobias" if bias is None else ""
    stem = stem_of(graph, node.input[1])
    return one_layer(node, words, data_inputs(graph, node)[:1], weights=weights, parameter_stem=stem)


def conv_transpose(graph: Graph, node: onnx.NodeProto) -> Match:
    weight = _required(graph, node, 1, "weight")
    bias = graph.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    values = attributes(node)
    if "output_shape" in values or values.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        raise unsupported(node, "output_shape and auto_pad are not spelled in the language; use pads")
    kernel = list(weight.shape[2:])
    strides, pads, dilations = geometry(graph, node, kernel)
    groups = int(values.get("group", 1))  # type: ignore[call-overload]
    words = f"convtranspose {window(kernel, strides)} {weight.shape[1] * groups}{padding(pads)}"
    output_padding = list(values.get("output_padding", []))  # type: ignore[call-overload]
    if any(output_padding):
        words += f" output_padding {extents(output_padding)}"
    if any(d != 1 for d in dilations):
        words += f" dilation {extents(dilations)}"
    words += (f" groups {groups}" if groups != 1 else "") + (" nobias" if bias is None else "")
    weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    return one_layer(
        node, words, data_inputs(graph, node)[:1], weights=weights, parameter_stem=stem_of(graph, node.input[1])
    )


def pool(graph: Graph, node: onnx.NodeProto) -> Match:
    values = attributes(node)
    kernel = list(values["kernel_shape"])  # type: ignore[call-overload]
    strides, pads, dilations = geometry(graph, node, kernel)
    if any(d != 1 for d in dilations):
        raise unsupported(node, "dilated pooling")
    average = node.op_type == "AveragePool"
    # The language's stride defaults to the window, ONNX's to 1: write it unless it is the window.
    stride = str(strides[0]) if len(set(strides)) == 1 else extents(strides)
    shown = extents(kernel) if strides == kernel else f"{extents(kernel)}/{stride}"
    words = f"pool {shown}{' avg' if average else ''}{padding(pads)}"
    words += " ceil" if values.get("ceil_mode", 0) else ""
    if average and not values.get("count_include_pad", 0) and (any(pads) or values.get("ceil_mode", 0)):
        words += " exclude_pad"
    return one_layer(node, words, data_inputs(graph, node))


def global_pool(graph: Graph, node: onnx.NodeProto) -> Match:
    return one_layer(
        node, f"pool {'avg' if node.op_type == 'GlobalAveragePool' else 'max'} global", data_inputs(graph, node)
    )


def reduce_mean(graph: Graph, node: onnx.NodeProto) -> Match:
    """A mean over every spatial axis, keeping them: global average pooling as exporters spell it."""
    values = attributes(node)
    shape = graph.shape(node.input[0]) or ()
    axes = values.get("axes") or (list(graph.constant(node.input[1])) if len(node.input) > 1 else None)  # type: ignore[arg-type]
    spatial = set(range(2, len(shape)))
    if not axes or {int(a) % len(shape) for a in axes} != spatial or not values.get("keepdims", 1) or not spatial:  # type: ignore[attr-defined]
        raise unsupported(node, "only a mean over every spatial axis, keeping them, is a layer (global pooling)")
    return one_layer(node, "pool avg global", data_inputs(graph, node)[:1])


def batch_norm(graph: Graph, node: onnx.NodeProto) -> Match:
    names = ("weight", "bias", "running_mean", "running_var")
    weights = {name: _required(graph, node, i + 1, name) for i, name in enumerate(names)}
    eps = float(attributes(node).get("epsilon", 1e-5))  # type: ignore[arg-type]
    stem = stem_of(graph, node.input[1])
    return one_layer(
        node, "bn" + keyword("eps", eps, 1e-5), data_inputs(graph, node)[:1], weights=weights, parameter_stem=stem
    )


def gemm(graph: Graph, node: onnx.NodeProto) -> Match:
    values = attributes(node)
    shape = graph.shape(node.input[0])
    if values.get("transA", 0) or shape is None or len(shape) != 2:
        raise unsupported(node, "a Gemm is a layer when it multiplies a flat input by a constant matrix")
    matrix = _required(graph, node, 1, "weight") * float(values.get("alpha", 1.0))  # type: ignore[arg-type]
    weight = matrix if values.get("transB", 0) else matrix.T
    weights = {"weight": np.ascontiguousarray(weight)}
    if len(node.input) > 2 and node.input[2]:
        bias = _required(graph, node, 2, "bias") * float(values.get("beta", 1.0))  # type: ignore[arg-type]
        weights["bias"] = np.broadcast_to(bias, (weight.shape[0],)).copy()
    words = f"fc {weight.shape[0]}" + ("" if "bias" in weights else " nobias")
    return one_layer(
        node, words, data_inputs(graph, node)[:1], weights=weights, parameter_stem=stem_of(graph, node.input[1])
    )


def flatten(graph: Graph, node: onnx.NodeProto) -> Match:
    source, target = graph.shape(node.input[0]), graph.shape(node.output[0])
    if node.op_type == "Flatten" and int(attributes(node).get("axis", 1)) != 1:  # type: ignore[call-overload]
        raise unsupported(node, "only a flatten from axis 1 keeps the batch axis")
    if source is None or target is None or target != (source[0], math.prod(source[1:])):
        raise unsupported(node, "only a reshape to (batch, features) is a layer (flatten)")
    if len(source) == 2:  # already flat: the reshape changes nothing
        return Match([], [node], {node.output[0]: node.input[0]})
    return one_layer(node, "flatten", [node.input[0]])


def identity(graph: Graph, node: onnx.NodeProto) -> Match:
    return Match([], [node], {node.output[0]: node.input[0]})


def dropout(graph: Graph, node: onnx.NodeProto) -> Match:
    ratio = scalar(graph.constant(node.input[1])) if len(node.input) > 1 else None
    ratio = float(attributes(node).get("ratio", 0.5)) if ratio is None else ratio  # type: ignore[arg-type]
    return one_layer(node, "dropout" + keyword("", ratio, 0.5), [node.input[0]])


# Element-wise activations of one operator, with the attribute that is their number and its default.
_ACTIVATIONS: dict[str, tuple[str, str, float]] = {
    "Relu": ("relu", "", 0.0),
    "Sigmoid": ("sigmoid", "", 0.0),
    "Tanh": ("tanh", "", 0.0),
    "Softplus": ("softplus", "", 0.0),
    "Mish": ("mish", "", 0.0),
    "HardSwish": ("hardswish", "", 0.0),
    "Elu": ("elu", "alpha", 1.0),
    "LeakyRelu": ("leakyrelu", "alpha", 0.01),
}


def activation(graph: Graph, node: onnx.NodeProto) -> Match:
    word, attribute, default = _ACTIVATIONS[node.op_type]
    if attribute:
        value = float(attributes(node).get(attribute, default))  # type: ignore[arg-type]
        word += keyword("", value, default)
    return one_layer(node, word, data_inputs(graph, node)[:1])


def gelu(graph: Graph, node: onnx.NodeProto) -> Match:
    tanh = attributes(node).get("approximate", b"none") == b"tanh"
    return one_layer(node, "gelu tanh" if tanh else "gelu", data_inputs(graph, node)[:1])


def hard_sigmoid(graph: Graph, node: onnx.NodeProto) -> Match:
    values = attributes(node)
    if abs(float(values.get("alpha", 0.2)) - 1 / 6) > 1e-6 or abs(float(values.get("beta", 0.5)) - 0.5) > 1e-6:  # type: ignore[arg-type]
        raise unsupported(node, "hardsigmoid is PyTorch's, relu6(x + 3) / 6 (alpha 1/6, beta 1/2)")
    return one_layer(node, "hardsigmoid", data_inputs(graph, node)[:1])


def clip(graph: Graph, node: onnx.NodeProto) -> Match:
    values = attributes(node)
    low = scalar(graph.constant(node.input[1])) if len(node.input) > 1 else values.get("min")
    high = scalar(graph.constant(node.input[2])) if len(node.input) > 2 else values.get("max")
    if low == 0 and high == 6:
        return one_layer(node, "relu6", data_inputs(graph, node)[:1])
    if low == 0 and (high is None or high == float("inf")):
        return one_layer(node, "relu", data_inputs(graph, node)[:1])
    raise unsupported(node, f"a clip to [{low}, {high}] is neither relu6 (0 to 6) nor relu")


def softmax(graph: Graph, node: onnx.NodeProto) -> Match:
    shape = graph.shape(node.input[0]) or ()
    axis = int(attributes(node).get("axis", -1 if len(shape) == 2 else 1))  # type: ignore[call-overload]
    if not shape or axis % len(shape) != 1:
        raise unsupported(node, "a softmax is over the channel axis")
    return one_layer(node, "softmax", data_inputs(graph, node)[:1])


def lrn(graph: Graph, node: onnx.NodeProto) -> Match:
    values = attributes(node)
    words = f"lrn {values['size']}" + keyword("alpha", float(values.get("alpha", 1e-4)), 1e-4)  # type: ignore[arg-type]
    words += keyword("beta", float(values.get("beta", 0.75)), 0.75) + keyword("k", float(values.get("bias", 1.0)), 1.0)  # type: ignore[arg-type]
    return one_layer(node, words, data_inputs(graph, node)[:1])


def concat(graph: Graph, node: onnx.NodeProto) -> Match:
    rank = len(graph.shape(node.output[0]) or ())
    if int(attributes(node)["axis"]) % max(rank, 1) != 1 or constant_inputs(graph, node):  # type: ignore[call-overload]
        raise unsupported(node, "a concatenation joins data tensors on the channel axis")
    if len(node.input) == 1:  # torch.cat([x]): DenseNet's first layer of each block; x itself
        return identity(graph, node)
    return one_layer(node, "concat", list(node.input), takes_tensors=True)


def merge(graph: Graph, node: onnx.NodeProto) -> Match:
    """Add, Sum and Mul of data tensors; a Mul or Div by a constant is a scale or a layer scale."""
    if constant_inputs(graph, node):
        return _constant_factor(graph, node)
    shapes = {graph.shape(name) for name in node.input}
    if node.op_type != "Mul" and len(shapes) != 1:
        raise unsupported(node, "a sum of tensors of different shapes (the language does not broadcast a sum)")
    word = "mul" if node.op_type == "Mul" else "add"
    return one_layer(node, word, list(node.input), takes_tensors=True)


def _constant_factor(graph: Graph, node: onnx.NodeProto) -> Match:
    (operand,) = data_inputs(graph, node) or [""]
    (constant,) = constant_inputs(graph, node)
    value = graph.constant(constant)
    if node.op_type not in ("Mul", "Div") or value is None or (operand != node.input[0] and node.op_type == "Div"):
        raise unsupported(node, "arithmetic with a constant that is no layer's")
    factor = scalar(value)
    if factor is not None and not graph.is_parameter(constant):
        return one_layer(node, f"scale {number(factor if node.op_type == 'Mul' else 1 / factor)}", [operand])
    shape = graph.shape(operand) or ()
    if node.op_type == "Mul" and value.shape in (
        (shape[1], *[1] * (len(shape) - 2)),
        (1, shape[1], *[1] * (len(shape) - 2)),
    ):
        weight = value.reshape((shape[1], *[1] * (len(shape) - 2)))
        return one_layer(
            node, "layerscale", [operand], weights={"weight": weight}, parameter_stem=stem_of(graph, constant)
        )
    raise unsupported(node, f"a product with a constant of shape {value.shape} (a layer scale is per channel)")


# Operators that act on each element alone: the same layer whatever the axes' order (channels last).
ELEMENTWISE = frozenset({*_ACTIVATIONS, "Gelu", "HardSigmoid", "Clip", "Identity", "Dropout"})

MATCHERS: dict[str, Matcher] = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "ReduceMean": reduce_mean,
    "BatchNormalization": batch_norm,
    "Gemm": gemm,
    "Flatten": flatten,
    "Reshape": flatten,
    "Identity": identity,
    "Dropout": dropout,
    **dict.fromkeys(_ACTIVATIONS, activation),
    "Gelu": gelu,
    "HardSigmoid": hard_sigmoid,
    "Clip": clip,
    "Softmax": softmax,
    "LRN": lrn,
    "Concat": concat,
    "Add": merge,
    "Sum": merge,
    "Mul": merge,
    "Div": merge,
}
