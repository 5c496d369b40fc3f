"""Layers between a Transpose to channels-last and the Transpose back: what exporters write for
PyTorch modules that work on the last axis of a permuted feature map (ConvNeXt's block: LayerNorm,
Linear, GELU, Linear between two Permutes; its LayerNorm2d; PReLU). On the channels-first tensor
each is one of the language's layers: a Linear is a 1x1 convolution (the same weights and MACs), a
layer norm, PReLU or per-channel product over the last axis is `layernorm`, `prelu` or
`layerscale` over the channels, and an element-wise operation is itself. Anything else between the
transposes leaves the region unmatched, and the Transpose is then an error (E706)."""

from __future__ import annotations

from typing import cast

import onnx

from .arithmetic import erf_gelu, hard_sigmoid_arithmetic, layer_norm_arithmetic
from .fused import layer_normalisation, linear, other, prelu_layer, silu
from .graph import Graph, Layer, attributes, constant_inputs, scalar
from .patterns import ELEMENTWISE, MATCHERS, Match, stem_of
from .words import extents

# Element-wise modules of several nodes, by their first node.
_ELEMENTWISE_PATTERNS = {"Sigmoid": silu, "HardSigmoid": silu, "Div": erf_gelu, "Add": hard_sigmoid_arithmetic}


def _permutation(node: onnx.NodeProto) -> list[int]:
    return list(cast("list[int]", attributes(node).get("perm", [])))


def channels_last(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match | None:
    """The layers from a Transpose to channels-last to the Transpose back, one chain on the
    channels-first tensor; transposes with nothing between them are nothing."""
    rank = len(graph.shape(node.input[0]) or ())
    if rank < 3 or _permutation(node) != [0, *range(2, rank), 1]:
        return None
    covers, current = [node], node.output[0]
    inner: list[Layer] = []
    while True:
        readers = graph.readers(current)
        if not readers or current in graph.outputs:
            return None
        following = readers[0]  # a module's first node (a layer norm's ReduceMean before its Sub)
        if following.op_type == "Transpose":
            if len(readers) != 1 or _permutation(following) != [0, rank - 1, *range(1, rank - 1)]:
                return None
            covers.append(following)
            break
        found = _on_the_last_axis(graph, following, rank, [*layers, *inner])
        if found is None or any(all(covered is not reader for covered in found.covers) for reader in readers):
            return None
        covers += found.covers
        inner += found.layers
        current = found.layers[-1].output if found.layers else found.covers[-1].output[0]
    if not inner:
        return Match([], covers, {covers[-1].output[0]: node.input[0]})
    source = node.input[0]
    for layer in inner:
        layer.inputs, source = [source], layer.output
    inner[-1].output = covers[-1].output[0]
    return Match(inner, covers)


def _on_the_last_axis(graph: Graph, node: onnx.NodeProto, rank: int, layers: list[Layer]) -> Match | None:
    """The layer a node computes on a channels-last tensor of `rank`, as if it were channels-first."""
    op = node.op_type
    if op == "LayerNormalization":
        return layer_normalisation(graph, node)
    if op == "ReduceMean":
        return layer_norm_arithmetic(graph, node, rank - 1)
    if op == "PRelu":
        return prelu_layer(graph, node)
    if op == "MatMul":
        return _pointwise_convolution(graph, node, rank)
    if op == "Mul" and len(constant_inputs(graph, node)) == 1:
        return _layer_scale(graph, node, rank)
    if op in _ELEMENTWISE_PATTERNS:
        found = _ELEMENTWISE_PATTERNS[op](graph, node, layers)
        if found is not None:
            return found
    return MATCHERS[op](graph, node) if op in ELEMENTWISE else None


def _pointwise_convolution(graph: Graph, node: onnx.NodeProto, rank: int) -> Match | None:
    """A Linear on the channels at every position: a 1x1 convolution."""
    found = linear(graph, node)
    if found is None:
        return None
    out, into = found.weight.shape
    words = f"conv {extents([1] * (rank - 2))} {out}" + ("" if found.bias is not None else " nobias")
    weights = {**found.weights, "weight": found.weight.reshape(out, into, *[1] * (rank - 2))}
    return Match([Layer(words, [node.input[0]], found.output, node.name, weights, found.stem)], found.covers)


def _layer_scale(graph: Graph, node: onnx.NodeProto, rank: int) -> Match | None:
    """A product by one number (scale) or one per channel (layerscale, stored (C, 1, ...))."""
    (constant,) = constant_inputs(graph, node)
    value = graph.constant(constant)
    if value is None:
        return None
    if scalar(value) is not None:
        return MATCHERS["Mul"](graph, node)
    if value.shape[-1:] != value.reshape(-1).shape:  # more than the last axis varies
        return None
    weight = value.reshape(-1, *[1] * (rank - 2))
    x = other(node, constant)
    layer = Layer("layerscale", [x], node.output[0], node.name, {"weight": weight}, stem_of(graph, constant))
    return Match([layer], [node])
