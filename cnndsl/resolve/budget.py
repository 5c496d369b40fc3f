"""The limits' charging while expanding: layers, steps and name characters, with the E214 and
E217 diagnostics that stop an expansion that would pass one of them."""

from __future__ import annotations

from typing import Any, NamedTuple, NoReturn

from ..diagnostics import DiagnosticSink, Label, error, shorten
from ..source import Source, Span
from ..syntax import ast
from .frames import Stop
from .limits import Limits

CallKey = tuple[Any, ...]  # a block's name and its arguments, sorted


class Cost(NamedTuple):
    """Counters of expansion work; the difference of two readings is what happened in between."""

    layers: int
    steps: int
    name_chars: int
    diagnostics: int

    def since(self, earlier: Cost) -> Cost:
        return Cost(
            self.layers - earlier.layers,
            self.steps - earlier.steps,
            self.name_chars - earlier.name_chars,
            self.diagnostics - earlier.diagnostics,
        )

    @property
    def is_empty(self) -> bool:
        """No layer made and nothing reported: doing it again changes nothing but the counts."""
        return self.layers == 0 and self.diagnostics == 0


class Budget:
    """What expansion has used of the limits so far; each charge stops it (`Stop`) with a
    located diagnostic as soon as a limit is passed."""

    def __init__(self, limits: Limits, sink: DiagnosticSink):
        self.limits = limits
        self.sink = sink
        self.layers = 0
        self.steps = 0  # expansion work, charged whether or not it creates layers
        self.name_chars = 0  # characters of the hierarchical names and prefixes built so far
        # (block, arguments) -> what the first expansion of that call cost, and whether it returned
        # its input unchanged: a call that cost nothing but steps is charged, not expanded again.
        self.call_costs: dict[CallKey, tuple[Cost, bool]] = {}

    def cost(self) -> Cost:
        return Cost(self.layers, self.steps, self.name_chars, self.sink.added)

    def layer(self, source: Source, span: Span) -> None:
        self.layers += 1
        if self.layers > self.limits.max_layers:
            self.too_many_layers(source, span)

    def step(self, source: Source, span: Span, steps: int = 1) -> None:
        """Charge expansion work: a statement, an element, an iteration. Work that creates no
        layer (empty repetitions, calls of empty blocks, an error made 10^8 times) is bounded too."""
        self.steps += steps
        if self.steps > self.limits.max_steps:
            self.too_many_steps(source, span)

    def name(self, source: Source, name: str, span: Span) -> str:
        """Charge a hierarchical name (or prefix) to the budget for all names: nesting makes every
        name longer, so without it memory would grow with the square of the depth."""
        self.name_chars += len(name)
        if self.name_chars > self.limits.max_name_chars:
            self.names_too_long(source, span, name)
        return name

    def call(self, key: CallKey, source: Source, span: Span) -> bool:
        """Before a block call whose arguments were seen before: stop when its known cost would
        pass a limit; True when it made nothing (it is charged here and need not be expanded)."""
        known = self.call_costs.get(key)
        if known is None:
            return False
        cost, unchanged = known
        if self.steps + cost.steps > self.limits.max_steps:
            self.too_many_steps(source, span)
        if self.layers + cost.layers > self.limits.max_layers:
            self.too_many_layers(source, span)
        if cost.is_empty and unchanged:
            self.step(source, span, cost.steps)
            return True
        return False

    def too_many_layers(self, source: Source, span: Span) -> NoReturn:
        self.sink.add(
            error(
                "E214",
                f"the network expands to more than {self.limits.max_layers:,} layers",
                Label(source, span),
                help="check repetition counts; raise the limit with --max-layers if intended",
            )
        )
        raise Stop

    def too_many_steps(self, source: Source, span: Span) -> NoReturn:
        self.sink.add(
            error(
                "E214",
                f"expanding the network takes more than {self.limits.max_steps:,} steps "
                f"(statements, layers, repetitions and block calls)",
                Label(source, span),
                help="check repetition counts and block calls; raise the limit with --max-steps if intended",
            )
        )
        raise Stop

    def names_too_long(self, source: Source, span: Span, example: str) -> NoReturn:
        self.sink.add(
            error(
                "E217",
                f"the layers' names add up to more than {self.limits.max_name_chars:,} characters",
                Label(source, span),
                notes=[f"names grow with every level of nesting: '{shorten(example)}'"],
                help="nest fewer levels of repeat, concat and block calls, or raise the limit "
                "with --max-name-chars if intended",
            )
        )
        raise Stop

    def repetition(
        self, source: Source, element: ast.Element, count_item: ast.Item, count: int, cost: Cost, first_prefix: str
    ) -> None:
        """E214 (E217) as soon as the rest of a uniform repetition would pass the layer, step or
        name limit; `cost` is what its first iteration took."""
        rest = count - 1
        limits = self.limits
        if self.layers + cost.layers * rest > limits.max_layers:
            self._repetition_too_large(
                source, element, count_item, count, cost.layers, "layer", limits.max_layers, "--max-layers"
            )
        if self.steps + cost.steps * rest > limits.max_steps:
            self._repetition_too_large(
                source, element, count_item, count, cost.steps, "step", limits.max_steps, "--max-steps"
            )
        if self.name_chars + cost.name_chars * rest > limits.max_name_chars:
            self.names_too_long(source, count_item.span, first_prefix)

    def _repetition_too_large(
        self,
        source: Source,
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
        assert element.body is not None  # a repetition has a body (checked before it expands)
        self.sink.add(
            error(
                "E214",
                f"the network {what} {units(limit)}: this repetition alone "
                f"{'adds' if unit == 'layer' else 'takes'} {per_iteration * count:,}",
                Label(source, count_item.span, f"{count:,} iterations of {units(per_iteration)}"),
                secondary=[
                    Label(
                        source,
                        element.body.span,
                        f"one iteration {'expands to' if unit == 'layer' else 'takes'} {units(per_iteration)}",
                    )
                ],
                notes=[] if unit == "layer" else ["a step is a statement, a layer, an iteration or a block call"],
                help=f"check repetition counts; raise the limit with {option} if intended",
            )
        )
        raise Stop
