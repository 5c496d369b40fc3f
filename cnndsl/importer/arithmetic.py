"""Modules that exporters spell out as arithmetic, each read back into its one layer: a layer norm as
ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div (then Mul by its scale, Add of its shift), as the
TorchScript exporter writes nn.LayerNorm before opset 17 and as ConvNeXt's own channels-first
LayerNorm is written in Python; hard-swish and hard-sigmoid as Add 3, Clip to [0, 6], Div 6 (and Mul
by the input); GELU as Div by sqrt 2, Erf, Add 1, Mul, Mul 0.5. Each pattern is anchored at its
first node and returns None when the nodes after it are not its own."""

from __future__ import annotations

import math

import numpy as np
import onnx

from .fused import chain, near, other
from .graph import Graph, Layer, attributes, constant_inputs, scalar
from .patterns import Match, stem_of
from .words import keyword


def reduced_axes(graph: Graph, node: onnx.NodeProto) -> list[int] | None:
    """A Reduce node's axes, from its attribute (before opset 18) or its second input (from 18)."""
    values = attributes(node)
    if "axes" in values:
        return [int(axis) for axis in values["axes"]]  # type: ignore[attr-defined]
    given = graph.constant(node.input[1]) if len(node.input) > 1 else None
    return None if given is None else [int(axis) for axis in given.reshape(-1)]


def _reduces_over(graph: Graph, node: onnx.NodeProto, axis: int, rank: int) -> bool:
    axes = reduced_axes(graph, node)
    return axes is not None and [a % rank for a in axes] == [axis] and bool(attributes(node).get("keepdims", 1))


def _squares(graph: Graph, node: onnx.NodeProto, tensor: str) -> bool:
    """Pow(t, 2), or Mul(t, t) as cnndsl's own emitter writes it."""
    if node.op_type == "Pow":
        return node.input[0] == tensor and near(graph.constant(node.input[1]), 2.0)
    return node.op_type == "Mul" and list(node.input) == [tensor, tensor]


def _per_channel(value: np.ndarray | None, rank: int, axis: int, channels: int) -> np.ndarray | None:
    """A constant that broadcasts along `axis` alone (or is one number), as the C values of a layer."""
    if value is None or value.ndim > rank:
        return None
    dims = (1,) * (rank - value.ndim) + value.shape
    if any(d != 1 for i, d in enumerate(dims) if i != axis) or dims[axis] not in (1, channels):
        return None
    return np.broadcast_to(value.reshape(-1), (channels,)).astype(np.float32)


def layer_norm_arithmetic(graph: Graph, mean: onnx.NodeProto, axis: int) -> Match | None:
    """(x - mean) / sqrt(mean((x - mean)^2) + eps), over `axis`, then * scale + shift: layernorm.
    A norm without scale or shift (nn.LayerNorm(elementwise_affine=False)) gets the identity's ones
    and zeros as its parameters, since the language's layer norm always has them."""
    x = mean.input[0]
    shape = graph.shape(x)
    if shape is None or not _reduces_over(graph, mean, axis, len(shape)):
        return None
    sub = graph.only_consumer(mean.output[0])
    if sub is None or sub.op_type != "Sub" or list(sub.input) != [x, mean.output[0]] or sub.output[0] in graph.outputs:
        return None
    centred = sub.output[0]
    readers = graph.readers(centred)
    square = next((node for node in readers if _squares(graph, node, centred)), None)
    divide = next((node for node in readers if node.op_type == "Div" and node.input[0] == centred), None)
    rest = chain(graph, square, ["ReduceMean", "Add", "Sqrt"]) if square is not None and len(readers) == 2 else None
    if rest is None or divide is None or not _reduces_over(graph, rest[1], axis, len(shape)):
        return None
    eps = scalar(graph.constant(other(rest[2], rest[1].output[0])))
    if eps is None or graph.only_consumer(rest[3].output[0]) is not divide or divide.input[1] != rest[3].output[0]:
        return None
    covers, output = [mean, sub, *rest, divide], divide.output[0]
    channels = shape[axis]
    weights = {"weight": np.ones(channels, np.float32), "bias": np.zeros(channels, np.float32)}
    stem = None
    for op, suffix in (("Mul", "weight"), ("Add", "bias")):
        following = graph.only_consumer(output)
        value = (
            _per_channel(graph.constant(other(following, output)), len(shape), axis, channels) if following else None
        )
        if following is None or following.op_type != op or value is None:
            continue
        weights[suffix] = value
        stem = stem or stem_of(graph, other(following, output), f".{suffix}")
        covers.append(following)
        output = following.output[0]
    words = "layernorm" + keyword("eps", eps, 1e-5)
    return Match([Layer(words, [x], output, mean.name or output, weights, stem)], covers)


def channel_layer_norm(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """A layer norm spelled out over the channels of a channels-first tensor (ConvNeXt's own
    LayerNorm with data_format 'channels_first'; nn.LayerNorm on a flat vector)."""
    return layer_norm_arithmetic(graph, node, 1)


def _divides_by_six(graph: Graph, node: onnx.NodeProto, tensor: str) -> bool:
    """Div by 6, or Mul by 1/6, of `tensor`."""
    if node.op_type == "Div":
        return node.input[0] == tensor and near(graph.constant(node.input[1]), 6.0)
    return node.op_type == "Mul" and near(graph.constant(other(node, tensor)), 1 / 6)


def hard_sigmoid_arithmetic(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """clip(x + 3, 0, 6) / 6 (hardsigmoid) and x times it (hardswish), the product before or after
    the division, which may be a product by 1/6."""
    constants = constant_inputs(graph, node)
    if len(node.input) != 2 or len(constants) != 1 or not near(graph.constant(constants[0]), 3.0):
        return None
    x = other(node, constants[0])
    nodes = chain(graph, node, ["Clip"])
    if nodes is None or not _clips_to_six(graph, nodes[1]):
        return None
    clipped = nodes[1].output[0]
    following = graph.only_consumer(clipped)
    if following is None:
        return None
    if _divides_by_six(graph, following, clipped):
        product = graph.only_consumer(following.output[0])
        if product is not None and product.op_type == "Mul" and other(product, following.output[0]) == x:
            return Match([Layer("hardswish", [x], product.output[0], node.name)], [*nodes, following, product])
        return Match([Layer("hardsigmoid", [x], following.output[0], node.name)], [*nodes, following])
    divide = graph.only_consumer(following.output[0])
    if divide is None or following.op_type != "Mul" or other(following, clipped) != x:
        return None
    if not _divides_by_six(graph, divide, following.output[0]):
        return None
    return Match([Layer("hardswish", [x], divide.output[0], node.name)], [*nodes, following, divide])


def _clips_to_six(graph: Graph, clip: onnx.NodeProto) -> bool:
    """Clip to [0, 6]: bounds as inputs (opset 11 on) or attributes (before)."""
    values = attributes(clip)
    low = scalar(graph.constant(clip.input[1])) if len(clip.input) > 1 else values.get("min")
    high = scalar(graph.constant(clip.input[2])) if len(clip.input) > 2 else values.get("max")
    return low == 0 and high == 6


def erf_gelu(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """0.5 * x * (1 + erf(x / sqrt 2)): gelu as the exporters write it before opset 20."""
    x = node.input[0]
    if not near(graph.constant(node.input[1]), math.sqrt(2)):
        return None
    nodes = chain(graph, node, ["Erf", "Add", "Mul", "Mul"])
    if nodes is None or not near(graph.constant(other(nodes[2], nodes[1].output[0])), 1.0):
        return None
    factors = sorted([other(nodes[3], nodes[2].output[0]), other(nodes[4], nodes[3].output[0])], key=lambda f: f != x)
    if factors[0] != x or not near(graph.constant(factors[1]), 0.5):
        return None
    return Match([Layer("gelu", [x], nodes[4].output[0], node.name)], nodes)
