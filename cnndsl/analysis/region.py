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
from ..layers.reach import SAME, WHOLE, Window

Positions = range | set[int]  # a contiguous run is kept as a range: whole axes cost nothing


def region(
    graph: Graph, shapes: dict[Node, Shape], node: Node, at: tuple[int, ...]
) -> tuple[tuple[int, int], ...] | None:
    """The first and last real input position, per axis, that the value of `node` at position
    `at` depends on; None when it depends on none."""
    index = {n: i for i, n in enumerate(graph.nodes)}
    reads: dict[Node, list[Positions]] = {node: [range(p, p + 1) for p in at]}
    for current in reversed(graph.nodes[: index[node] + 1]):
        sets = reads.pop(current, None)
        if sets is None:
            continue
        if any(not s for s in sets):
            continue  # an empty axis: no position at all
        if current.layer is None:
            return tuple((s[0], s[-1]) if isinstance(s, range) else (min(s), max(s)) for s in sets)
        in_shapes = [shapes[p] for p in current.inputs]
        reaches = current.layer.reach(in_shapes, shapes[current])
        for producer, reach, shape in zip(current.inputs, reaches, in_shapes, strict=True):
            if reach is None:
                continue
            spatial = shape[1:]
            found: list[Positions]
            if reach is SAME:
                found = list(sets)
            elif reach is WHOLE or (not reach and spatial):
                found = [range(n) for n in spatial]
            else:
                found = [_read(axis_reach, s, n) for axis_reach, s, n in zip(reach, sets, spatial, strict=True)]
            known = reads.get(producer)
            reads[producer] = found if known is None else [_union(a, b) for a, b in zip(known, found, strict=True)]
    return None


def _read(reach: Any, positions: Positions, n: int) -> Positions:
    """The positions of an input of extent `n` that `positions` of the output read."""
    if type(reach) is Window and reach.mode == "zeros" and reach.dilation == 1:
        if reach.stride == 0:  # every position reads the same ones
            return range(max(0, -reach.pad), min(n, reach.kernel - reach.pad))
        if isinstance(positions, range) and reach.stride <= reach.kernel:  # windows that touch
            begin = positions[0] * reach.stride - reach.pad
            end = positions[-1] * reach.stride - reach.pad + reach.kernel
            return range(max(0, begin), min(n, end))
    result: set[int] = set()
    for o in positions:
        result.update(reach.read(o, n))
    return result


def _union(a: Positions, b: Positions) -> Positions:
    a, b = _run(a), _run(b)
    if isinstance(a, range) and isinstance(b, range) and a.start <= b.stop and b.start <= a.stop:
        return range(min(a.start, b.start), max(a.stop, b.stop))
    if isinstance(a, range) and all(p in a for p in b):
        return a
    if isinstance(b, range) and all(p in b for p in a):
        return b
    return set(a) | set(b)


def _run(positions: Positions) -> Positions:
    """A set of consecutive positions as a range."""
    if isinstance(positions, range) or not positions:
        return positions
    low, high = min(positions), max(positions)
    return range(low, high + 1) if high - low + 1 == len(positions) else positions
