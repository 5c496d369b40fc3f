"""Binding: an element's arguments to a layer's (or a block's) signature, each evaluated.

Leading positionals, then keywords (`pad 1`) and words (`avg`, `ceil`) in any order; each
mistake is a located diagnostic, with the fix for the ones new users make.
"""

from __future__ import annotations

import functools
from typing import Any

from ..diagnostics import Diagnostic, DiagnosticSink, Label, did_you_mean, error, suggestion
from ..ir import Node
from ..layers.base import Arg, ArgIssue, Shape, WindowValue
from ..source import Edit, Fix, Source, Span
from ..syntax import ast
from .evaluation import FAILED, EvalError, Evaluator
from .frames import Binding, Env, Frame
from .tensor_shapes import ShapeUnknown, TensorShapes

Bound = tuple[dict[str, Any], dict[str, Span]]  # values and where each was written, by argument


class Binder:
    """Binds and evaluates arguments. Expressions read tensor shapes (`in.c`) from the tensors of
    `frame`, which the expander sets to the frame of the element it expands before binding its
    arguments or evaluating a combinator's count or condition."""

    def __init__(self, sink: DiagnosticSink, shapes: TensorShapes):
        self.sink = sink
        self.shapes = shapes
        self.frame: Frame | None = None

    def bind(
        self,
        signature: tuple[Arg, ...],
        element: ast.Element,
        source: Source,
        env: Env,
        owner: str,
        *,
        block_input: Node | None = None,
        definition: Source | None = None,
    ) -> Bound | None:
        """Bind an element's items; None after reporting why they do not fit. `owner` names what
        is bound in messages. `block_input`: the signature is a block's, whose defaults are
        expressions in its `definition`'s file, evaluated where `in` is the block's input and the
        parameters before them are known (`block t(c = in.c / 2)`, `block m(a, stem = 32 * a)`)."""
        by_word, by_name, positionals = _signature_index(signature)
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        items = element.items
        next_positional = 0
        keyword_seen = False
        index = 0
        failures: list[Diagnostic] = []

        def fail(code: str, message: str, span: Span, help: str | None = None, fix: Fix | None = None) -> None:
            failures.append(error(code, message, Label(source, span), help=help, fix=fix))
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
                    issue.help
                    or (f"to divide, parenthesise the expression: '({written})'" if division else None)
                    or _rounding_help(issue.code, value, written),
                )
                values.setdefault(arg.name, None)  # reported once: not "missing" as well
                return False
            spans[arg.name] = span
            return True

        while index < len(items):
            item = items[index]
            name = item.id if isinstance(item, ast.Name) else None
            is_variable = name is not None and name in env
            positional_open = next_positional < len(positionals) and not keyword_seen
            if name is not None and name in by_word:
                arg = by_word[name]
                store(arg, name, item.span)  # a word may come before the positionals: `pool avg 2/2`
                index += 1
                if arg.value_after_word and index < len(items) and _is_numeric(items[index]):
                    value = self.evaluate(items[index], source, env)
                    if value is FAILED:
                        return None
                    store(next(a for a in signature if a.name == arg.value_after_word), value, items[index].span)
                    index += 1
                continue
            # A variable that is also the name of a positional argument reads as a value while
            # positionals are open (`conv 3x3 channels` inside a block with a 'channels' parameter).
            if (
                name is not None
                and name in by_name
                and not (is_variable and positional_open and by_name[name].positional)
            ):
                arg = by_name[name]
                if index + 1 >= len(items):
                    fail("E203", f"'{name}' needs a value", item.span)
                    return None
                value = self.evaluate(items[index + 1], source, env, words_allowed=True)
                if value is FAILED:
                    return None
                store(arg, value, item.span.cover(items[index + 1].span))
                keyword_seen = True
                index += 2
                continue
            if name is not None and not is_variable:
                hidden = {arg.value_after_word for arg in signature if arg.value_after_word}
                known = [*by_word, *(n for n in by_name if n not in hidden)]
                # A misspelt block parameter or repeat counter reads as an unknown attribute too.
                hint, fix = _stride_fix(name, items, index, spans.get("window"), source) or suggestion(
                    name, [*known, *env], item.span
                )
                fail(
                    "E202",
                    f"unknown attribute '{name}' for {owner}",
                    item.span,
                    hint
                    or (f"{owner} accepts: {', '.join(sorted(known))}" if known else f"{owner} takes no arguments"),
                    fix,
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
            value = self.evaluate(item, source, env)
            if value is FAILED:
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
            if block_input is not None and default is not None:
                bound_so_far = {name: value for name, value in values.items() if value is not None}
                default = self._default(default, definition or source, bound_so_far, block_input, element.span)
                if default is FAILED:
                    return None
            values[arg.name] = default
        return None if failures else (values, spans)

    def _default(self, default: ast.Item, source: Source, known: Env, block_input: Node, call: Span) -> Any:
        """A block parameter's default: it sees the parameters bound so far (those given, and the
        defaults before it), and `in` is the block's input."""
        caller, self.frame = self.frame, Frame(source, known, "", None)
        self.frame.tensors["in"] = Binding(block_input, call, used=True)
        try:
            return self.evaluate(default, source, known)
        finally:
            self.frame = caller

    def evaluate(self, item: ast.Item, source: Source, env: Env, *, words_allowed: bool = False) -> Any:
        """The item's value, or FAILED after reporting why it has none."""
        try:
            return Evaluator(env, words_allowed, self).value(item)
        except EvalError as failure:
            self.sink.add(
                error(
                    failure.code,
                    failure.message,
                    Label(source, failure.span),
                    secondary=list(failure.secondary),
                    help=failure.help,
                )
            )
            return FAILED

    def tensor_shape(self, name: ast.Name, use: Span) -> Shape:
        """The shape of the tensor `name` (in `frame`), read by the expression at `use` (`in.c`)."""
        binding = self.frame.lookup(name.id) if self.frame is not None else None
        if binding is None:
            visible = self.frame.visible_tensors() if self.frame is not None else set()
            raise EvalError(
                "E208",
                f"undefined tensor '{name.id}'",
                name.span,
                help=did_you_mean(name.id, visible) or f"the tensors here are {', '.join(sorted(visible))}",
            )
        try:
            return self.shapes.of(binding.node)
        except ShapeUnknown as unknown:
            failing = unknown.failing
            raise EvalError(
                "E413",
                f"the shape of '{name.id}' is unknown: '{failing.name}' fails its shape check",
                use,
                help="fix that layer first; its error is shown here because the shape check runs after this one",
                secondary=(Label(failing.source, failing.span, f"error[{unknown.code}]: {unknown.message}"),),
            ) from None

    def evaluate_int(self, item: ast.Item, source: Source, env: Env, what: str, minimum: int | None) -> int | None:
        value = self.evaluate(item, source, env)
        if value is FAILED:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or (minimum is not None and value < minimum):
            code = "E301" if not isinstance(value, int) else "E302"
            self.sink.add(
                error(
                    code,
                    f"{what} must be an integer{'' if minimum is None else f' >= {minimum}'}, got {value!r}",
                    Label(source, item.span),
                    help=_rounding_help(code, value, source.text[item.span.start : item.span.end]),
                )
            )
            return None
        return value


@functools.cache
def _signature_index(signature: tuple[Arg, ...]) -> tuple[dict[str, Arg], dict[str, Arg], list[Arg]]:
    """An argument list looked up by word, by keyword, and the positionals in order."""
    by_word = {word: arg for arg in signature for word in arg.words}
    by_name = {arg.name.rstrip("_"): arg for arg in signature if not arg.words}
    return by_word, by_name, [arg for arg in signature if arg.positional]


def _stride_fix(
    name: str, items: tuple[ast.Item, ...], index: int, window: Span | None, source: Source
) -> tuple[str, Fix] | None:
    """`conv 3x3 64 stride 2`: the language writes the stride in the window, as papers do; the fix
    writes `3x3/2` and deletes ` stride 2`."""
    if name not in ("stride", "strides") or window is None:
        return None
    has_value = index + 1 < len(items)
    last = items[index + 1] if has_value else items[index]
    stride = source.text[last.span.start : last.span.end] if has_value else "2"
    strided = f"{source.text[window.start : window.end]}/{stride}"
    deleted = Span(items[index - 1].span.end, last.span.end)
    fix = Fix(f"write '{strided}'", (Edit(window, strided), Edit(deleted, "")))
    return f"write the stride in the window: '{strided}'", fix


def _subtraction_help(items: tuple[ast.Item, ...], index: int, source: Source) -> str | None:
    """`conv 3x3 c - 2` is two arguments, `c` and `-2`: arithmetic needs parentheses."""
    item = items[index]
    if index == 0 or not isinstance(item, ast.Negate):
        return None
    before = items[index - 1]
    if not (_is_numeric(before) or isinstance(before, ast.Name)):
        return None
    written = source.text[before.span.start : item.span.end]
    return f"to subtract, parenthesise the expression: '({written})'"


def _rounding_help(code: str, value: Any, written: str) -> str | None:
    """A fraction where an integer is needed (`(c * 0.75)` is 37.5): the functions that round it."""
    parts = [value.extent, value.stride] if isinstance(value, WindowValue) else [value]
    numbers = [n for part in parts for n in (part if isinstance(part, tuple) else (part,))]
    if code != "E301" or not any(isinstance(n, float) and not n.is_integer() for n in numbers):
        return None
    if len(numbers) > 1 or not (written.startswith("(") and written.endswith(")")):
        return "round it with ceil(x), floor(x), round(x) or divisible(x, 8), inside parentheses"
    inner = written[1:-1]
    return f"round it: (ceil({inner})), (floor({inner})), (round({inner})) or (divisible({inner}, 8))"


def _is_numeric(item: ast.Item) -> bool:
    return isinstance(item, ast.EXPRESSIONS) and not isinstance(item, ast.Name)
