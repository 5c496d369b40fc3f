"""Every name a parsed file writes, with its place and role: what definition, references,
document symbols and completion read. Built from the syntax tree alone, so it needs no check to
pass, and walked with a stack, as the checker's passes are: nesting depth costs no Python frames."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from ..source import Source, Span
from ..syntax import ast

# What a name is where it is written:
#   block: a block's name in its definition     param: a block parameter in its definition
#   target: `NAME = ...`, a named tensor         label: `NAME: kind`, a layer's label
#   kind: the word of an element (a layer kind, a block call or a tensor the chain starts from)
#   tensor: a tensor named as an argument or in `output`   value: a name in an expression
ROLES = ("block", "param", "target", "label", "kind", "tensor", "value")


class Token(NamedTuple):
    name: str
    span: Span
    role: str
    scope: str | None  # the block definition it is written in; None: the top level
    extent: Span  # the whole element, statement or definition it names or starts
    label: str | None = None  # a kind's element's label (`layer1: stage ...`)


class Place(NamedTuple):
    """Where a name is defined."""

    source: Source
    span: Span


class FileIndex:
    """The names of one parsed file: its tokens in order, blocks, and the files it includes."""

    def __init__(self, module: ast.Module):
        self.source = module.source
        self.tokens: list[Token] = []
        self.blocks: dict[str, ast.BlockDef] = {}
        self.uses: list[tuple[ast.Use, str]] = []  # with the path it names, resolved as the checker does
        self.has_input = False
        self._walk(module)
        self._definitions = {
            (token.scope, token.role, token.name): token.span
            for token in reversed(self.tokens)  # the first definition wins, as the checker's does
            if token.role in ("target", "param", "block")
        }

    def token_at(self, offset: int) -> Token | None:
        """The name under the cursor: at `offset`, or just before it (the cursor ends a word)."""
        for token in self.tokens:
            if token.span.start <= offset <= token.span.end:
                return token
        return None

    def local_definition(self, token: Token) -> Span | None:
        """Where a name of this file is defined in it: a named tensor or parameter of its scope."""
        if token.role in ("target", "param", "block", "label"):
            return token.span
        if token.role in ("kind", "tensor", "value"):
            for role in ("target", "param"):
                span = self._definitions.get((token.scope, role, token.name))
                if span is not None:
                    return span
        return None

    def _walk(self, module: ast.Module) -> None:
        base = os.path.dirname(os.path.abspath(module.source.path))
        for statement in module.statements:
            if isinstance(statement, ast.InputDecl):
                self.has_input = True
            elif isinstance(statement, ast.Use):
                self.uses.append((statement, os.path.normpath(os.path.join(base, statement.path))))
            elif isinstance(statement, ast.Output):
                for name in statement.names:
                    self._add(name, "tensor", None, statement.span)
            elif isinstance(statement, ast.BlockDef):
                self.blocks.setdefault(statement.name.id, statement)
                self._add(statement.name, "block", None, statement.span)
                self._walk_nodes([(statement, statement.name.id)])
            elif isinstance(statement, ast.Chain):
                self._walk_nodes([(statement, None)])

    def _walk_nodes(self, stack: list[tuple[Any, str | None]]) -> None:
        """Chains, elements and argument values, in source order (the stack is pushed reversed)."""
        while stack:
            node, scope = stack.pop()
            children: list[Any] = []
            if isinstance(node, ast.BlockDef):
                for param in node.params:
                    self._add(param.name, "param", scope, param.span)
                children = [param.default for param in node.params if param.default is not None]
                children.append(node.body)
            elif isinstance(node, ast.Body):
                children = list(node.chains)
            elif isinstance(node, ast.Chain):
                if node.target is not None:
                    self._add(node.target, "target", scope, node.span)
                children = list(node.elements)
            elif isinstance(node, ast.Element):
                if node.label is not None:
                    self._add(node.label, "label", scope, node.span)
                label = node.label.id if node.label is not None else None
                self.tokens.append(Token(node.kind.id, node.kind.span, "kind", scope, node.span, label))
                children = [*node.items, *([node.body] if node.body else []), *(f.body for f in node.followups)]
            elif isinstance(node, ast.Name):
                self._add(node, "value", scope, node.span)
            elif isinstance(node, ast.Attribute):
                self._add(node.tensor, "tensor", scope, node.span)
                children = [node.axis] if node.axis is not None else []
            elif isinstance(node, (ast.Negate, ast.Not)):
                children = [node.operand]
            elif isinstance(node, ast.Binary):
                children = [node.left, node.right]
            elif isinstance(node, ast.Conditional):
                children = [node.test, node.then, node.otherwise]
            elif isinstance(node, ast.Call):
                children = list(node.arguments)
            elif isinstance(node, ast.ComputedDims):
                children = list(node.extents)
            elif isinstance(node, ast.Window):
                children = [node.extent, node.stride]
            elif isinstance(node, ast.Pair):
                children = [node.first, node.second]
            stack.extend((child, scope) for child in reversed(children))

    def _add(self, name: ast.Name, role: str, scope: str | None, extent: Span) -> None:
        self.tokens.append(Token(name.id, name.span, role, scope, extent))
