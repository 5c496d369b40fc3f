"""Patterns of several nodes, each anchored at its first node: what compile emits for one layer and
what exporters decompose one module into (the arithmetic spellings of a module are in arithmetic.py,
the layers between two transposes in channels_last.py). A pattern returns None when the nodes after its anchor are
not its own; the one-operator table (patterns.py) then reads the anchor alone."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import onnx

from .graph import Graph, Layer, attributes, data_inputs, scalar
from .patterns import Match, conv, one_layer, stem_of, unsupported
from .words import extents, keyword

FusedPattern = Callable[[Graph, onnx.NodeProto, list[Layer]], Match | None]

_PAD_MODES = {b"reflect": " mode reflect", b"edge": " mode replicate", b"wrap": " mode circular"}


def chain(graph: Graph, node: onnx.NodeProto, ops: Sequence[str]) -> list[onnx.NodeProto] | None:
    """`node` and the nodes after it, each the only reader of the one before, with these op types."""
    nodes = [node]
    for op in ops:
        following = graph.only_consumer(nodes[-1].output[0])
        if following is None or following.op_type != op:
            return None
        nodes.append(following)
    return nodes


def other(node: onnx.NodeProto, name: str) -> str:
    """The operand of a binary node that is not `name`."""
    return str(node.input[1] if node.input[0] == name else node.input[0])


def near(value: np.ndarray | None, target: float) -> bool:
    number = scalar(value)
    return number is not None and abs(number - target) <= 1e-6 * max(1.0, abs(target))


def pad_conv(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """Pad then Conv: the convolution's padding mode (reflect, replicate, circular) or zeros."""
    nodes = chain(graph, node, ["Conv"])
    mode = attributes(node).get("mode", b"constant")
    pads = graph.constant(node.input[1]) if len(node.input) > 1 else attributes(node).get("pads")
    if (
        nodes is None
        or pads is None
        or (
            mode == b"constant"
            and scalar(graph.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(1)) != 0
        )
    ):
        return None
    pads = [int(p) for p in cast("Iterable[int]", pads)]
    rank = len(pads) // 2
    if pads[0] or pads[1] or pads[rank] or pads[rank + 1]:
        return None  # padding of the batch or channel axes is no convolution's
    spatial = pads[2:rank] + pads[rank + 2 :]
    found = conv(graph, nodes[1], spatial, _PAD_MODES.get(cast(bytes, mode), ""))
    found.layers[0].inputs = [node.input[0]]
    return Match(found.layers, nodes)


def layer_normalisation(graph: Graph, node: onnx.NodeProto) -> Match:
    values = attributes(node)
    if int(values.get("axis", -1)) not in (-1, len(graph.shape(node.input[0]) or ()) - 1):  # type: ignore[call-overload]
        raise unsupported(node, "a layer norm is over the channels alone")
    weights = {"weight": graph.constant(node.input[1])}
    if len(node.input) > 2 and node.input[2]:
        weights["bias"] = graph.constant(node.input[2])
    if any(value is None for value in weights.values()) or "bias" not in weights:
        raise unsupported(node, "a layer norm's scale and shift are constants")
    words = "layernorm" + keyword("eps", float(values.get("epsilon", 1e-5)), 1e-5)  # type: ignore[arg-type]
    return one_layer(
        node, words, data_inputs(graph, node), weights=weights, parameter_stem=stem_of(graph, node.input[1])
    )


def prelu_layer(graph: Graph, node: onnx.NodeProto) -> Match:
    slope = graph.constant(node.input[1])
    if slope is None:
        raise unsupported(node, "the slope is computed")
    words = "prelu shared" if slope.size == 1 else "prelu"
    weights = {"weight": slope.reshape(-1)}
    return one_layer(node, words, [node.input[0]], weights=weights, parameter_stem=stem_of(graph, node.input[1]))


def prelu(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    slope = graph.constant(node.input[1])
    shape = graph.shape(node.input[0]) or ()
    if slope is None or not (slope.size == 1 or len(shape) == 2 or slope.shape == (shape[1], *[1] * (len(shape) - 2))):
        return None
    return prelu_layer(graph, node)


def layer_norm(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    return layer_normalisation(graph, node) if len(graph.shape(node.input[0]) or ()) == 2 else None


def instance_norm(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """InstanceNormalization (instancenorm) and GroupNormalization (groupnorm): their scale and
    shift are parameters where they are initializers, the identity's constants otherwise."""
    values = attributes(node)
    eps = keyword("eps", float(values.get("epsilon", 1e-5)), 1e-5)  # type: ignore[arg-type]
    affine = graph.is_parameter(node.input[1])
    weights = {"weight": graph.constant(node.input[1]), "bias": graph.constant(node.input[2])} if affine else {}
    if node.op_type == "InstanceNormalization":
        words = "instancenorm" + (" affine" if affine else "") + eps
    else:
        words = f"groupnorm {values['num_groups']}" + eps + ("" if affine else " noaffine")
    return one_layer(node, words, [node.input[0]], weights=weights, parameter_stem=stem_of(graph, node.input[1]))


def shuffle(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """Reshape to (N, G, C/G, ...), Transpose of the two, Reshape back: a channel shuffle."""
    nodes = chain(graph, node, ["Transpose", "Reshape"])
    source, grouped = graph.shape(node.input[0]), graph.shape(node.output[0])
    if nodes is None or source is None or grouped is None or len(grouped) < 3:
        return None
    if list(attributes(nodes[1]).get("perm", [])) != [0, 2, 1, *range(3, len(grouped))]:  # type: ignore[call-overload]
        return None
    if graph.shape(nodes[2].output[0]) != source or grouped[1] * grouped[2] != source[1]:
        return None
    return Match([Layer(f"shuffle {grouped[1]}", [node.input[0]], nodes[2].output[0], node.name)], nodes)


def silu(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """x * sigmoid(x) (silu) and x * hardsigmoid(x) (hardswish at opset 13)."""
    product = graph.only_consumer(node.output[0])
    if product is None or product.op_type != "Mul" or other(product, node.output[0]) != node.input[0]:
        return None
    if node.op_type == "HardSigmoid" and not _hard_sigmoid_is_pytorchs(node):
        return None
    word = "silu" if node.op_type == "Sigmoid" else "hardswish"
    return Match([Layer(word, [node.input[0]], product.output[0], node.name)], [node, product])


def _hard_sigmoid_is_pytorchs(node: onnx.NodeProto) -> bool:
    values = attributes(node)
    return abs(float(values.get("alpha", 0.2)) - 1 / 6) < 1e-6 and abs(float(values.get("beta", 0.5)) - 0.5) < 1e-6  # type: ignore[arg-type]


@dataclass
class Linear:
    """MatMul by a constant matrix (in x out), then optionally Add of a bias: PyTorch's Linear."""

    weight: np.ndarray  # out x in, as fc and conv store it
    bias: np.ndarray | None
    covers: list[onnx.NodeProto]
    stem: str | None

    @property
    def output(self) -> str:
        return str(self.covers[-1].output[0])

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight} if self.bias is None else {"weight": self.weight, "bias": self.bias}


def linear(graph: Graph, node: onnx.NodeProto) -> Linear | None:
    """The Linear a MatMul starts, on an input of any rank (it multiplies the last axis)."""
    matrix = graph.constant(node.input[1])
    if matrix is None or matrix.ndim != 2 or node.input[0] not in graph.data:
        return None
    found = Linear(np.ascontiguousarray(matrix.T), None, [node], stem_of(graph, node.input[1]))
    add = graph.only_consumer(node.output[0])
    if add is not None and add.op_type == "Add":
        bias = graph.constant(other(add, node.output[0]))
        if bias is not None and bias.size == matrix.shape[1]:
            found.bias = bias.reshape(-1)
            found.covers.append(add)
            found.stem = found.stem or stem_of(graph, other(add, node.output[0]), ".bias")
    return found


def matmul(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """A Linear on a flat input: fc."""
    found = linear(graph, node)
    if found is None or len(graph.shape(node.input[0]) or ()) != 2:
        return None
    words = f"fc {found.weight.shape[0]}" + ("" if found.bias is not None else " nobias")
    layer = Layer(words, [node.input[0]], found.output, node.name, found.weights, found.stem)
    return Match([layer], found.covers)


def slice_channels(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """A slice of the channels (split) or a centred slice of the spatial axes (crop to a tensor)."""
    source, target = graph.shape(node.input[0]), graph.shape(node.output[0])
    starts = graph.constant(node.input[1]) if len(node.input) > 1 else None
    axes = graph.constant(node.input[3]) if len(node.input) > 3 else None
    if source is None or target is None or starts is None:
        return None
    axes_list = [int(a) % len(source) for a in (axes if axes is not None else range(len(starts)))]
    if axes_list == [1]:
        begin, size = int(starts[0]) if starts[0] >= 0 else source[1] + int(starts[0]), target[1]
        sizes = [s for s in (begin, size, source[1] - begin - size) if s]
        part = 0 if begin == 0 else 1
        return one_layer(node, f"split [{' '.join(map(str, sizes))}] part {part}", [node.input[0]])
    reference = _tensor_of_size(graph, target[2:], layers)
    if 1 in axes_list or reference is None:
        return None
    return one_layer(node, "crop", [node.input[0], reference], takes_tensors=True)


def resize(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """Resize by integer factors (upsample) or to another tensor's size (resize_nearest/linear)."""
    values = attributes(node)
    mode = values.get("mode", b"nearest")
    source, target = graph.shape(node.input[0]), graph.shape(node.output[0])
    if source is None or target is None or mode not in (b"nearest", b"linear") or source[:2] != target[:2]:
        return None
    transform = values.get("coordinate_transformation_mode", b"half_pixel")
    if mode == b"linear" and transform not in (b"half_pixel", b"pytorch_half_pixel"):
        raise unsupported(
            node, f"linear resizing with {cast(bytes, transform).decode()} coordinates (PyTorch's align_corners=True?)"
        )
    factors = [t / s for s, t in zip(source[2:], target[2:], strict=True)]
    word = " linear" if mode == b"linear" else ""
    if all(f == int(f) and f >= 1 for f in factors) and len(node.input) > 2 and node.input[2]:
        return one_layer(node, f"upsample {extents([int(f) for f in factors])}{word}", [node.input[0]])
    reference = _tensor_of_size(graph, target[2:], layers)
    if reference is None:
        return None
    return one_layer(node, f"resize_{mode.decode()}", [node.input[0], reference], takes_tensors=True)


def _tensor_of_size(graph: Graph, spatial: tuple[int, ...], layers: list[Layer]) -> str | None:
    """A tensor made before (the input first) whose spatial extents are `spatial`: what a crop or
    resize to a size is written against."""
    for name in [graph.model.input_name, *(layer.output for layer in layers)]:
        shape = graph.shape(name)
        if shape is not None and shape[2:] == spatial:
            return name
    return None


def flat_gather(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """Reshape to one axis, then Gather of 0, 1, 2, ... in the original shape (the dynamo exporter's
    `as_strided` view of a pooled tensor): the input again, for a batch of 1 and of 2."""
    source = node.input[0]
    shape = graph.shape(source)
    gather = graph.only_consumer(node.output[0])
    if shape is None or graph.shape(node.output[0]) != (math.prod(shape),) or gather is None:
        return None
    if gather.op_type != "Gather" or gather.input[0] != node.output[0] or attributes(gather).get("axis", 0) != 0:
        return None
    for batch in (1, 2):
        expected = np.arange(batch * math.prod(shape[1:])).reshape(batch, *shape[1:])
        indices = graph.model.arithmetic.value(gather.input[1], batch)
        if indices is None or indices.shape != expected.shape or np.any(indices != expected):
            return None
    return Match([], [node, gather], {gather.output[0]: source})
