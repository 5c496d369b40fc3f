"""Tensor shapes while resolving: what `in.c` and `x.h` read.

An expression may read the shape of a tensor already built (`conv 1x1 (in.c / 2)`), so the
resolver needs some shapes before the shape pass runs. `TensorShapes` computes the shape of a
node on demand with the layers' own rule (`Layer.output_shape`), walking back only as far as no
shape is known yet, and keeps every shape it computes: each node's shape is computed once however
often it is read. The walk uses an explicit stack, so a chain of thousands of layers needs no deep
recursion. The shape pass (cnndsl.analysis) computes all shapes again afterwards and reports
their errors; a shape that cannot be computed here is `ShapeUnknown`, which names the layer that
fails and why, since the shape pass never runs when resolving reports an error.
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..layers.base import MAX_EXTENT, Shape, ShapeIssue, shape_text


class ShapeUnknown(Exception):
    """The shape of a node cannot be computed: `failing` is the first layer on its way whose
    shape rule fails, with that rule's code and message."""

    def __init__(self, failing: Node, code: str, message: str):
        super().__init__(message)
        self.failing, self.code, self.message = failing, code, message


class TensorShapes:
    """The output shape of any node of a graph under construction, computed when first asked."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.known: dict[Node, Shape] = {}
        self.unknown: dict[Node, ShapeUnknown] = {}

    def of(self, node: Node) -> Shape:
        """The node's output shape (batch axis excluded); ShapeUnknown when a layer on its way fails."""
        known, unknown = self.known, self.unknown
        pending = [node]
        while pending:
            current = pending[-1]
            if current in known or current in unknown:
                pending.pop()
                continue
            missing = [p for p in current.inputs if p not in known and p not in unknown]
            if missing:
                pending.extend(missing)
                continue
            pending.pop()
            failed = next((unknown[p] for p in current.inputs if p in unknown), None)
            if failed is not None:
                unknown[current] = failed  # the first failure explains every shape after it
            else:
                self._compute(current)
        if node in unknown:
            raise unknown[node]
        return known[node]

    def _compute(self, node: Node) -> None:
        layer = node.layer
        if layer is None:  # the graph input
            self.known[node] = self.graph.input_shape
            return
        try:
            shape = layer.output_shape([self.known[p] for p in node.inputs])
        except ShapeIssue as issue:
            self.unknown[node] = ShapeUnknown(node, issue.code, issue.message)
            return
        if any(extent > MAX_EXTENT for extent in shape):
            self.unknown[node] = ShapeUnknown(
                node, "E303", f"the output {shape_text(shape)} has an extent over {MAX_EXTENT:,}"
            )
            return
        self.known[node] = shape
