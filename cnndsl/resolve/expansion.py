"""Expansion: bodies, chains and elements to nodes, block calls included.

A statement of plain layers is expanded by plain calls; whatever nests (a combinator, a block
call) becomes an Expansion on the work stack (cnndsl.resolve.work), so the depth of nesting is
bounded by the limits, never by Python's recursion limit or stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..diagnostics import DiagnosticSink, Label, error, suggestion, warning
from ..ir import Graph, Node, Scope
from ..layers import REGISTRY
from ..layers.base import Arg, ArgIssue, Layer
from ..syntax import ast
from .binding import Binder
from .budget import Budget, CallKey
from .combinators import Combinators
from .frames import COMBINATORS, Binding, BlockInfo, Env, Frame, Stop
from .limits import Limits
from .naming import Namer
from .ordering import continues, statement_order
from .tensor_shapes import TensorShapes
from .work import Expansion, Step


class Expander:
    def __init__(self, blocks: dict[str, BlockInfo], limits: Limits, sink: DiagnosticSink, graph: Graph):
        self.blocks = blocks
        self.limits = limits
        self.sink = sink
        self.budget = Budget(limits, sink)
        self.binder = Binder(sink, TensorShapes(graph))
        self.namer = Namer(sink, self.budget, graph)
        self.combinators = Combinators(self, blocks, limits, sink, self.budget, self.binder, self.namer)
        self.signatures: dict[str, tuple[Arg, ...]] = {}  # block name -> its parameters as a signature

    # --- bodies and chains --------------------------------------------------------------------

    def body(self, chains: Sequence[ast.Chain], frame: Frame, x: Node, result_used: bool = True) -> Step:
        """Expand the statements of one body; its result is that of its last statement (a block's
        output; the network's when no `output` names others)."""
        if not chains:
            return x
        order = statement_order(chains, frame, self.blocks, self.sink)
        results: dict[int, Node] = {}
        for position, index in enumerate(order):
            chain = chains[index]
            self.budget.step(frame.source, chain.span)
            step = self.chain(chain, frame, results.get(index - 1, x) if index > 0 else x)
            if not isinstance(step, Node):
                return self._rest_of_body(chains, frame, x, result_used, order, position, results, step)
            results[index] = step
        return self._body_result(chains, frame, result_used, results)

    def _rest_of_body(
        self,
        chains: Sequence[ast.Chain],
        frame: Frame,
        x: Node,
        result_used: bool,
        order: list[int],
        position: int,
        results: dict[int, Node],
        pending: Expansion,
    ) -> Expansion:
        """The body from the statement at `position` in `order` on, that statement's expansion
        being `pending`."""
        results[order[position]] = yield pending
        for index in order[position + 1 :]:
            chain = chains[index]
            self.budget.step(frame.source, chain.span)
            step = self.chain(chain, frame, results.get(index - 1, x) if index > 0 else x)
            results[index] = step if isinstance(step, Node) else (yield step)
        return self._body_result(chains, frame, result_used, results)

    def _body_result(
        self, chains: Sequence[ast.Chain], frame: Frame, result_used: bool, results: dict[int, Node]
    ) -> Node:
        for index in range(len(chains) - 1):
            chain = chains[index]
            if chain.target is None and not continues(chains[index + 1], frame):
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

    def scoped_body(self, chains: Sequence[ast.Chain], frame: Frame, x: Node) -> Step:
        """A body whose frame ends with it (a block's, an iteration's): W106 for its unused names."""
        step = self.body(chains, frame, x)
        if isinstance(step, Node):
            self.warn_unused(frame)
            return step
        return self._warn_after(step, frame)

    def _warn_after(self, pending: Expansion, frame: Frame) -> Expansion:
        result = yield pending
        self.warn_unused(frame)
        return result

    def chain(self, chain: ast.Chain, frame: Frame, incoming: Node) -> Step:
        elements = chain.elements
        start = frame.reference(elements[0])
        if start is not None:
            start.used = True
            x, first = start.node, 1
        else:
            x, first = incoming, 0
        for position in range(first, len(elements)):
            step = self.element(elements[position], frame, x, chain_start=position == 0)
            if not isinstance(step, Node):
                return self._rest_of_chain(chain, frame, position, step)
            x = step
        if chain.target is not None:
            frame.tensors[chain.target.id] = Binding(x, chain.target.span)
        return x

    def _rest_of_chain(self, chain: ast.Chain, frame: Frame, position: int, pending: Expansion) -> Expansion:
        """The chain from its element at `position` on, that element's expansion being `pending`."""
        x = yield pending
        elements = chain.elements
        for later in range(position + 1, len(elements)):
            step = self.element(elements[later], frame, x, chain_start=False)
            x = step if isinstance(step, Node) else (yield step)
        if chain.target is not None:
            frame.tensors[chain.target.id] = Binding(x, chain.target.span)
        return x

    def warn_unused(self, frame: Frame) -> None:
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

    # --- elements -----------------------------------------------------------------------------

    def element(self, element: ast.Element, frame: Frame, x: Node, *, chain_start: bool) -> Step:
        self.budget.step(frame.source, element.span)
        self.binder.frame = frame  # the tensors its arguments, count or condition may read (`in.c`)
        word = element.kind.id
        kind = REGISTRY.get(word)
        merge = kind is not None and kind.arity is None
        # `concat { ... }` is the combinator; `concat a b` (no body) merges named tensors.
        if word in COMBINATORS and not (merge and element.body is None and element.items):
            return self.combinators.expand(element, frame, x)
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
                    f"'{word}' takes no braced body; only repeat, residual, concat, if and seq do",
                    Label(frame.source, element.body.span),
                )
            )
            return x
        if element.label is None and not element.items and frame.lookup(word) is not None:
            self.sink.add(
                error(
                    "E215",
                    f"the tensor '{word}' can only start a chain",
                    Label(frame.source, element.span),
                    help=f"start a new line with '{word} -> ...', or give it to a layer that takes tensors: "
                    + ", ".join(f"'{kind} {word}'" for kind in REGISTRY if REGISTRY[kind].arity is None),
                )
            )
            return x
        if word in self.blocks:
            return self.call_block(element, frame, x)
        if kind is None:
            candidates = [*REGISTRY, *self.blocks, *COMBINATORS, *frame.visible_tensors()]
            hint, fix = suggestion(word, candidates, element.kind.span)
            label = Label(frame.source, element.kind.span)
            self.sink.add(error("E201", f"unknown layer kind '{word}'", label, help=hint, fix=fix))
            return x
        if merge:
            return self._merge(element, kind, frame, x, chain_start)
        layer = self._build_layer(kind, word, element, frame)
        if layer is None:
            return x
        return self.namer.add_node(frame, element, layer, (x,))

    def _build_layer(self, kind: type[Layer], word: str, element: ast.Element, frame: Frame) -> Layer | None:
        bound = self.binder.bind(kind.signature, element, frame.source, frame.env, f"'{word}'")
        if bound is None:
            return None
        values, spans = bound
        try:
            return kind.from_args(values, word)
        except ArgIssue as issue:
            span = spans.get(issue.arg, element.head_span) if issue.arg else element.head_span
            self.sink.add(error(issue.code, issue.message, Label(frame.source, span), help=issue.help))
            return None

    def _merge(self, element: ast.Element, kind: type[Layer], frame: Frame, x: Node, chain_start: bool) -> Node:
        inputs = [] if chain_start else [x]
        for item in element.items:
            if not isinstance(item, ast.Name):
                self.sink.add(error("E301", f"'{element.kind.id}' takes tensor names", Label(frame.source, item.span)))
                return x
            binding = frame.lookup(item.id)
            if binding is None:
                hint, fix = suggestion(item.id, frame.visible_tensors(), item.span)
                self.sink.add(
                    error("E208", f"undefined tensor '{item.id}'", Label(frame.source, item.span), help=hint, fix=fix)
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
        return self.namer.add_node(frame, element, kind(), tuple(inputs))

    # --- block calls --------------------------------------------------------------------------

    def call_block(self, element: ast.Element, frame: Frame, x: Node, *, prefix: str | None = None) -> Step:
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
            raise Stop
        if name in frame.block_stack:
            self.sink.add(
                error(
                    "E211",
                    f"block '{name}' uses itself",
                    Label(frame.source, element.kind.span),
                    secondary=[Label(info.source, info.definition.name.span, "defined here")],
                    notes=["call chain: " + " -> ".join((*frame.block_stack, name))],
                    help="blocks cannot be recursive; use 'repeat' for repetition",
                )
            )
            raise Stop
        signature = self.signatures.get(name)
        if signature is None:
            # Parameters without a default are positional; those with one are keywords (`stride 2`).
            signature = self.signatures[name] = tuple(
                Arg(p.name.id, None, p.default, positional=p.default is None, required=p.default is None)
                for p in info.definition.params
            )
        self.binder.frame = frame  # also when a repetition calls the block directly
        bound = self.binder.bind(
            signature, element, frame.source, frame.env, f"block '{name}'", block_input=x, definition=info.source
        )
        if bound is None:
            return x
        env, _ = bound
        if prefix is None:
            local = self.namer.local_name(frame, element.label, name, element.head_span)
            prefix = self.budget.name(frame.source, frame.prefix + local + ".", element.span)
        # A block sees only its arguments and its input, so a call with the same arguments costs
        # the same every time: a call that would pass a limit is stopped before it starts.
        key = _call_key(name, env)
        if key is not None and self.budget.call(key, frame.source, element.span):
            return x
        return self._expand_call(info, env, prefix, element, frame, x, key)

    def _expand_call(
        self,
        info: BlockInfo,
        env: Env,
        prefix: str,
        element: ast.Element,
        frame: Frame,
        x: Node,
        key: CallKey | None,
    ) -> Expansion:
        """A block call's expansion; its cost is kept for later calls with the same arguments."""
        before = self.budget.cost()
        result = yield self._expand_block(info, env, prefix, element, frame, x)
        if key is not None and key not in self.budget.call_costs:
            self.budget.call_costs[key] = (self.budget.cost().since(before), result is x)
        return result

    def _expand_block(
        self, info: BlockInfo, env: Env, prefix: str, element: ast.Element, frame: Frame, x: Node
    ) -> Step:
        name = info.definition.name.id
        inner = Frame(
            info.source,
            env,
            prefix,
            Scope(prefix[:-1], name, frame.scope, (frame.source, element.span), info.definition, tuple(env.items())),
            block_stack=(*frame.block_stack, name),
        )
        inner.tensors["in"] = Binding(x, element.span, used=True)
        chains = info.definition.body.chains
        only = chains[0].elements[0] if len(chains) == 1 and len(chains[0].elements) == 1 else None
        if only is not None and only.label is None and only.body is not None:
            if only.kind.id == "repeat":
                # A block that is one repetition names its iterations directly: layer2.0.conv1.
                self.binder.frame = inner  # its count may read the block's input (`in.c`)
                return self.combinators.repeat(only, only.body, inner, x, direct=True)
            if only.kind.id == "concat":
                # A block that is one concat names its branches directly: inception3a.branch2.conv1.
                return self.combinators.concat(only, only.body, inner, x, direct=True)
        return self.scoped_body(chains, inner, x)


def _call_key(block: str, env: dict[str, Any]) -> CallKey | None:
    """What a block call's expansion depends on besides its input; None when an argument is a
    list (literal weights), which cannot be a dictionary key."""
    key = (block, *sorted(env.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key
