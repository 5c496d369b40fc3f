"""The whole graph read into layers: every node that computes on data is covered by one pattern (the
several-node ones of fused.py first, then the table of patterns.py); constant and shape arithmetic is
left out, since the spec computes shapes itself. Operators no pattern knows are one diagnostic (E704)."""

from __future__ import annotations

from collections import Counter

import onnx

from ..diagnostics import shorten
from .fused import FUSED
from .graph import Graph, Layer
from .patterns import MATCHERS, Match, unsupported
from .reading import fail

# Nodes that compute shapes or constants only: never layers.
_CONSTANT_OPS = frozenset({"Constant", "Shape", "Size"})


def layers_of(graph: Graph) -> tuple[list[Layer], dict[str, str]]:
    """The layers in node order, and what each covered tensor stands for (an Identity's output is
    its input)."""
    _check_supported(graph)
    layers: list[Layer] = []
    aliases: dict[str, str] = {}
    covered: set[int] = set()
    for node in graph.nodes:
        if id(node) in covered or not _computes_on_data(graph, node):
            continue
        match = _match(graph, node, layers)
        covered.update(id(n) for n in match.covers)
        aliases.update(match.aliases)
        for layer in match.layers:
            layer.inputs = [_resolved(aliases, name) for name in layer.inputs]
            layers.append(layer)
    return layers, {name: _resolved(aliases, name) for name in aliases}


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


def _check_supported(graph: Graph) -> None:
    """Every operator on data must have a pattern: one E704 listing those that have none."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for node in graph.nodes:
        if _computes_on_data(graph, node) and node.op_type not in MATCHERS and node.op_type not in FUSED:
            counts[node.op_type] += 1
            first.setdefault(node.op_type, node.name or node.output[0])
    if counts:
        listed = [f"{op} x{count} (first: '{shorten(first[op], 60)}')" for op, count in sorted(counts.items())]
        raise fail(
            "E704",
            f"{sum(counts.values())} node{'s' if sum(counts.values()) != 1 else ''} of "
            f"{len(counts)} operator{'s' if len(counts) != 1 else ''} with no layer kind: " + ", ".join(listed),
            help="docs/import.md lists the operators and patterns that map to layers",
        )
