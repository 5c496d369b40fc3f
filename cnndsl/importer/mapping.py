"""The whole graph read into layers: every node that computes on data is covered by one pattern (the
several-node ones of fused.py, arithmetic.py, channels_last.py and shape_arithmetic.py first, then
the table of patterns.py); constant and shape arithmetic is left out, since the spec computes shapes
itself. Operators that no pattern covers are one diagnostic (E704)."""

from __future__ import annotations

from collections import Counter

import onnx

from ..diagnostics import CnnError, shorten
from .arithmetic import channel_layer_norm, erf_gelu, hard_sigmoid_arithmetic
from .channels_last import channels_last
from .fused import (
    FusedPattern,
    flat_gather,
    instance_norm,
    layer_norm,
    matmul,
    pad_conv,
    prelu,
    resize,
    shuffle,
    silu,
    slice_channels,
)
from .graph import Graph, Layer
from .patterns import MATCHERS, Match, unsupported
from .reading import fail

# Nodes that compute shapes or constants only: never layers.
_CONSTANT_OPS = frozenset({"Constant", "Shape", "Size"})

# The patterns of several nodes by their first node's operator, tried in order before MATCHERS.
FUSED: dict[str, tuple[FusedPattern, ...]] = {
    "Pad": (pad_conv,),
    "Transpose": (channels_last,),
    "Reshape": (shuffle, flat_gather),
    "Sigmoid": (silu,),
    "HardSigmoid": (silu,),
    "Add": (hard_sigmoid_arithmetic,),
    "Div": (erf_gelu,),
    "ReduceMean": (channel_layer_norm,),
    "MatMul": (matmul,),
    "PRelu": (prelu,),
    "LayerNormalization": (layer_norm,),
    "InstanceNormalization": (instance_norm,),
    "GroupNormalization": (instance_norm,),
    "Slice": (slice_channels,),
    "Resize": (resize,),
}


def layers_of(graph: Graph) -> tuple[list[Layer], dict[str, str]]:
    """The layers in node order, and what each covered tensor stands for (an Identity's output is
    its input). A node no table knows is an error only if no pattern covers it (an Erf of a GELU's
    arithmetic is covered): all of them are listed in one E704, even past a failing match (E706)."""
    layers: list[Layer] = []
    aliases: dict[str, str] = {}
    covered: set[int] = set()
    unknown: list[onnx.NodeProto] = []
    for index, node in enumerate(graph.nodes):
        if id(node) in covered or not _computes_on_data(graph, node):
            continue
        if not _known(node):
            unknown.append(node)
            continue
        try:
            match = _match(graph, node, layers)
        except CnnError:
            rest = graph.nodes[index + 1 :]
            unknown += [n for n in rest if id(n) not in covered and _computes_on_data(graph, n) and not _known(n)]
            _check_known(unknown)
            raise
        covered.update(id(n) for n in match.covers)
        aliases.update(match.aliases)
        for layer in match.layers:
            layer.inputs = [_resolved(aliases, name) for name in layer.inputs]
            layers.append(layer)
    _check_known(unknown)
    return layers, {name: _resolved(aliases, name) for name in aliases}


def _known(node: onnx.NodeProto) -> bool:
    return node.op_type in MATCHERS or node.op_type in FUSED


def _match(graph: Graph, node: onnx.NodeProto, layers: list[Layer]) -> Match:
    for pattern in FUSED.get(node.op_type, ()):
        found = pattern(graph, node, layers)
        if found is not None:
            return found
    if node.op_type not in MATCHERS:
        raise unsupported(node, "it is not part of a pattern that makes a layer")
    return MATCHERS[node.op_type](graph, node)


def _computes_on_data(graph: Graph, node: onnx.NodeProto) -> bool:
    return node.op_type not in _CONSTANT_OPS and any(name in graph.data for name in node.input)


def _resolved(aliases: dict[str, str], name: str) -> str:
    while name in aliases:
        name = aliases[name]
    return name


def _check_known(unknown: list[onnx.NodeProto]) -> None:
    """One E704 listing the operators of the nodes no pattern covers, each with its count and first node."""
    if not unknown:
        return
    counts = Counter(node.op_type for node in unknown)
    first: dict[str, str] = {}
    for node in unknown:
        first.setdefault(node.op_type, node.name or node.output[0])
    listed = [f"{op} x{count} (first: '{shorten(first[op], 60)}')" for op, count in sorted(counts.items())]
    raise fail(
        "E704",
        f"{len(unknown)} node{'s' if len(unknown) != 1 else ''} of "
        f"{len(counts)} operator{'s' if len(counts) != 1 else ''} with no layer kind: " + ", ".join(listed),
        help="docs/import.md lists the operators and patterns that map to layers",
    )
