"""Receptive fields, one position exactly: the backward pass of docs/analysis.md, "Receptive
fields" (the forward pass, over every tensor, is analysis/receptive.py).

From one position of a tensor, the set of positions per axis of every tensor it depends on,
following each layer's declaration (`Layer.reach`) back to the input: only positions that exist
are kept at each tensor (padding depends on nothing, a reflected row on its mirror), and an
interpolation weight that is exactly 0 reads nothing. The bounding box of what is left at the
input is what the gradient of that value with respect to the input is nonzero on.
"""

from __future__ import annotations

from typing import Any

from ..ir import Graph, Node
from ..layers.base import Shape
from ..layers.reach import WHOLE


def region(
    graph: Graph, shapes: dict[Node, Shape], node: Node, at: tuple[int, ...]
) -> tuple[tuple[int, int], ...] | None:
    """The first and last real input position, per axis, that the value of `node` at position
    `at` depends on; None when it depends on none."""
    index = {n: i for i, n in enumerate(graph.nodes)}
    reads: dict[Node, list[set[int]]] = {node: [{p} for p in at]}
    for current in reversed(graph.nodes[: index[node] + 1]):
        sets = reads.pop(current, None)
        if sets is None:
            continue
        if any(not s for s in sets):
            continue  # an empty axis: no position at all
        if current.layer is None:
            return tuple((min(s), max(s)) for s in sets)
        in_shapes = [shapes[p] for p in current.inputs]
        reaches = current.layer.reach(in_shapes, shapes[current])
        for producer, reach, shape in zip(current.inputs, reaches, in_shapes, strict=True):
            if reach is None:
                continue
            spatial = shape[1:]
            if reach is WHOLE or (not reach and spatial):
                found = [set(range(n)) for n in spatial]
            else:
                found = [_read(axis_reach, s, n) for axis_reach, s, n in zip(reach, sets, spatial, strict=True)]
            if producer in reads:
                for target, more in zip(reads[producer], found, strict=True):
                    target |= more
            else:
                reads[producer] = found
    return None


def _read(reach: Any, positions: set[int], n: int) -> set[int]:
    result: set[int] = set()
    for o in positions:
        result.update(reach.read(o, n))
    return result
