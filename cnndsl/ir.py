"""The intermediate representation: a DAG of typed nodes, even for plain chains.

Nodes are created in topological order by the resolve pass and never change afterwards; later
passes keep their results (shapes, counts) in tables keyed by node.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from .layers.base import Layer, Shape
from .source import Source, Span
from .syntax import ast


class Scope(NamedTuple):
    """One level of nesting: a block instance, a repetition or a branch.

    Scopes link to their parent, so deep nesting costs one object per level, not a copied tuple.
    """

    path: str  # the dotted name prefix of everything inside: 'layer3.2'
    kind: str  # the block's name, 'repeat', 'iteration', 'branch' or 'shortcut'
    parent: Scope | None = None
    call: tuple[Source, Span] | None = None  # a block instance's call, where the spec writes it
    # A block instance's definition and bound arguments (parameter, value), for the PyTorch export's
    # classes with the block's parameters as constructor arguments.
    definition: ast.BlockDef | None = None
    arguments: tuple[tuple[str, object], ...] = ()

    def chain(self) -> tuple[Scope, ...]:
        """This scope and its ancestors, outermost first."""
        chain: list[Scope] = []
        scope: Scope | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        return tuple(reversed(chain))


class Node:
    """One tensor-producing step of the graph; compared and hashed by identity."""

    def __init__(
        self,
        name: str,
        layer: Layer | None,
        inputs: tuple[Node, ...],
        source: Source,
        span: Span,
        scope: Scope | None = None,
    ):
        self.name = name  # unique, hierarchical: 'layer3.2.conv1'
        self.layer = layer  # None for the graph input
        self.inputs = inputs
        self.source = source
        self.span = span
        self.scope = scope  # the innermost enclosing scope

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return self.scope.chain() if self.scope else ()

    @property
    def kind(self) -> str:
        return "input" if self.layer is None else self.layer.display_kind

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.kind})"


class Graph:
    def __init__(self, source: Source, input_shape: Shape):
        self.source = source
        self.input_shape = input_shape
        self.nodes: list[Node] = []  # topological order; nodes[0] is the input
        self.outputs: list[tuple[str, Node]] = []
        # The spec's `assert` statements, in order: budgets checked once every analysis has run.
        self.asserts: list[ast.Assert] = []

    @property
    def input(self) -> Node:
        return self.nodes[0]

    def layer_nodes(self) -> Iterator[tuple[Node, Layer]]:
        """Every node after the input, in order, with its layer (the input alone has none)."""
        for node in self.nodes[1:]:
            layer = node.layer
            assert layer is not None, "only the graph input has no layer"
            yield node, layer

    def consumers(self) -> dict[Node, list[Node]]:
        users: dict[Node, list[Node]] = {node: [] for node in self.nodes}
        for node in self.nodes:
            for producer in node.inputs:
                users[producer].append(node)
        return users
