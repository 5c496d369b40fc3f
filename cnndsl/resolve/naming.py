"""Naming: every node's hierarchical name (`layer3.2.conv1`), from its label or the next free
automatic name (`conv3`) within its prefix; a label taken twice is E210."""

from __future__ import annotations

from ..diagnostics import DiagnosticSink, Label, error
from ..ir import Graph, Node
from ..layers.base import Layer
from ..source import Span
from ..syntax import ast
from .budget import Budget
from .frames import Frame


class Namer:
    """Names nodes and adds them to the graph, charging each to the budget."""

    def __init__(self, sink: DiagnosticSink, budget: Budget, graph: Graph):
        self.sink = sink
        self.budget = budget
        self.graph = graph

    def add_node(
        self,
        frame: Frame,
        element: ast.Element,
        layer: Layer,
        inputs: tuple[Node, ...],
        span: Span | None = None,
        local: str | None = None,
    ) -> Node:
        if local is None:
            local = self.local_name(frame, element.label, layer.display_kind, element.head_span)
            if frame.positions is not None:  # `conv 3x3 64 relu`: the relu is a module of its own
                frame.positions[0] += layer.sequence_positions - 1
        budget = self.budget
        budget.layer(frame.source, element.span)
        name = budget.name(frame.source, frame.prefix + local, element.span)
        node = Node(name, layer, inputs, frame.source, span or element.head_span, frame.scope)
        self.graph.nodes.append(node)
        return node

    def local_name(self, frame: Frame, label: ast.Name | None, base: str, span: Span | None = None) -> str:
        """The node's name within its prefix: its label, or the next free automatic name (conv3).
        `span` locates an unlabelled element, for the second diagnostic of a clash."""
        if label is None and frame.positions is None:
            name = frame.auto_name(base)
        else:
            name = frame.next_position() if label is None else label.id
            if label is not None and frame.positions is not None and name.isdigit():
                frame.positions[0] = int(name) + 1  # `3: conv` inside a seq: the next is 4
            if name == "in":
                assert label is not None
                self.sink.add(
                    error(
                        "E210",
                        "'in' cannot label a layer: it names the input of every body",
                        Label(frame.source, label.span),
                        help="choose another label",
                    )
                )
            elif name in frame.taken:
                first = frame.taken[name]
                automatic = frame.source.text[first.start : first.end] != name
                self.sink.add(
                    error(
                        "E210",
                        f"the name '{name}' is used twice",
                        Label(frame.source, label.span if label else (span or Span(0, 0))),
                        secondary=[
                            Label(
                                frame.source,
                                first,
                                "this layer is named '" + name + "' automatically" if automatic else "first used here",
                            )
                        ],
                        help="choose another label" + (", or label the first layer too" if automatic else ""),
                    )
                )
        frame.taken[name] = label.span if label else (span or Span(0, 0))
        return name
