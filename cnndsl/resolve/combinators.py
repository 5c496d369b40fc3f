"""The combinators: `repeat`, `residual { } shortcut { }`, `concat { }`, `if { } else { }` and
`seq { }`.

Each nests bodies or chains; it asks its expander for them as Steps and, where one is an
Expansion, yields it to the work stack (cnndsl.resolve.work) rather than recursing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from ..diagnostics import DiagnosticSink, Label, error, warning
from ..ir import Node
from ..layers import REGISTRY
from ..syntax import ast
from .binding import Binder
from .budget import Budget
from .frames import COMBINATORS, BlockInfo, Frame, Stop
from .limits import Limits
from .naming import Namer
from .work import Expansion, Step


class Expands(Protocol):
    """What combinators need from the expander (cnndsl.resolve.expansion.Expander)."""

    def body(self, chains: Sequence[ast.Chain], frame: Frame, x: Node) -> Step: ...

    def scoped_body(self, chains: Sequence[ast.Chain], frame: Frame, x: Node) -> Step: ...

    def chain(self, chain: ast.Chain, frame: Frame, incoming: Node) -> Step: ...

    def call_block(self, element: ast.Element, frame: Frame, x: Node, *, prefix: str | None = None) -> Step: ...


class Combinators:
    def __init__(
        self,
        expander: Expands,
        blocks: dict[str, BlockInfo],
        limits: Limits,
        sink: DiagnosticSink,
        budget: Budget,
        binder: Binder,
        namer: Namer,
    ):
        self.expander = expander
        self.blocks = blocks
        self.limits = limits
        self.sink = sink
        self.budget = budget
        self.binder = binder
        self.namer = namer
        self.mentions: dict[tuple[int, str], bool] = {}  # see _mentions

    def expand(self, element: ast.Element, frame: Frame, x: Node) -> Step:
        """A combinator element: its follow-up parts checked, then expanded by its kind."""
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
        body = element.body
        if body is None:
            self.sink.add(
                error("E203", f"'{word}' needs a braced body: {word} {{ ... }}", Label(frame.source, element.head_span))
            )
            return x
        if word == "repeat":
            return self.repeat(element, body, frame, x)
        if word == "residual":
            return self.residual(element, body, frame, x)
        if word == "concat":
            return self.concat(element, body, frame, x)
        if word == "seq":
            return self.seq(element, body, frame, x)
        return self.if_(element, body, frame, x)

    def repeat(self, element: ast.Element, body: ast.Body, frame: Frame, x: Node, direct: bool = False) -> Step:
        """`repeat N [as i] [from K] [named STEM] { ... }`; `direct`: the block instance is the
        repetition's scope. Iterations are named K, K+1, ... (0 by default), after STEM if given
        (`named denselayer from 1`: denselayer1, denselayer2, as torchvision's DenseNet)."""
        header = _repeat_header(element.items)
        if header is None:
            self.sink.add(
                error(
                    "E301",
                    "repeat takes a count, then optionally 'as NAME', 'from N' and 'named NAME': repeat 3 as i { ... }",
                    Label(frame.source, element.head_span),
                )
            )
            return x
        count_item, counter = header.times, header.counter
        count = self.binder.evaluate_int(count_item, frame.source, frame.env, "repeat count", 0)
        if count is None:
            return x
        if count > self.limits.max_repeat:
            self.sink.add(
                error(
                    "E303",
                    f"repeat count {count:,} is over the limit of {self.limits.max_repeat:,}",
                    Label(frame.source, count_item.span),
                    help="raise it with --max-repeat if intended",
                )
            )
            raise Stop
        first = 0
        if header.first is not None:
            start = self.binder.evaluate_int(header.first, frame.source, frame.env, "repeat start", 0)
            if start is None:
                return x
            first = start
        repetition: tuple[tuple[str, str], ...] = ()
        if element.label is None and frame.positions is not None and not direct and not header.stem:
            # In a seq, iterations continue its numbering: nn.Sequential(*[Block() for ...]).
            return self._numbered_iterations(element, body, count, first, counter, frame, x)
        if direct:
            base = frame.prefix  # layer2.0.conv1, not layer2.repeat1.0.conv1
        else:
            local = self.namer.local_name(frame, element.label, "repeat", element.head_span)
            base = self.budget.name(frame.source, f"{frame.prefix}{local}.", element.span)
            repetition = ((base[:-1], "repeat"),)
        names = Iterations(count, first, header.stem, counter)
        return self._iterations(element, body, count_item, names, base, repetition, frame, x)

    def _iterations(
        self,
        element: ast.Element,
        body: ast.Body,
        count_item: ast.Item,
        names: Iterations,
        base: str,
        repetition: tuple[tuple[str, str], ...],
        frame: Frame,
        x: Node,
    ) -> Expansion:
        count, counter = names.times, names.counter
        chains = body.chains
        sole = chains[0].elements[0] if len(chains) == 1 and len(chains[0].elements) == 1 else None
        # `layer1: repeat 3 { bottleneck 64 }` names layer1.0.conv1, as torchvision does.
        sole_call = sole is not None and sole.label is None and sole.kind.id in self.blocks and sole.body is None
        budget, source, start = self.budget, frame.source, x
        # Iterations that cannot see the counter cost the same, so after the first one the whole
        # repetition's cost is known: charge it at once rather than layer by layer, so that
        # `repeat 1000 { repeat 1000 { ... } }` stops after 1,000 layers, not 100,000. An iteration
        # that made nothing (no layer, no diagnostic) is not expanded again, only charged.
        uniform = counter is None or not _mentions(body, counter, self.mentions)
        before = budget.cost()
        for iteration in range(count):
            if iteration == 1 and uniform:
                cost = budget.cost().since(before)
                budget.repetition(source, element, count_item, count, cost, f"{base}{names.stem}{names.first}.")
                if cost.is_empty and x is start:
                    budget.step(source, element.span, (count - 1) * cost.steps)
                    break
            before = budget.cost()
            budget.step(source, element.span)
            number = names.first + iteration
            prefix = budget.name(source, f"{base}{names.stem}{number}.", element.span)
            env = {**frame.env, counter: number} if counter else frame.env
            if sole_call:
                assert sole is not None
                step = self.expander.call_block(sole, frame.child(env=env, scopes=repetition), x, prefix=prefix)
            else:
                inner = frame.child(prefix=prefix, scopes=(*repetition, (prefix[:-1], "iteration")), env=env)
                step = self.expander.scoped_body(chains, inner, x)
            x = step if isinstance(step, Node) else (yield step)
        return x

    def _numbered_iterations(
        self,
        element: ast.Element,
        body: ast.Body,
        count: int,
        first: int,
        counter: str | None,
        frame: Frame,
        x: Node,
    ) -> Expansion:
        """An unlabelled repeat inside a seq: no prefix of its own; every iteration's layers and
        block instances take the seq's next positions."""
        budget, source = self.budget, frame.source
        for iteration in range(count):
            budget.step(source, element.span)
            env = {**frame.env, counter: first + iteration} if counter else frame.env
            path = f"{frame.prefix}{frame.positions[0] if frame.positions else 0}"
            inner = frame.child(env=env, scopes=((path, "iteration"),))
            x = yield self.expander.scoped_body(body.chains, inner, x)
        return x

    def residual(self, element: ast.Element, body: ast.Body, frame: Frame, x: Node) -> Expansion:
        """`residual [when (COND)] { body } [shortcut { body }]`: the body's output plus the input
        (or the shortcut's). With `when`, a false condition leaves the body alone, without the sum
        (MobileNet's inverted residual adds the input only where the stride is 1 and the width kept)."""
        applies = self._residual_condition(element, frame)
        if applies is None:
            return x
        y = yield self.expander.body(body.chains, frame.child(), x)
        if not applies:
            return y
        shortcut = _followup(element, "shortcut")
        s = x
        if shortcut is not None:
            # The shortcut's layers are named beside the body's (torchvision's `downsample`).
            path = frame.prefix + "shortcut"
            s = yield self.expander.body(shortcut.chains, frame.child(scopes=((path, "shortcut"),)), x)
        if y is x:
            self.sink.add(
                warning(
                    "W106",
                    "the residual body is empty: this adds the input to itself",
                    Label(frame.source, body.span),
                )
            )
        return self.namer.add_node(frame, element, REGISTRY["add"](), (y, s), span=element.kind.span)

    def _residual_condition(self, element: ast.Element, frame: Frame) -> bool | None:
        """Whether the residual adds its input: no arguments, or `when (COND)`; None after an error."""
        items = element.items
        if not items:
            return True
        if len(items) != 2 or not isinstance(items[0], ast.Name) or items[0].id != "when":
            self.sink.add(
                error(
                    "E301",
                    "residual takes no arguments but an optional condition: residual when (stride == 1) { ... }",
                    Label(frame.source, element.head_span),
                )
            )
            return None
        condition = self.binder.evaluate_int(items[1], frame.source, frame.env, "condition", None)
        return None if condition is None else bool(condition)

    def seq(self, element: ast.Element, body: ast.Body, frame: Frame, x: Node) -> Expansion:
        """`seq { ... }` numbers its layers and block instances 0, 1, 2... as PyTorch's
        nn.Sequential numbers its modules. Labelled (`features: seq`), or inside another seq, it
        is a prefix (`features.0`); otherwise its positions are names in the enclosing scope
        (a block whose body is `seq { conv -> bn -> relu }` names `stem.0`, `stem.1`)."""
        if element.items:
            self.sink.add(error("E301", "seq takes no arguments", Label(frame.source, element.items[0].span)))
            return x
        if element.label is None and frame.positions is None:
            inner = frame.child()
        else:
            local = self.namer.local_name(frame, element.label, "seq", element.head_span)
            prefix = self.budget.name(frame.source, f"{frame.prefix}{local}.", element.span)
            inner = frame.child(prefix=prefix, scopes=((prefix[:-1], "seq"),))
        inner.positions = [0]
        return (yield self.expander.scoped_body(body.chains, inner, x))

    def concat(self, element: ast.Element, body: ast.Body, frame: Frame, x: Node, direct: bool = False) -> Expansion:
        """Branches are named under the concat (concat1.branch2.conv1), or directly under the block
        instance when the concat is the block's whole body (inception3a.branch2.conv1)."""
        local = self.namer.local_name(frame, element.label, "concat", element.head_span)
        base = frame.prefix if direct else self.budget.name(frame.source, f"{frame.prefix}{local}.", element.span)
        branches: list[Node] = []
        for index, chain in enumerate(body.chains, start=1):
            prefix = self.budget.name(frame.source, f"{base}branch{index}.", chain.span)
            inner = frame.child(prefix=prefix, scopes=((prefix[:-1], "branch"),))
            branches.append((yield self.expander.chain(chain, inner, x)))
        if len(branches) < 2:
            self.sink.add(
                error("E203", "concat needs at least two branches, one per line", Label(frame.source, body.span))
            )
            return x
        return self.namer.add_node(
            frame, element, REGISTRY["concat"](), tuple(branches), span=element.kind.span, local=local
        )

    def if_(self, element: ast.Element, body: ast.Body, frame: Frame, x: Node) -> Step:
        if len(element.items) != 1:
            self.sink.add(
                error(
                    "E301",
                    "if takes one condition: if (i == 0) { ... } else { ... }",
                    Label(frame.source, element.head_span),
                )
            )
            return x
        condition = self.binder.evaluate_int(element.items[0], frame.source, frame.env, "condition", None)
        if condition is None:
            return x
        chosen = body if condition else _followup(element, "else")
        if chosen is None:
            return x
        return self._branch(chosen, frame, x)

    def _branch(self, chosen: ast.Body, frame: Frame, x: Node) -> Expansion:
        # A generator, not a call: what nests is expanded on the work stack, never by recursion.
        return (yield self.expander.body(chosen.chains, frame.child(), x))


class RepeatHeader(NamedTuple):
    """`repeat N [as i] [from K] [named STEM]`, its words checked."""

    times: ast.Item
    counter: str | None
    first: ast.Item | None
    stem: str


class Iterations(NamedTuple):
    """How a repetition names its iterations: STEM followed by first, first + 1, ..."""

    times: int
    first: int
    stem: str
    counter: str | None


def _repeat_header(items: Sequence[ast.Item]) -> RepeatHeader | None:
    """The repeat's count and options, or None for words it does not take (E301)."""
    if not items:
        return None
    words: dict[str, str] = {}
    first: ast.Item | None = None
    options = items[1:]
    if len(options) % 2:
        return None
    for keyword, value in zip(options[::2], options[1::2], strict=True):
        if not isinstance(keyword, ast.Name) or keyword.id in words or (keyword.id == "from" and first):
            return None
        if keyword.id == "from":
            first = value
        elif keyword.id in ("as", "named") and isinstance(value, ast.Name):
            words[keyword.id] = value.id
        else:
            return None
    return RepeatHeader(items[0], words.get("as"), first, words.get("named", ""))


def _followup(element: ast.Element, keyword: str) -> ast.Body | None:
    return next((f.body for f in element.followups if f.keyword.id == keyword), None)


def _mentions(body: ast.Body, name: str, cache: dict[tuple[int, str], bool]) -> bool:
    """Whether `name` occurs anywhere in a body (as an argument, a tensor, a layer or a label).
    `cache` lives as long as the syntax trees (one resolver), so ids stay valid."""
    found = cache.get((id(body), name))
    if found is None:
        found = False
        pending: list[object] = [body]
        while pending and not found:
            node = pending.pop()
            if isinstance(node, ast.Name):
                found = node.id == name
            elif isinstance(node, (tuple, list)):  # syntax nodes are named tuples
                pending.extend(node)
        cache[(id(body), name)] = found
    return found
