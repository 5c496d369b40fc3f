"""Budgets: `assert QUANTITY OP LIMIT` in a spec, or `--budget` on the command line, checked last.

A budget reads one quantity of the checked network from `QUANTITIES` (analysis/quantities.py), a
table of what can be asserted: its name, its unit, the arguments it takes, how to measure it and
which layers contribute most to it (named in a failed budget's notes). The limit is read exactly (a Fraction: `1.5G` is
1,500,000,000, never a rounded float) with an SI suffix (k, M, G, T: powers of 1000) or, for byte
quantities, a byte unit (B, kB ... TB, KiB ... TiB: powers of 1024 for the binary ones).

E220: an unknown quantity or argument, or a quantity the network does not have; E305: a unit that
does not parse or fit, or a comparison other than <, <=, >, >=; E303: a limit past 2**63 - 1;
E414: a budget the network does not meet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from ..diagnostics import CnnError, Diagnostic, DiagnosticSink, Label, byte_size, did_you_mean, error
from ..ir import Node
from ..source import Source
from ..syntax import ast
from .quantities import QUANTITIES, Arguments, ArgumentValues, Measured, Quantity, Unmeasurable

if TYPE_CHECKING:  # `fractions` imports `decimal` (4 ms): only a spec with a budget reads a limit
    from fractions import Fraction

LIMIT_MAX = 2**63 - 1  # what JSON consumers and every count here hold as a 64-bit integer
SHOWN_CONTRIBUTORS = 3  # layers, and top-level blocks, named in a failed budget's notes

SI_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_UNITS = {
    "B": 1,
    "kB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
COMPARISONS: dict[str, Callable[[int, Fraction], bool]] = {
    "<=": lambda value, limit: value <= limit,
    "<": lambda value, limit: value < limit,
    ">=": lambda value, limit: value >= limit,
    ">": lambda value, limit: value > limit,
}
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\Z|\.[0-9]+([eE][-+]?[0-9]+)?\Z")


class Budget(NamedTuple):
    """A budget read and checked against the table: `params <= 5M`, from a spec or an option."""

    quantity: Quantity
    arguments: Arguments
    op: str
    limit: Fraction
    text: str  # as written, for messages
    where: Label | None  # the assert statement; None for --budget


def read_budget(statement: ast.Assert, source: Source, sink: DiagnosticSink, located: bool = True) -> Budget | None:
    """The budget an assert statement states, or None after adding its mistakes to `sink`."""
    text = source.text[statement.span.start : statement.span.end].removeprefix("assert").strip()
    quantity = QUANTITIES.get(statement.quantity.id)
    if quantity is None:
        sink.add(
            error(
                "E220",
                f"unknown budget quantity '{statement.quantity.id}'",
                Label(source, statement.quantity.span),
                notes=[f"budgets can assert: {', '.join(QUANTITIES)}"],
                help=did_you_mean(statement.quantity.id, QUANTITIES),
            )
        )
        return None
    arguments = _arguments(quantity, statement.arguments, source, sink)
    if statement.op not in COMPARISONS:
        sink.add(
            error(
                "E305",
                f"a budget compares with <, <=, > or >=, not '{statement.op}'",
                Label(source, statement.op_span),
                help="a budget is a bound: write 'params <= 5M' for a ceiling, 'rf >= 224' for a floor",
            )
        )
        return None
    limit = _limit(quantity, statement.value, source, sink)
    if arguments is None or limit is None:
        return None
    return Budget(quantity, arguments, statement.op, limit, text, Label(source, statement.span) if located else None)


def _arguments(
    quantity: Quantity, written: tuple[ast.BudgetArgument, ...], source: Source, sink: DiagnosticSink
) -> Arguments | None:
    arguments: dict[str, int | str] = {}
    for argument in written:
        word = argument.name.id
        expected = quantity.arguments.get(word)
        if expected is None or word in arguments:
            accepted = ", ".join(quantity.arguments) or "none"
            sink.add(
                error(
                    "E220",
                    f"'{quantity.name}' is given '{word}' twice"
                    if word in arguments
                    else f"'{quantity.name}' takes no argument '{word}'",
                    Label(source, argument.name.span),
                    notes=[f"the arguments of '{quantity.name}': {accepted}"],
                    help=did_you_mean(word, quantity.arguments),
                )
            )
            return None
        value = _argument_value(quantity, word, expected, argument, source, sink)
        if value is None:
            return None
        arguments[word] = value
    return arguments


def _argument_value(
    quantity: Quantity,
    word: str,
    expected: ArgumentValues,
    argument: ast.BudgetArgument,
    source: Source,
    sink: DiagnosticSink,
) -> int | str | None:
    """The value of `word VALUE`, or None after an E220 saying what the argument takes."""
    value = argument.value
    suggestion = None
    if isinstance(expected, range):
        if isinstance(value, ast.Number) and int(value.value) in expected:
            return int(value.value)
        wanted = f"a whole number from {expected.start:,} to {expected.stop - 1:,}"
    else:
        if isinstance(value, ast.Name) and value.id in expected:
            return value.id
        wanted = "one of " + ", ".join(expected)
        suggestion = did_you_mean(value.id, expected) if isinstance(value, ast.Name) else None
    sink.add(
        error(
            "E220",
            f"'{word}' of '{quantity.name}' takes {wanted}",
            Label(source, argument.span),
            help=suggestion,
        )
    )
    return None


def _limit(quantity: Quantity, value: ast.BudgetValue, source: Source, sink: DiagnosticSink) -> Fraction | None:
    units = {**SI_UNITS, **BYTE_UNITS} if quantity.of_bytes else SI_UNITS
    unit = value.unit.id if value.unit is not None else ""
    if unit not in units:
        known = BYTE_UNITS if unit in BYTE_UNITS else None
        sink.add(
            error(
                "E305",
                f"'{unit}' is a byte unit, and '{quantity.name}' counts {quantity.unit}"
                if known
                else f"unknown unit '{unit}' in a budget of '{quantity.name}'",
                Label(source, value.unit.span if value.unit is not None else value.span),
                notes=[f"units of '{quantity.name}': {', '.join(u for u in units if u) or 'none'}"],
                help=did_you_mean(unit, [u for u in units if u]),
            )
        )
        return None
    if not _NUMBER.match(value.number):
        raise AssertionError(f"the grammar admits only numbers here, not {value.number!r}")
    exponent = value.number.lower().partition("e")[2]
    from fractions import Fraction

    if exponent and abs(int(exponent)) > 40:  # past any limit: spare Fraction a 10**10**6
        limit = Fraction(LIMIT_MAX + 1) if int(exponent) > 0 else Fraction(0)
    else:
        limit = Fraction(value.number) * units[unit]
    if limit > LIMIT_MAX:
        sink.add(
            error(
                "E303",
                f"the budget limit {value.number}{unit} is too large",
                Label(source, value.span),
                notes=[f"a limit is at most {LIMIT_MAX:,} (2**63 - 1)"],
            )
        )
        return None
    return limit


def check_budgets(model: Measured, budgets: list[Budget]) -> None:
    """Raise CnnError with an E414 per budget the network does not meet."""
    failed = [failure for budget in budgets if (failure := _failure(model, budget)) is not None]
    if failed:
        raise CnnError(failed)


def check_spec_budgets(model: Measured) -> None:
    """The late pass: read the spec's asserts (E220, E303, E305), then check them (E414)."""
    sink = DiagnosticSink()
    budgets = [read_budget(statement, model.graph.source, sink) for statement in model.graph.asserts]
    sink.raise_if_errors()
    check_budgets(model, [b for b in budgets if b is not None])


def _failure(model: Measured, budget: Budget) -> Diagnostic | None:
    quantity = budget.quantity
    try:
        value = quantity.measure(model, budget.arguments)
    except Unmeasurable as missing:
        return error("E220", f"budget '{budget.text}' cannot be measured: {missing}", budget.where)
    if COMPARISONS[budget.op](value, budget.limit):
        return None
    per_layer = quantity.per_layer(model, budget.arguments)
    total = sum(per_layer.values()) or 1
    layers = sorted(per_layer.items(), key=lambda item: -item[1])[:SHOWN_CONTRIBUTORS]
    blocks: dict[str, int] = {}
    for node, amount in per_layer.items():
        if node.scope is not None:
            top = node.scopes[0].path
            blocks[top] = blocks.get(top, 0) + amount
    notes = [
        "largest layers: "
        + ", ".join(
            f"'{node.name}' {amount:,} ({_share(amount, total)}, {_place(node)})" for node, amount in layers if amount
        )
    ]
    largest_blocks = sorted(blocks.items(), key=lambda item: -item[1])[:SHOWN_CONTRIBUTORS]
    if largest_blocks:
        notes.append(
            "largest blocks: "
            + ", ".join(f"'{name}' {amount:,} ({_share(amount, total)})" for name, amount in largest_blocks)
        )
    side = "over" if budget.op in ("<=", "<") else "under"
    where = budget.where
    if where is None and layers:  # --budget: point at the largest contributor, as E408 does
        node = layers[0][0]
        where = Label(node.source, node.span, f"the largest contributor, '{node.name}'")
    origin = "" if budget.where is not None else " (--budget)"
    return error(
        "E414",
        f"budget '{budget.text}'{origin} fails: {quantity.verb} {_amount(quantity, value)}, "
        f"{side} the limit of {_shown(quantity, budget.limit)}",
        where,
        notes=notes,
        help=f"shrink the largest layers, or raise the limit if {value:,} is intended"
        if side == "over"
        else f"{quantity.how_to_grow}, or lower the limit if {value:,} is intended",
    )


def _place(node: Node) -> str:
    """'resnet.cnn:12': where a layer is written (an included file's layers point into it)."""
    return f"{os.path.basename(node.source.path)}:{node.source.line_col(node.span.start)[0]}"


def _share(amount: int, total: int) -> str:
    return f"{100 * amount / total:.1f}%"


def _amount(quantity: Quantity, value: int) -> str:
    """'60,362 parameters'; '102,840,616 bytes (98.1 MiB)'."""
    return f"{value:,} {quantity.unit}" + (f" ({byte_size(value)})" if quantity.of_bytes and value >= 1024 else "")


def _shown(quantity: Quantity, limit: Fraction) -> str:
    number = f"{int(limit):,}" if limit.denominator == 1 else f"{float(limit):,.3f}"
    return number + (f" ({byte_size(int(limit))})" if quantity.of_bytes and limit >= 1024 else "")


def parse_budget_option(text: str) -> Budget:
    """`--budget 'params<=5M'`: the statement `assert TEXT`, read as in a spec; ValueError with the
    first mistake's message (a usage error), as the option is not in any file."""
    from ..reader import source_from_text
    from ..syntax import parser

    source = source_from_text("--budget", "assert " + text)
    try:
        module = parser.parse(source, 100, 100)
    except CnnError as failure:
        several = ";" in text or "\n" in text
        prefix = "one budget per option: " if several else ""
        raise ValueError(f"{text!r}: {prefix}{failure.diagnostics[0].message}") from None
    statements = [s for s in module.statements if isinstance(s, ast.Assert)]
    if len(statements) != 1 or len(module.statements) != 1:
        raise ValueError(f"{text!r}: expected one budget, such as 'params<=5M'")
    sink = DiagnosticSink()
    budget = read_budget(statements[0], source, sink, located=False)
    if budget is None:
        mistake = sink.items[0]
        raise ValueError(f"{text!r}: {mistake.message}" + (f"; {mistake.help}" if mistake.help else ""))
    return budget
