"""What the parts of the resolver share: the combinator words, the signal that stops expansion,
the block table's entries, and the frames (naming and lookup scopes) that expansion works in."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..ir import Node, Scope
from ..layers import REGISTRY
from ..source import Source, Span
from ..syntax import ast

# The combinators and the follow-up parts each takes (`residual { } shortcut { }`).
COMBINATORS: dict[str, tuple[str, ...]] = {
    "repeat": (),
    "residual": ("shortcut",),
    "concat": (),
    "if": ("else",),
    "seq": (),
}

Env = dict[str, Any]  # block parameters and repeat counters in scope: name -> value


class Stop(Exception):
    """Aborts resolving after a diagnostic that makes going on pointless (limits, cycles)."""


def is_merge(word: str) -> bool:
    """Whether `word` names a layer kind that takes several inputs (`add a b`, `concat a b`)."""
    kind = REGISTRY.get(word)
    return kind is not None and kind.arity is None


class BlockInfo(NamedTuple):
    definition: ast.BlockDef
    source: Source


class Binding:
    """A named tensor: the node that produces it, where it was named, and whether it is read."""

    def __init__(self, node: Node, span: Span, used: bool = False):
        self.node, self.span, self.used = node, span, used


class Frame:
    """One naming and lookup scope while expanding."""

    def __init__(
        self,
        source: Source,
        env: Env,
        prefix: str,
        scope: Scope | None,
        *,
        enclosing: Frame | None = None,
        block_stack: tuple[str, ...] = (),
    ):
        self.source, self.env, self.prefix, self.scope = source, env, prefix, scope
        # The nearest enclosing body that names tensors (never across blocks). A body's tensors
        # do not change while a nested body is expanded, so the link sees exactly what a copy
        # would, without copying every name into every nested body.
        self.enclosing = enclosing
        self.tensors: dict[str, Binding] = {}
        self.counters: dict[str, int] = {}
        self.taken: dict[str, Span] = {}
        self.block_stack = block_stack
        # Inside a `seq`: the next position, shared by the bodies that continue its numbering
        # (`if`, `residual`, an unlabelled `repeat`); None where layers are named by kind.
        self.positions: list[int] | None = None

    def child(
        self, *, prefix: str | None = None, scopes: tuple[tuple[str, str], ...] = (), env: Env | None = None
    ) -> Frame:
        """A nested body: sees this frame's tensors; shares its names unless given a new prefix.
        `scopes` are (path, kind) levels that the child adds below this frame's scope."""
        scope = self.scope
        for path, kind in scopes:
            scope = Scope(path, kind, scope)
        frame = Frame(
            self.source,
            env if env is not None else self.env,
            self.prefix if prefix is None else prefix,
            scope,
            enclosing=self if self.tensors else self.enclosing,
            block_stack=self.block_stack,
        )
        if prefix is None:
            frame.counters, frame.taken, frame.positions = self.counters, self.taken, self.positions
        return frame

    def lookup(self, name: str) -> Binding | None:
        frame: Frame | None = self
        while frame is not None:
            binding = frame.tensors.get(name)
            if binding is not None:
                return binding
            frame = frame.enclosing
        return None

    def reference(self, element: ast.Element) -> Binding | None:
        """The tensor a bare name (`x`, with no label, arguments or body) refers to, if any."""
        if element.label is None and not element.items and element.body is None:
            return self.lookup(element.kind.id)
        return None

    def visible_tensors(self) -> set[str]:
        names: set[str] = set()
        frame: Frame | None = self
        while frame is not None:
            names.update(frame.tensors)
            frame = frame.enclosing
        return names

    def next_position(self) -> str:
        """Inside a `seq`: the next position's name (`0`, `1`...), reserved."""
        assert self.positions is not None
        position = self.positions[0]
        self.positions[0] = position + 1
        return str(position)

    def auto_name(self, base: str) -> str:
        while True:
            self.counters[base] = self.counters.get(base, 0) + 1
            candidate = f"{base}{self.counters[base]}"
            if candidate not in self.taken:
                return candidate
