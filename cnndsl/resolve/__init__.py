"""Resolve pass: AST -> IR graph.

Evaluates arguments, binds them to layer signatures, expands blocks, repetitions and the
combinators (residual, concat, if), resolves tensor names (order-free within a body, so a cycle
is possible and reported), and names every node hierarchically (`layer3.2.conv1`).
"""

from __future__ import annotations

import functools
import heapq
import os
from collections.abc import Callable
from typing import Any, NamedTuple, NoReturn

from ..diagnostics import CnnError, Diagnostic, DiagnosticSink, Label, did_you_mean, error, shorten, warning
from ..ir import Graph, Node, Scope
from ..layers import REGISTRY
from ..layers.base import MAX_EXTENT, Arg, ArgIssue, Layer, PairValue, WindowValue
from ..reader import file_problem
from ..source import Source, Span
from ..syntax import ast

COMBINATORS = {"repeat": (), "residual": ("shortcut",), "concat": (), "if": ("else",)}
MAX_INPUT_RANK = 4  # channels and at most three spatial axes: C, CxL, CxHxW, CxDxHxW


class Limits(NamedTuple):
    """Guards against runaway input; each can be raised from the command line."""

    max_layers: int = 100_000  # total expanded layers, charged while expanding
    max_repeat: int = 10_000  # one repetition count
    max_params: int = 10_000_000_000  # checked by the analysis pass, before any weight exists
    max_file_bytes: int = 10_000_000
    max_depth: int = 10_000  # nesting of brackets and braces, of block calls and of `use`
    max_steps: int = 500_000  # expansion steps: statements, layers, iterations, block calls
    max_name_chars: int = 20_000_000  # all hierarchical names together (they grow with nesting)
    # With a directory here, `use` may only include files below it (after symlinks); nothing of
    # a file outside is read or quoted. For specs from untrusted users, e.g. in a web service.
    include_root: str | None = None

    def validated(self) -> Limits:
        """These limits, or ValueError/TypeError naming the first field a program set wrongly
        (the command line checks its options itself)."""
        for name, value in zip(self._fields, self):
            if name == "include_root":
                if value is not None and not os.path.isdir(value):
                    raise ValueError(f"include_root must name a directory, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Limits.{name} must be an int, got {type(value).__name__}")
            elif value < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {value}")
        return self


class _Cost(NamedTuple):
    """Counters of expansion work; the difference of two readings is what happened in between."""

    layers: int
    steps: int
    name_chars: int
    diagnostics: int

    def __sub__(self, other: tuple) -> _Cost:  # type: ignore[override]
        return _Cost(*(a - b for a, b in zip(self, other)))

    @property
    def is_empty(self) -> bool:
        """No layer made and nothing reported: doing it again changes nothing but the counts."""
        return self.layers == 0 and self.diagnostics == 0


class _Stop(Exception):
    """Aborts expansion after a diagnostic that makes going on pointless (limits, recursion)."""


class _Binding:
    """A named tensor: the node that produces it, where it was named, and whether it is read."""

    def __init__(self, node: Node, span: Span, used: bool = False):
        self.node, self.span, self.used = node, span, used


class _BlockInfo(NamedTuple):
    definition: ast.BlockDef
    source: Source


class _Frame:
    """One naming and lookup scope while expanding."""

    def __init__(
        self,
        source: Source,
        env: dict[str, Any],
        prefix: str,
        scope: Scope | None,
        *,
        enclosing: _Frame | None = None,
        block_stack: tuple[str, ...] = (),
    ):
        self.source, self.env, self.prefix, self.scope = source, env, prefix, scope
        # The nearest enclosing body that names tensors (never across blocks). A body's tensors
        # do not change while a nested body is expanded, so the link sees exactly what a copy
        # would, without copying every name into every nested body.
        self.enclosing = enclosing
        self.tensors: dict[str, _Binding] = {}
        self.counters: dict[str, int] = {}
        self.taken: dict[str, Span] = {}
        self.block_stack = block_stack

    def child(
        self, *, prefix: str | None = None, scopes: tuple[tuple[str, str], ...] = (), env: dict | None = None
    ) -> _Frame:
        """A nested body: sees this frame's tensors; shares its names unless given a new prefix.
        `scopes` are (path, kind) levels that the child adds below this frame's scope."""
        scope = self.scope
        for path, kind in scopes:
            scope = Scope(path, kind, scope)
        frame = _Frame(
            self.source,
            env if env is not None else self.env,
            self.prefix if prefix is None else prefix,
            scope,
            enclosing=self if self.tensors else self.enclosing,
            block_stack=self.block_stack,
        )
        if prefix is None:
            frame.counters, frame.taken = self.counters, self.taken
        return frame

    def lookup(self, name: str) -> _Binding | None:
        frame: _Frame | None = self
        while frame is not None:
            binding = frame.tensors.get(name)
            if binding is not None:
                return binding
            frame = frame.enclosing
        return None

    def visible_tensors(self) -> set[str]:
        names: set[str] = set()
        frame: _Frame | None = self
        while frame is not None:
            names.update(frame.tensors)
            frame = frame.enclosing
        return names

    def unique(self, base: str) -> str:
        """`base`, or `base2`, `base3`... when taken; reserves the name."""
        key = base + "#unique"  # its own counter: `base` may also be a layer kind's automatic name
        number = self.counters.get(key, 0)
        while True:
            number += 1
            name = base if number == 1 else f"{base}{number}"
            if name not in self.taken:
                break
        self.counters[key] = number
        self.taken[name] = Span(0, 0)
        return name

    def auto_name(self, base: str) -> str:
        while True:
            self.counters[base] = self.counters.get(base, 0) + 1
            candidate = f"{base}{self.counters[base]}"
            if candidate not in self.taken:
                return candidate


class Resolver:
    def __init__(self, module: ast.Module, read_module: Callable[[str], ast.Module], limits: Limits):
        self.module = module
        self.include_root = None if limits.include_root is None else os.path.realpath(limits.include_root)
        self.read_module = read_module
        self.limits = limits
        self.sink = DiagnosticSink()
        self.blocks: dict[str, _BlockInfo] = {}
        self.graph: Graph | None = None
        self.layer_count = 0
        self.steps = 0  # expansion work, charged whether or not it creates layers
        self.name_chars = 0  # characters of the hierarchical names and prefixes built so far
        # (block, arguments) -> what the first expansion of that call cost, and whether it returned
        # its input unchanged: a call that cost nothing but steps is charged, not expanded again.
        self.call_costs: dict[tuple, tuple[_Cost, bool]] = {}
        self.mentions: dict[tuple[int, str], bool] = {}
        self.included_by: dict[str, tuple[Source, Span]] = {}  # file -> the `use` that first included it
        self.including: set[str] = set()  # the files on the include stack, for cycles in O(1)

    # --- entry ----------------------------------------------------------------------------------

    def run(self) -> tuple[Graph, list[Diagnostic]]:
        source = self.module.source
        try:
            main = os.path.abspath(source.path)
            self.including.add(main)
            self._collect_blocks(self.module, [main])
        except _Stop:
            raise CnnError(self.sink.items) from None
        inputs = [s for s in self.module.statements if isinstance(s, ast.InputDecl)]
        if not inputs:
            self.sink.add(
                error(
                    "E206",
                    "the spec has no input declaration",
                    Label(source, Span(0, min(1, len(source.text)))),
                    help="start the spec with the input shape, such as 'input 3x224x224' "
                    "(channels first, no batch axis)",
                )
            )
            raise CnnError(self.sink.items)
        for extra in inputs[1:]:
            self.sink.add(
                error(
                    "E207",
                    "a second input declaration",
                    Label(source, extra.span),
                    secondary=[Label(source, inputs[0].span, "first declared here")],
                )
            )
        declared = inputs[0]
        if len(declared.dims) > MAX_INPUT_RANK:
            # ONNX Runtime's convolutions and poolings stop at three spatial axes.
            self.sink.add(
                error(
                    "E302",
                    f"the input has {len(declared.dims) - 1:,} spatial axes; at most "
                    f"{MAX_INPUT_RANK - 1} are supported",
                    Label(source, declared.span),
                    help="write the input as C, CxL, CxHxW or CxDxHxW (channels first)",
                )
            )
            raise CnnError(self.sink.items)
        for extent in declared.dims:
            if extent < 1 or extent > MAX_EXTENT:
                self.sink.add(
                    error(
                        "E303" if extent else "E302",
                        f"input extent {extent} is out of range (1 to {MAX_EXTENT:,})",
                        Label(source, declared.span),
                    )
                )
        self.sink.raise_if_errors()
        self.graph = Graph(source, declared.dims)
        frame = _Frame(source, {}, "", None)
        input_node = Node("input", None, (), source, declared.span)
        self.graph.nodes.append(input_node)
        frame.tensors["in"] = _Binding(input_node, declared.span, used=True)
        chains = [s for s in self.module.statements if isinstance(s, ast.Chain)]
        outputs = [s for s in self.module.statements if isinstance(s, ast.Output)]
        try:
            last = self._body(chains, frame, input_node, result_used=not outputs)
            self._outputs(outputs, frame, last)
            self._warn_unused(frame)
        except _Stop:
            pass
        self.sink.raise_if_errors()
        if len(self.graph.nodes) == 1:
            self.sink.add(
                error(
                    "E218",
                    "the network has no layers",
                    Label(source, declared.span),
                    help="add layers after the input, such as 'conv 3x3 16 -> relu'",
                )
            )
            self.sink.raise_if_errors()
        return self.graph, self.sink.items

    # --- definitions --------------------------------------------------------------------------

    def _collect_blocks(self, module: ast.Module, include_stack: list[str]) -> None:
        """`include_stack`: the files being included, outermost first; one list for the whole
        chain (pushed and popped), so a chain of n files costs n, not n squared."""
        for statement in module.statements:
            if isinstance(statement, ast.Use):
                self._include(module.source, statement, include_stack)
            elif isinstance(statement, ast.BlockDef):
                self._define_block(statement, module.source)
            elif module is not self.module:
                self.sink.add(
                    error(
                        "E215",
                        "an included file may only define blocks and include files",
                        Label(module.source, statement.span),
                    )
                )

    def _include(self, source: Source, use: ast.Use, include_stack: list[str]) -> None:
        base = os.path.dirname(os.path.abspath(source.path))
        path = os.path.normpath(os.path.join(base, use.path))
        if path in self.including:
            # The other `use` statements of the cycle: those that included each file after `path`.
            secondary = [
                Label(
                    *self.included_by[p],
                    f"'{os.path.basename(self.included_by[p][0].path)}' includes '{os.path.basename(p)}' here",
                )
                for p in include_stack[include_stack.index(path) + 1 :]
                if p in self.included_by
            ]
            message = (
                f"'{use.path}' includes itself"
                if path == include_stack[-1]
                else f"the includes form a cycle: '{use.path}' is already being included"
            )
            self.sink.add(
                error(
                    "E212",
                    message,
                    Label(source, use.span, "includes " + repr(use.path)),
                    secondary=secondary,
                    notes=[" -> ".join(os.path.basename(p) for p in [*include_stack, path])],
                    help="remove one of these 'use' lines; to share blocks between files, "
                    "move them into a third file that both include",
                )
            )
            return
        if path in self.included_by:
            return  # already included (a diamond: two libraries share a third): its blocks are known
        if len(include_stack) > self.limits.max_depth:
            self.sink.add(
                error(
                    "E216",
                    f"files include each other more than {self.limits.max_depth:,} levels deep",
                    Label(source, use.span),
                    help="raise the limit with --max-depth",
                )
            )
            raise _Stop
        if self.include_root is not None and not _inside(os.path.realpath(path), self.include_root):
            # Nothing of the file is read, so no line of it can be quoted in a diagnostic.
            self.sink.add(
                error(
                    "E212",
                    f"'{use.path}' is outside the include root",
                    Label(source, use.span),
                    notes=[f"the include root is {self.include_root}"],
                    help="specs may only include files below the include root (--include-root)",
                )
            )
            return
        problem = file_problem(path)
        if problem is not None:
            message = (
                f"cannot find the included file '{use.path}'"
                if problem == "no such file"
                else f"cannot include '{use.path}': it is {problem}"
                if problem.startswith("a ")
                else f"cannot include '{use.path}': {problem}"
            )
            self.sink.add(
                error(
                    "E212",
                    message,
                    Label(source, use.span),
                    notes=[f"looked for {_shown_path(path)}"],
                    help="paths are relative to the including file",
                )
            )
            return
        try:
            included = self.read_module(path)
        except CnnError as failure:
            for diagnostic in failure.diagnostics:
                self.sink.add(diagnostic)
            return
        self.included_by[path] = (source, use.span)
        include_stack.append(path)
        self.including.add(path)
        self._collect_blocks(included, include_stack)
        self.including.discard(include_stack.pop())

    def _define_block(self, definition: ast.BlockDef, source: Source) -> None:
        name = definition.name.id
        declared: dict[str, ast.Param] = {}
        for param in definition.params:
            first = declared.setdefault(param.name.id, param)
            if first is not param:
                self.sink.add(
                    error(
                        "E210",
                        f"block '{name}' has two parameters named '{param.name.id}'",
                        Label(source, param.name.span),
                        secondary=[Label(source, first.name.span, "first declared here")],
                    )
                )
        if name in REGISTRY or name in COMBINATORS:
            self.sink.add(
                error(
                    "E210",
                    f"block '{name}' would hide the built-in '{name}'",
                    Label(source, definition.name.span),
                    help="give the block another name",
                )
            )
        elif name in self.blocks:
            earlier = self.blocks[name]
            self.sink.add(
                error(
                    "E210",
                    f"block '{name}' is defined twice",
                    Label(source, definition.name.span),
                    secondary=[Label(earlier.source, earlier.definition.name.span, "first defined here")],
                )
            )
        else:
            self.blocks[name] = _BlockInfo(definition, source)

    # --- bodies and chains --------------------------------------------------------------------

    def _body(self, chains: list[ast.Chain], frame: _Frame, x: Node, result_used: bool = True) -> Node:
        """Expand the statements of one body; return the result of its last statement, which is
        the body's result (a block's output, the network's when no `output` names others)."""
        if not chains:
            return x
        order = self._statement_order(chains, frame)
        results: dict[int, Node] = {}
        for index in order:
            chain = chains[index]
            self._step(frame, chain.span)
            incoming = results.get(index - 1, x) if index > 0 else x
            results[index] = self._chain(chain, frame, incoming)
        for index in range(len(chains) - 1):
            chain = chains[index]
            if chain.target is None and not self._continues(chains[index + 1], frame):
                self.sink.add(
                    warning(
                        "W106",
                        "the result of this chain is never used",
                        Label(frame.source, chain.span),
                        help="name it ('x = ...') and use it, or remove the chain",
                    )
                )
        result = chains[-1].target
        if result_used and result is not None and result.id in frame.tensors:
            frame.tensors[result.id].used = True
        return results[len(chains) - 1]

    def _continues(self, chain: ast.Chain, frame: _Frame) -> bool:
        """Whether a chain takes the previous statement's result (rather than naming its start)."""
        return self._reference(chain.elements[0], frame, set()) is None

    def _reference(self, element: ast.Element, frame: _Frame, local_targets: set[str]) -> str | None:
        bare = element.label is None and not element.items and element.body is None
        name = element.kind.id
        if bare and (name in local_targets or frame.lookup(name) is not None):
            return name
        return None

    def _statement_order(self, chains: list[ast.Chain], frame: _Frame) -> list[int]:
        """Order statements so every named tensor is made before it is used; report cycles."""
        targets: dict[str, int] = {}
        for index, chain in enumerate(chains):
            if chain.target is None:
                continue
            name = chain.target.id
            if name in targets:
                earlier = chains[targets[name]].target
                self.sink.add(
                    error(
                        "E210",
                        f"tensor '{name}' is defined twice",
                        Label(frame.source, chain.target.span),
                        secondary=[Label(frame.source, earlier.span, "first defined here")],
                    )
                )
                raise _Stop
            if name in REGISTRY or name in self.blocks or name in COMBINATORS or name == "in":
                self.sink.add(
                    error(
                        "E210",
                        f"'{name}' cannot name a tensor: it is a layer kind, block or keyword",
                        Label(frame.source, chain.target.span),
                        help="choose another name",
                    )
                )
                raise _Stop
            targets[name] = index
            # One namespace for layers and tensors: automatic names skip a tensor's name, and a
            # label that takes it is E210, so an output can never share an ONNX name with a layer.
            frame.taken.setdefault(name, chain.target.span)
        if not targets:
            return list(range(len(chains)))  # nothing named: plain textual order
        local = set(targets)
        needs: list[set[int]] = []
        for index, chain in enumerate(chains):
            deps = {targets[n] for n in self._names_used(chain, frame, local) if n in targets}
            if self._reference(chain.elements[0], frame, local) is None and index > 0:
                deps.add(index - 1)
            deps.discard(index) if chain.target is None else None
            needs.append(deps)
        # Kahn's algorithm, taking the earliest ready statement first (textual order when free).
        users: list[list[int]] = [[] for _ in chains]
        waiting = [len(deps) for deps in needs]
        for index, deps in enumerate(needs):
            for dep in deps:
                users[dep].append(index)
        ready = [i for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(ready)
        done: list[int] = []
        while ready:
            index = heapq.heappop(ready)
            done.append(index)
            for user in users[index]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, user)
        if len(done) < len(chains):
            self._report_cycle(chains, needs, set(range(len(chains))) - set(done), frame)
            raise _Stop
        return done

    def _report_cycle(self, chains: list[ast.Chain], needs: list[set[int]], blocked: set[int], frame: _Frame) -> None:
        """Report one cycle among the statements that could not be ordered (only its members:
        statements that merely wait for the cycle are left out)."""
        # Every blocked statement waits for another blocked one; walk until a statement repeats.
        path: list[int] = []
        position: dict[int, int] = {}
        current = min(blocked)
        while current not in position:
            position[current] = len(path)
            path.append(current)
            current = min(dep for dep in needs[current] if dep in blocked)
        cycle = path[position[current] :]

        def link(index: int) -> str:
            dep = min(d for d in needs[index] if d in blocked and d in cycle)
            target = chains[dep].target
            return (
                f"uses '{target.id}'"
                if target is not None and target.id in self._names_used(chains[index], frame, {target.id})
                else "continues the previous statement"
            )

        first = chains[cycle[0]]
        if len(cycle) == 1:
            name = first.target.id if first.target is not None else "this statement"
            message = f"'{name}' depends on itself"
        else:
            message = "these statements depend on each other in a cycle"
        self.sink.add(
            error(
                "E213",
                message,
                Label(frame.source, first.span, link(cycle[0])),
                secondary=[Label(frame.source, chains[i].span, f"part of the cycle: {link(i)}") for i in cycle[1:]],
                help="a network is a directed acyclic graph: a tensor cannot depend on itself",
            )
        )

    def _names_used(self, chain: ast.Chain, frame: _Frame, local: set[str]) -> set[str]:
        names: set[str] = set()
        pending = [chain]
        while pending:
            current = pending.pop()
            first = self._reference(current.elements[0], frame, local)
            if first:
                names.add(first)
            for element in current.elements:
                if element.kind.id in ("add", "concat"):
                    names |= {item.id for item in element.items if isinstance(item, ast.Name)}
                for body in [element.body, *(f.body for f in element.followups)]:
                    if body is not None:
                        pending.extend(body.chains)
        return names

    def _chain(self, chain: ast.Chain, frame: _Frame, incoming: Node) -> Node:
        elements = list(chain.elements)
        start = self._reference(elements[0], frame, set())
        if start is not None:
            binding = frame.lookup(start)
            binding.used = True
            x = binding.node
            elements = elements[1:]
        else:
            x = incoming
        for position, element in enumerate(elements):
            first = position == 0 and start is None
            x = self._element(element, frame, x, chain_start=first and chain.elements[0] is element)
        if chain.target is not None:
            frame.tensors[chain.target.id] = _Binding(x, chain.target.span)
        return x

    # --- elements -----------------------------------------------------------------------------

    def _element(self, element: ast.Element, frame: _Frame, x: Node, *, chain_start: bool) -> Node:
        self._step(frame, element.span)
        word = element.kind.id
        # `concat { ... }` is the combinator; `concat a b` (no body) merges named tensors.
        if word in COMBINATORS and not (word == "concat" and element.body is None and element.items):
            return self._combinator(element, frame, x)
        for followup in element.followups:
            self.sink.add(
                error(
                    "E215",
                    f"'{word}' takes no '{followup.keyword.id}' part",
                    Label(frame.source, followup.keyword.span),
                )
            )
        if element.body is not None:
            self.sink.add(
                error(
                    "E215",
                    f"'{word}' takes no braced body; only repeat, residual, concat and if do",
                    Label(frame.source, element.body.span),
                )
            )
            return x
        if frame.lookup(word) is not None and element.label is None and not element.items:
            self.sink.add(
                error(
                    "E215",
                    f"the tensor '{word}' can only start a chain",
                    Label(frame.source, element.span),
                    help=f"start a new line with '{word} -> ...', or merge it with 'add {word}' or 'concat {word}'",
                )
            )
            return x
        if word in self.blocks:
            return self._call_block(element, frame, x)
        kind = REGISTRY.get(word)
        if kind is None:
            candidates = [*REGISTRY, *self.blocks, *COMBINATORS, *frame.visible_tensors()]
            self.sink.add(
                error(
                    "E201",
                    f"unknown layer kind '{word}'",
                    Label(frame.source, element.kind.span),
                    help=did_you_mean(word, candidates),
                )
            )
            return x
        if kind.arity is None:
            return self._merge(element, kind, frame, x, chain_start)
        layer = self._build_layer(kind, word, element, frame)
        if layer is None:
            return x
        return self._add_node(frame, element, layer, (x,))

    def _build_layer(self, kind: type[Layer], word: str, element: ast.Element, frame: _Frame) -> Layer | None:
        bound = self._bind(kind.signature, element, frame, f"'{word}'")
        if bound is None:
            return None
        values, spans = bound
        try:
            return kind.from_args(values, word)
        except ArgIssue as issue:
            span = spans.get(issue.arg, element.head_span) if issue.arg else element.head_span
            self.sink.add(error(issue.code, issue.message, Label(frame.source, span), help=issue.help))
            return None

    def _merge(self, element: ast.Element, kind: type[Layer], frame: _Frame, x: Node, chain_start: bool) -> Node:
        inputs = [] if chain_start else [x]
        for item in element.items:
            if not isinstance(item, ast.Name):
                self.sink.add(error("E301", f"'{element.kind.id}' takes tensor names", Label(frame.source, item.span)))
                return x
            binding = frame.lookup(item.id)
            if binding is None:
                self.sink.add(
                    error(
                        "E208",
                        f"undefined tensor '{item.id}'",
                        Label(frame.source, item.span),
                        help=did_you_mean(item.id, frame.visible_tensors()),
                    )
                )
                return x
            binding.used = True
            inputs.append(binding.node)
        if len(inputs) < 2:
            self.sink.add(
                error(
                    "E203",
                    f"'{element.kind.id}' needs at least two tensors",
                    Label(frame.source, element.head_span),
                    help=f"name the other tensor: '{element.kind.id} a b', or 'x -> {element.kind.id} b'",
                )
            )
            return x
        return self._add_node(frame, element, kind(), tuple(inputs))

    def _add_node(
        self,
        frame: _Frame,
        element: ast.Element,
        layer: Layer,
        inputs: tuple[Node, ...],
        span: Span | None = None,
        local: str | None = None,
    ) -> Node:
        if local is None:
            local = self._local_name(frame, element.label, layer.display_kind, element.head_span)
        self._charge(frame, element.span)
        name = self._name(frame, frame.prefix + local, element.span)
        node = Node(name, layer, inputs, frame.source, span or element.head_span, frame.scope)
        self.graph.nodes.append(node)
        return node

    def _local_name(self, frame: _Frame, label: ast.Name | None, base: str, span: Span | None = None) -> str:
        """The node's name within its prefix: its label, or the next free automatic name (conv3).
        `span` locates an unlabelled element, for the second diagnostic of a clash."""
        if label is None:
            name = frame.auto_name(base)
        else:
            name = label.id
            if name == "in":
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
                        Label(frame.source, label.span),
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

    def _charge(self, frame: _Frame, span: Span) -> None:
        self.layer_count += 1
        if self.layer_count > self.limits.max_layers:
            self._too_many_layers(frame, span)

    def _too_many_layers(self, frame: _Frame, span: Span) -> NoReturn:
        self.sink.add(
            error(
                "E214",
                f"the network expands to more than {self.limits.max_layers:,} layers",
                Label(frame.source, span),
                help="check repetition counts; raise the limit with --max-layers if intended",
            )
        )
        raise _Stop

    def _step(self, frame: _Frame, span: Span, steps: int = 1) -> None:
        """Charge expansion work: a statement, an element, an iteration. Work that creates no
        layer (empty repetitions, calls of empty blocks, an error made 10^8 times) is bounded too."""
        self.steps += steps
        if self.steps > self.limits.max_steps:
            self._too_many_steps(frame, span)

    def _too_many_steps(self, frame: _Frame, span: Span) -> NoReturn:
        self.sink.add(
            error(
                "E214",
                f"expanding the network takes more than {self.limits.max_steps:,} steps "
                f"(statements, layers, repetitions and block calls)",
                Label(frame.source, span),
                help="check repetition counts and block calls; raise the limit with --max-steps if intended",
            )
        )
        raise _Stop

    def _name(self, frame: _Frame, name: str, span: Span) -> str:
        """Charge a hierarchical name (or prefix) to the budget for all names: nesting makes every
        name longer, so without it memory would grow with the square of the depth."""
        self.name_chars += len(name)
        if self.name_chars > self.limits.max_name_chars:
            self._names_too_long(frame, span, name)
        return name

    def _names_too_long(self, frame: _Frame, span: Span, example: str) -> NoReturn:
        self.sink.add(
            error(
                "E217",
                f"the layers' names add up to more than {self.limits.max_name_chars:,} characters",
                Label(frame.source, span),
                notes=[f"names grow with every level of nesting: '{shorten(example)}'"],
                help="nest fewer levels of repeat, concat and block calls, or raise the limit "
                "with --max-name-chars if intended",
            )
        )
        raise _Stop

    # --- blocks -------------------------------------------------------------------------------

    def _call_block(self, element: ast.Element, frame: _Frame, x: Node, *, prefix: str | None = None) -> Node:
        info = self.blocks[element.kind.id]
        name = info.definition.name.id
        if len(frame.block_stack) >= self.limits.max_depth:
            self.sink.add(
                error(
                    "E216",
                    f"blocks call each other more than {self.limits.max_depth:,} levels deep",
                    Label(frame.source, element.kind.span),
                    help="raise the limit with --max-depth",
                )
            )
            raise _Stop
        if name in frame.block_stack:
            self.sink.add(
                error(
                    "E211",
                    f"block '{name}' uses itself",
                    Label(frame.source, element.kind.span),
                    secondary=[Label(info.source, info.definition.name.span, "defined here")],
                    notes=["call chain: " + " -> ".join(frame.block_stack + (name,))],
                    help="blocks cannot be recursive; use 'repeat' for repetition",
                )
            )
            raise _Stop
        # Parameters without a default are positional; those with one are keywords (`stride 2`).
        signature = tuple(
            Arg(p.name.id, None, p.default, positional=p.default is None, required=p.default is None)
            for p in info.definition.params
        )
        bound = self._bind(signature, element, frame, f"block '{name}'", defaults_env={})
        if bound is None:
            return x
        env, _ = bound
        if prefix is None:
            prefix = self._name(
                frame,
                frame.prefix + self._local_name(frame, element.label, name, element.head_span) + ".",
                element.span,
            )
        # A block sees only its arguments and its input, so a call with the same arguments costs
        # the same every time: a call that would pass a limit is stopped before it starts.
        key = _call_key(name, env)
        known = self.call_costs.get(key) if key is not None else None
        if known is not None:
            cost, unchanged = known
            if self.steps + cost.steps > self.limits.max_steps:
                self._too_many_steps(frame, element.span)
            if self.layer_count + cost.layers > self.limits.max_layers:
                self._too_many_layers(frame, element.span)
            if cost.is_empty and unchanged:
                self._step(frame, element.span, cost.steps)
                return x
        before = self._cost()
        result = self._expand_block(info, env, prefix, element, frame, x)
        if key is not None and key not in self.call_costs:
            self.call_costs[key] = (self._cost() - before, result is x)
        return result

    def _expand_block(
        self, info: _BlockInfo, env: dict[str, Any], prefix: str, element: ast.Element, frame: _Frame, x: Node
    ) -> Node:
        name = info.definition.name.id
        inner = _Frame(
            info.source, env, prefix, Scope(prefix[:-1], name, frame.scope), block_stack=frame.block_stack + (name,)
        )
        inner.tensors["in"] = _Binding(x, element.span, used=True)
        chains = info.definition.body.chains
        only = chains[0].elements[0] if len(chains) == 1 and len(chains[0].elements) == 1 else None
        if only is not None and only.kind.id == "repeat" and only.label is None and only.body is not None:
            # A block that is one repetition names its iterations directly: layer2.0.conv1.
            return self._repeat(only, inner, x, direct=True)
        if only is not None and only.kind.id == "concat" and only.label is None and only.body is not None:
            # A block that is one concat names its branches directly: inception3a.branch2.conv1.
            return self._concat(only, inner, x, direct=True)
        result = self._body(list(info.definition.body.chains), inner, x)
        self._warn_unused(inner)
        return result

    # --- combinators --------------------------------------------------------------------------

    def _combinator(self, element: ast.Element, frame: _Frame, x: Node) -> Node:
        word = element.kind.id
        allowed = COMBINATORS[word]
        seen: dict[str, ast.Followup] = {}
        for followup in element.followups:
            keyword = followup.keyword.id
            if keyword not in allowed:
                expected = f"'{allowed[0]}'" if allowed else "nothing"
                self.sink.add(
                    error(
                        "E215",
                        f"'{word}' can be followed by {expected}, not '{keyword}'",
                        Label(frame.source, followup.keyword.span),
                    )
                )
            elif keyword in seen:
                self.sink.add(
                    error(
                        "E215",
                        f"'{word}' takes one '{keyword}' part, not two",
                        Label(frame.source, followup.keyword.span),
                        secondary=[Label(frame.source, seen[keyword].keyword.span, "the first")],
                    )
                )
            seen.setdefault(keyword, followup)
        if element.body is None:
            self.sink.add(
                error("E203", f"'{word}' needs a braced body: {word} {{ ... }}", Label(frame.source, element.head_span))
            )
            return x
        return getattr(self, f"_{word}")(element, frame, x)

    def _followup(self, element: ast.Element, keyword: str) -> ast.Body | None:
        return next((f.body for f in element.followups if f.keyword.id == keyword), None)

    def _repeat(self, element: ast.Element, frame: _Frame, x: Node, direct: bool = False) -> Node:
        items = list(element.items)
        counter = None
        if (
            len(items) == 3
            and isinstance(items[1], ast.Name)
            and items[1].id == "as"
            and isinstance(items[2], ast.Name)
        ):
            counter = items[2].id
            items = items[:1]
        if len(items) != 1:
            self.sink.add(
                error(
                    "E301",
                    "repeat takes a count and optionally 'as NAME': repeat 3 as i { ... }",
                    Label(frame.source, element.head_span),
                )
            )
            return x
        count = self._evaluate_int(items[0], frame, "repeat count", 0)
        if count is None:
            return x
        if count > self.limits.max_repeat:
            self.sink.add(
                error(
                    "E303",
                    f"repeat count {count:,} is over the limit of {self.limits.max_repeat:,}",
                    Label(frame.source, items[0].span),
                    help="raise it with --max-repeat if intended",
                )
            )
            raise _Stop
        if direct:
            base, repetition = frame.prefix, ()  # the block instance is the repetition's scope
        else:
            local = self._local_name(frame, element.label, "repeat", element.head_span)
            base = self._name(frame, f"{frame.prefix}{local}.", element.span)
            repetition = ((base[:-1], "repeat"),)
        chains = list(element.body.chains)
        sole = chains[0].elements[0] if len(chains) == 1 and len(chains[0].elements) == 1 else None
        start = x
        # Iterations that cannot see the counter cost the same, so after the first one the whole
        # repetition's cost is known: charge it at once rather than layer by layer, so that
        # `repeat 1000 { repeat 1000 { ... } }` stops after 1,000 layers, not 100,000. An iteration
        # that made nothing (no layer, no diagnostic) is not expanded again, only charged.
        uniform = counter is None or not _mentions(element.body, counter, self.mentions)
        before = self._cost()
        for iteration in range(count):
            if iteration == 1 and uniform:
                cost = self._cost() - before
                self._charge_repetition(frame, element, items[0], count, cost, f"{base}0.")
                if cost.is_empty and x is start:
                    self._step(frame, element.span, (count - 1) * cost.steps)
                    break
            before = self._cost()
            self._step(frame, element.span)
            prefix = self._name(frame, f"{base}{iteration}.", element.span)
            env = {**frame.env, counter: iteration} if counter else frame.env
            if sole is not None and sole.label is None and sole.kind.id in self.blocks and sole.body is None:
                # `layer1: repeat 3 { bottleneck 64 }` names layer1.0.conv1, as torchvision does.
                x = self._call_block(sole, frame.child(env=env, scopes=repetition), x, prefix=prefix)
                continue
            inner = frame.child(prefix=prefix, scopes=repetition + ((prefix[:-1], "iteration"),), env=env)
            x = self._body(chains, inner, x)
            self._warn_unused(inner)
        return x

    def _cost(self) -> _Cost:
        return _Cost(self.layer_count, self.steps, self.name_chars, self.sink.added)

    def _charge_repetition(
        self, frame: _Frame, element: ast.Element, count_item: ast.Item, count: int, cost: _Cost, first_prefix: str
    ) -> None:
        """E214 (E217) as soon as the rest of a uniform repetition would pass the layer, step or
        name limit; `cost` is what its first iteration took."""
        rest = count - 1
        if self.layer_count + cost.layers * rest > self.limits.max_layers:
            self._repetition_too_large(
                frame, element, count_item, count, cost.layers, "layer", self.limits.max_layers, "--max-layers"
            )
        if self.steps + cost.steps * rest > self.limits.max_steps:
            self._repetition_too_large(
                frame, element, count_item, count, cost.steps, "step", self.limits.max_steps, "--max-steps"
            )
        if self.name_chars + cost.name_chars * rest > self.limits.max_name_chars:
            self._names_too_long(frame, count_item.span, first_prefix)

    def _repetition_too_large(
        self,
        frame: _Frame,
        element: ast.Element,
        count_item: ast.Item,
        count: int,
        per_iteration: int,
        unit: str,
        limit: int,
        option: str,
    ) -> NoReturn:
        def units(number: int) -> str:
            return f"{number:,} {unit}{'s' if number != 1 else ''}"

        what = "expands to more than" if unit == "layer" else "takes more than"
        self.sink.add(
            error(
                "E214",
                f"the network {what} {units(limit)}: this repetition alone "
                f"{'adds' if unit == 'layer' else 'takes'} {per_iteration * count:,}",
                Label(frame.source, count_item.span, f"{count:,} iterations of {units(per_iteration)}"),
                secondary=[
                    Label(
                        frame.source,
                        element.body.span,
                        f"one iteration {'expands to' if unit == 'layer' else 'takes'} {units(per_iteration)}",
                    )
                ],
                notes=[] if unit == "layer" else ["a step is a statement, a layer, an iteration or a block call"],
                help=f"check repetition counts; raise the limit with {option} if intended",
            )
        )
        raise _Stop

    def _residual(self, element: ast.Element, frame: _Frame, x: Node) -> Node:
        body_frame = frame.child()
        y = self._body(list(element.body.chains), body_frame, x)
        shortcut = self._followup(element, "shortcut")
        s = x
        if shortcut is not None:
            path = self._name(frame, frame.prefix + frame.unique("shortcut"), shortcut.span)
            inner = frame.child(prefix=path + ".", scopes=((path, "shortcut"),))
            s = self._body(list(shortcut.chains), inner, x)
        if y is x:
            self.sink.add(
                warning(
                    "W106",
                    "the residual body is empty: this adds the input to itself",
                    Label(frame.source, element.body.span),
                )
            )
        return self._add_node(frame, element, REGISTRY["add"](), (y, s), span=element.kind.span)

    def _concat(self, element: ast.Element, frame: _Frame, x: Node, direct: bool = False) -> Node:
        """Branches are named under the concat (concat1.branch2.conv1), or directly under the block
        instance when the concat is the block's whole body (inception3a.branch2.conv1)."""
        local = self._local_name(frame, element.label, "concat", element.head_span)
        base = frame.prefix if direct else self._name(frame, f"{frame.prefix}{local}.", element.span)
        branches = []
        for index, chain in enumerate(element.body.chains, start=1):
            prefix = self._name(frame, f"{base}branch{index}.", chain.span)
            inner = frame.child(prefix=prefix, scopes=((prefix[:-1], "branch"),))
            branches.append(self._chain(chain, inner, x))
        if len(branches) < 2:
            self.sink.add(
                error(
                    "E203", "concat needs at least two branches, one per line", Label(frame.source, element.body.span)
                )
            )
            return x
        return self._add_node(
            frame, element, REGISTRY["concat"](), tuple(branches), span=element.kind.span, local=local
        )

    def _if(self, element: ast.Element, frame: _Frame, x: Node) -> Node:
        if len(element.items) != 1:
            self.sink.add(
                error(
                    "E301",
                    "if takes one condition: if (i == 0) { ... } else { ... }",
                    Label(frame.source, element.head_span),
                )
            )
            return x
        condition = self._evaluate_int(element.items[0], frame, "condition", None)
        if condition is None:
            return x
        chosen = element.body if condition else self._followup(element, "else")
        if chosen is None:
            return x
        return self._body(list(chosen.chains), frame.child(), x)

    # --- outputs and unused names ---------------------------------------------------------------

    def _outputs(self, outputs: list[ast.Output], frame: _Frame, last: Node) -> None:
        if not outputs:
            self.graph.outputs.append((last.name, last))
            return
        seen: set[str] = set()
        for statement in outputs:
            for name in statement.names:
                binding = frame.tensors.get(name.id)
                if binding is None:
                    self.sink.add(
                        error(
                            "E208",
                            f"undefined tensor '{name.id}'",
                            Label(frame.source, name.span),
                            help=did_you_mean(name.id, frame.tensors),
                        )
                    )
                elif name.id in seen:
                    self.sink.add(
                        error("E210", f"'{name.id}' is listed as an output twice", Label(frame.source, name.span))
                    )
                else:
                    seen.add(name.id)
                    binding.used = True
                    self.graph.outputs.append((name.id, binding.node))

    def _warn_unused(self, frame: _Frame) -> None:
        for name, binding in frame.tensors.items():
            if not binding.used:
                self.sink.add(
                    warning(
                        "W106",
                        f"tensor '{name}' is never used",
                        Label(frame.source, binding.span),
                        help=f"use it ('{name} -> ...'), list it in 'output', or remove it",
                    )
                )

    # --- arguments ----------------------------------------------------------------------------

    def _bind(
        self,
        signature: tuple[Arg, ...],
        element: ast.Element,
        frame: _Frame,
        owner: str,
        defaults_env: dict | None = None,
    ) -> tuple[dict[str, Any], dict[str, Span]] | None:
        """Bind an element's items: leading positionals, then keywords and words, in any order."""
        source = frame.source
        by_word, by_name, positionals = _signature_index(signature)
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        items = list(element.items)
        next_positional = 0
        keyword_seen = False
        index = 0
        failures: list[Diagnostic] = []

        def fail(code: str, message: str, span: Span, help: str | None = None) -> None:
            failures.append(error(code, message, Label(source, span), help=help))
            self.sink.add(failures[-1])

        def store(arg: Arg, value: Any, span: Span) -> bool:
            if arg.name in values:
                fail("E205", f"{owner} is given '{arg.name.rstrip('_')}' twice", span)
                return False
            try:
                values[arg.name] = arg.convert(value, arg.name.rstrip("_")) if arg.convert else value
            except ArgIssue as issue:
                written = source.text[span.start : span.end]
                # `c/2` reads as a window (extent c, stride 2) wherever a window may stand.
                division = (
                    issue.code == "E301"
                    and isinstance(value, WindowValue)
                    and not isinstance(value.extent, list)
                    and not written.startswith("(")
                )
                fail(
                    issue.code,
                    issue.message,
                    span,
                    issue.help or (f"to divide, parenthesise the expression: '({written})'" if division else None),
                )
                values.setdefault(arg.name, None)  # reported once: not "missing" as well
                return False
            spans[arg.name] = span
            return True

        while index < len(items):
            item = items[index]
            name = item.id if isinstance(item, ast.Name) else None
            is_variable = name is not None and name in frame.env
            positional_open = next_positional < len(positionals) and not keyword_seen
            if name in by_word:
                arg = by_word[name]
                store(arg, name, item.span)  # a word may come before the positionals: `pool avg 2/2`
                index += 1
                if arg.value_after_word and index < len(items) and _is_numeric(items[index]):
                    value = self._evaluate(items[index], frame)
                    if value is _FAILED:
                        return None
                    store(next(a for a in signature if a.name == arg.value_after_word), value, items[index].span)
                    index += 1
                continue
            # A variable that is also the name of a positional argument reads as a value while
            # positionals are open (`conv 3x3 channels` inside a block with a 'channels' parameter).
            if name in by_name and not (is_variable and positional_open and by_name[name].positional):
                arg = by_name[name]
                if index + 1 >= len(items):
                    fail("E203", f"'{name}' needs a value", item.span)
                    return None
                value = self._evaluate(items[index + 1], frame, words_allowed=True)
                if value is _FAILED:
                    return None
                store(arg, value, item.span.cover(items[index + 1].span))
                keyword_seen = True
                index += 2
                continue
            if name is not None and not is_variable:
                hidden = {arg.value_after_word for arg in signature if arg.value_after_word}
                known = [*by_word, *(n for n in by_name if n not in hidden)]
                # A misspelt block parameter or repeat counter reads as an unknown attribute too.
                fail(
                    "E202",
                    f"unknown attribute '{name}' for {owner}",
                    item.span,
                    _stride_help(name, items, index, spans.get("window"), source)
                    or did_you_mean(name, [*known, *frame.env])
                    or (f"{owner} accepts: {', '.join(sorted(known))}" if known else f"{owner} takes no arguments"),
                )
                return None
            if not positional_open:
                why = (
                    "positional arguments must come first"
                    if keyword_seen
                    else f"{owner} takes {len(positionals)} positional argument{'s' if len(positionals) != 1 else ''}"
                )
                fail(
                    "E204",
                    f"unexpected argument for {owner}: {why}",
                    item.span,
                    _subtraction_help(items, index, source),
                )
                return None
            arg = positionals[next_positional]
            next_positional += 1
            value = self._evaluate(item, frame)
            if value is _FAILED:
                return None
            store(arg, value, item.span)
            index += 1

        for arg in signature:
            if arg.name in values:
                continue
            if arg.required:
                fail(
                    "E203",
                    f"{owner} needs its {arg.name.rstrip('_')}",
                    element.head_span,
                    help=f"{arg.name.rstrip('_')}: {arg.doc}" if arg.doc else None,
                )
                return None
            default = arg.default
            if defaults_env is not None and default is not None:
                default = self._evaluate(default, _Frame(frame.source, {}, "", None))
                if default is _FAILED:
                    return None
            values[arg.name] = default
        return None if failures else (values, spans)

    def _evaluate_int(self, item: ast.Item, frame: _Frame, what: str, minimum: int | None) -> int | None:
        value = self._evaluate(item, frame)
        if value is _FAILED:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or (minimum is not None and value < minimum):
            self.sink.add(
                error(
                    "E301" if not isinstance(value, int) else "E302",
                    f"{what} must be an integer{'' if minimum is None else f' >= {minimum}'}, got {value!r}",
                    Label(frame.source, item.span),
                )
            )
            return None
        return value

    def _evaluate(self, item: ast.Item, frame: _Frame, *, words_allowed: bool = False) -> Any:
        try:
            return _Evaluator(frame.env, words_allowed).value(item)
        except _EvalError as failure:
            self.sink.add(error(failure.code, failure.message, Label(frame.source, failure.span), help=failure.help))
            return _FAILED


_FAILED = object()


@functools.cache
def _signature_index(signature: tuple[Arg, ...]) -> tuple[dict[str, Arg], dict[str, Arg], list[Arg]]:
    """An argument list looked up by word, by keyword, and the positionals in order."""
    by_word = {word: arg for arg in signature for word in arg.words}
    by_name = {arg.name.rstrip("_"): arg for arg in signature if not arg.words}
    return by_word, by_name, [arg for arg in signature if arg.positional]


def _mentions(body: ast.Body, name: str, cache: dict[tuple[int, str], bool]) -> bool:
    """Whether `name` occurs anywhere in a body (as an argument, a tensor, a layer or a label).
    `cache` lives as long as the syntax trees (one resolver), so ids stay valid."""
    found = cache.get((id(body), name))
    if found is None:
        found, pending = False, [body]
        while pending and not found:
            node = pending.pop()
            if isinstance(node, ast.Name):
                found = node.id == name
            elif isinstance(node, (tuple, list)):  # syntax nodes are named tuples
                pending.extend(node)
        cache[(id(body), name)] = found
    return found


def _stride_help(name: str, items: list[ast.Item], index: int, window: Span | None, source: Source) -> str | None:
    """`conv 3x3 64 stride 2`: the language writes the stride in the window, as papers do."""
    if name not in ("stride", "strides") or window is None:
        return None
    stride = source.text[items[index + 1].span.start : items[index + 1].span.end] if index + 1 < len(items) else "2"
    return f"write the stride in the window: '{source.text[window.start : window.end]}/{stride}'"


def _subtraction_help(items: list[ast.Item], index: int, source: Source) -> str | None:
    """`conv 3x3 c - 2` is two arguments, `c` and `-2`: arithmetic needs parentheses."""
    item = items[index]
    if index == 0 or not isinstance(item, ast.Negate) or not _is_numeric_or_name(items[index - 1]):
        return None
    written = source.text[items[index - 1].span.start : item.span.end]
    return f"to subtract, parenthesise the expression: '({written})'"


def _is_numeric_or_name(item: ast.Item) -> bool:
    return _is_numeric(item) or isinstance(item, ast.Name)


def _shown_path(path: str) -> str:
    """A path as the user would type it from here: relative below the working directory."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _call_key(block: str, env: dict[str, Any]) -> tuple | None:
    """What a block call's expansion depends on besides its input; None when an argument is a
    list (literal weights), which cannot be a dictionary key."""
    key = (block, *sorted(env.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _is_numeric(item: ast.Item) -> bool:
    return isinstance(item, (ast.Number, ast.Negate, ast.Binary, ast.Conditional))


class _EvalError(Exception):
    def __init__(self, code: str, message: str, span: Span, help: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.help = code, message, span, help


_MAX_MAGNITUDE = 10**18


class _Evaluator:
    """Evaluates argument items; iterative over nesting so deep parentheses cannot overflow."""

    def __init__(self, env: dict[str, Any], words_allowed: bool):
        self.env = env
        self.words_allowed = words_allowed

    def value(self, item: ast.Item) -> Any:
        if isinstance(item, ast.Dims):
            return self._checked(item.values, item.span)
        if isinstance(item, ast.Window):
            return WindowValue(self.value(item.extent), self.value(item.stride))
        if isinstance(item, ast.Pair):
            return PairValue(self.value(item.first), self.value(item.second))
        if isinstance(item, ast.Array):
            return self._array(item)
        if isinstance(item, ast.Name) and item.id not in self.env and self.words_allowed:
            return item.id
        return self.expression(item)

    def _array(self, array: ast.Array) -> list:
        result: list = []
        stack = [(array, result)]
        while stack:
            node, target = stack.pop()
            for element in node.elements:
                if isinstance(element, ast.Array):
                    inner: list = []
                    target.append(inner)
                    stack.append((element, inner))
                else:
                    target.append(self._checked(element.value, element.span))
        return result

    def expression(self, root: ast.Expr) -> Any:
        if isinstance(root, (ast.Number, ast.Name)):  # most arguments: no stack needed
            return self._apply(root, [])
        # Post-order evaluation with an explicit stack.
        results: dict[int, Any] = {}
        stack: list[tuple[ast.Expr, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            children = _children(node)
            if not ready and children:
                stack.append((node, True))
                stack.extend((child, False) for child in children)
                continue
            results[id(node)] = self._apply(node, [results[id(c)] for c in children])
        return results[id(root)]

    def _apply(self, node: ast.Expr, operands: list[Any]) -> Any:
        if isinstance(node, ast.Number):
            return self._checked(node.value, node.span)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise _EvalError(
                    "E209",
                    f"undefined name '{node.id}'",
                    node.span,
                    help=did_you_mean(node.id, self.env)
                    or ("names in arguments are block parameters or repeat counters" if not self.env else None),
                )
            return self.env[node.id]
        if isinstance(node, ast.Negate):
            return self._checked(-self._number(operands[0], node.operand.span), node.span)
        if isinstance(node, ast.Conditional):
            return operands[1] if operands[0] else operands[2]
        left, right = (self._number(v, s.span) for v, s in zip(operands, (node.left, node.right)))
        op = node.op
        if op == "/":
            if right == 0:
                raise _EvalError("E302", "division by zero", node.span)
            quotient = left / right
            result = (
                int(quotient) if isinstance(left, int) and isinstance(right, int) and left % right == 0 else quotient
            )
        else:
            result = _BINARY[op](left, right)
        return self._checked(result, node.span)

    def _number(self, value: Any, span: Span) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _EvalError("E301", f"expected a number, got {value!r}", span)
        return value

    def _checked(self, value: Any, span: Span) -> Any:
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if abs(v) > _MAX_MAGNITUDE or v != v or v in (float("inf"), float("-inf")):
                raise _EvalError("E303", f"the number {v} is too large", span)
        return value


# Comparisons give 1 or 0: the language has numbers only.
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "*": lambda a, b: a * b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b),
    ">": lambda a, b: int(a > b),
    "<=": lambda a, b: int(a <= b),
    ">=": lambda a, b: int(a >= b),
}


def _children(node: ast.Expr) -> list[ast.Expr]:
    if isinstance(node, ast.Negate):
        return [node.operand]
    if isinstance(node, ast.Binary):
        return [node.left, node.right]
    if isinstance(node, ast.Conditional):
        return [node.test, node.then, node.otherwise]
    return []


def resolve(
    module: ast.Module, read_module: Callable[[str], ast.Module], limits: Limits = Limits()
) -> tuple[Graph, list[Diagnostic]]:
    """Build the IR graph of a parsed module; raise CnnError when any error was found."""
    return Resolver(module, read_module, limits).run()
