"""Diagnostics as data (code, severity, message, labelled spans, notes, help) and their renderers.

Checks create `Diagnostic` values; only the renderers at the bottom know about text or JSON.
Every code is registered in `CODES` (codes.py) with a one-line summary; docs/diagnostics.md documents each one
and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, NamedTuple

from .codes import CODES
from .source import Edit, Fix, Source, Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Label(NamedTuple):
    """A span in a source, with a short text shown next to the caret."""

    source: Source
    span: Span
    text: str = ""


class Diagnostic(NamedTuple):
    code: str
    message: str
    severity: Severity
    primary: Label | None
    secondary: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    help: str | None = None
    fix: Fix | None = None  # for editors (cnndsl lsp's quick fixes); the text and JSON renderings show `help`

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def location(self) -> tuple[str, int, int] | None:
        if self.primary is None:
            return None
        line, col = self.primary.source.line_col(self.primary.span.start)
        return self.primary.source.path, line, col


def error(
    code: str,
    message: str,
    label: Label | None,
    *,
    secondary: Iterable[Label] = (),
    notes: Iterable[str] = (),
    help: str | None = None,
    fix: Fix | None = None,
) -> Diagnostic:
    return _make(code, message, Severity.ERROR, label, secondary, notes, help)._replace(fix=fix)


def warning(
    code: str,
    message: str,
    label: Label | None,
    *,
    secondary: Iterable[Label] = (),
    notes: Iterable[str] = (),
    help: str | None = None,
) -> Diagnostic:
    return _make(code, message, Severity.WARNING, label, secondary, notes, help)


def _make(
    code: str,
    message: str,
    severity: Severity,
    label: Label | None,
    secondary: Iterable[Label],
    notes: Iterable[str],
    help: str | None,
) -> Diagnostic:
    if code not in CODES:
        raise ValueError(f"unregistered diagnostic code {code}")
    return Diagnostic(
        code,
        _quotes_shortened(message),
        severity,
        label,
        tuple(secondary),
        tuple(_quotes_shortened(note) for note in notes),
        help and _quotes_shortened(help),
    )


def shorten(text: str, limit: int = 80) -> str:
    """`text` for a message: unchanged up to `limit` characters, else its start and end around an
    ellipsis, with its length, e.g. 'abc…xyz (1,000,000 characters)'; control characters are shown
    as \\xNN. A path or name given by a user can be any length, and quoting a megabyte of it would
    bury the message."""
    if len(text) > limit:
        head = max(1, (limit - 1) // 2)
        tail = max(1, limit - 1 - head)
        text = f"{text[:head]}…{text[-tail:]} ({len(text):,} characters)"
    return text.translate(_CONTROL_ESCAPES)


# Control characters in a quoted name would garble the message or drive the terminal: show them as \xNN.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}


def first_line(problem: BaseException | None) -> str:
    """An exception as one line for a message: its text's first line, or its type's name."""
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__


def _quotes_shortened(text: str) -> str:
    """Messages quote what the user wrote ('name'); a name of a million characters must not make a
    message of a megabyte, whichever check reports it."""
    if len(text) <= _LONG_MESSAGE:
        return text
    import re  # only an overlong message needs it

    return re.sub(r"'([^']{81,})'", lambda quoted: f"'{shorten(quoted.group(1))}'", text)


_LONG_MESSAGE = 300


class CnnError(Exception):
    """Raised by a pass that cannot go on; carries every diagnostic gathered so far."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(f"{d.code}: {d.message}" for d in self.diagnostics))


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    return suggestion(word, candidates, Span(0, 0))[0]


def suggestion(word: str, candidates: Iterable[str], span: Span) -> tuple[str | None, Fix | None]:
    """did_you_mean's help, and the fix that writes the name it suggests at `span`."""
    import difflib  # only a mistake needs it

    match = next(iter(difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)), None)
    return (f"did you mean '{match}'?", Fix(f"change to '{match}'", (Edit(span, match),))) if match else (None, None)


# --- rendering -------------------------------------------------------------------------------


def render_text(diagnostic: Diagnostic) -> str:
    """rustc-style: header with path:line:col, the source line, a caret under the span, notes."""
    d = diagnostic
    header = f"{d.severity.value}[{d.code}]: {d.message}"
    lines: list[str] = []
    if d.primary is None:
        lines.append(header)
    else:
        lines.append(f"{_where(d.primary)}: {header}")
        lines.extend(_snippet(d.primary, "^"))
        for label in d.secondary:
            lines.append(f"  --> {_where(label)}")
            lines.extend(_snippet(label, "-"))
    for note in d.notes:
        lines.append(f"  = note: {note}")
    if d.help:
        lines.append(f"  = help: {d.help}")
    return "\n".join(lines)


def _where(label: Label) -> str:
    """path:line:col; control characters in the path (a file name may hold any) shown as \\xNN."""
    return label.source.location(label.span).translate(_CONTROL_ESCAPES)


def _snippet(label: Label, marker: str) -> list[str]:
    source = label.source
    line, col = source.line_col(label.span.start)
    end_line, end_col = source.line_col(max(label.span.start, label.span.end - 1))
    text = _printable(source.line_text(line))
    width = max(1, (end_col - col + 1) if end_line == line else len(text) - col + 1)
    if len(text) > _MAX_SNIPPET:
        # A very long line (a number with thousands of digits) is shown as a window around the span.
        left = max(0, col - 1 - _MAX_SNIPPET // 4)
        right = left + _MAX_SNIPPET
        prefix, suffix = ("..." if left else ""), ("..." if right < len(text) else "")
        width = max(1, min(width, right - (col - 1)))
        text = prefix + text[left:right] + suffix
        col = col - left + len(prefix)
    gutter = " " * len(str(line))
    underline = " " * (col - 1) + marker * width + (f" {label.text}" if label.text else "")
    return [f"{gutter} |", f"{line} | {text}", f"{gutter} | {underline}"]


_MAX_SNIPPET = 120


def _printable(text: str) -> str:
    """Tabs and control characters would misplace the caret; show them as single visible cells."""
    return "".join(" " if ch == "\t" else (ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}") for ch in text)


def to_json(diagnostic: Diagnostic) -> dict[str, Any]:
    d = diagnostic
    where = d.location()

    def label_json(label: Label) -> dict[str, Any]:
        line, col = label.source.line_col(label.span.start)
        end_line, end_col = label.source.line_col(label.span.end)
        return {
            "path": label.source.path,
            "line": line,
            "column": col,
            "end_line": end_line,
            "end_column": end_col,
            "label": label.text,
        }

    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "path": where[0] if where else None,
        "line": where[1] if where else None,
        "column": where[2] if where else None,
        "labels": [label_json(x) for x in ((d.primary,) if d.primary else ()) + d.secondary],
        "notes": list(d.notes),
        "help": d.help,
    }


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    import json  # only --format json needs it

    return json.dumps([to_json(d) for d in diagnostics], indent=2)


# Past this many distinct errors a run stops: the rest are almost always echoes of the first ones,
# and a spec with 200,000 mistakes must not take minutes to report them.
MAX_ERRORS = 200


class DiagnosticSink:
    """Collects diagnostics while a pass keeps going, so one run reports several mistakes.

    A diagnostic made again (a line inside a repetition or a block called many times) is kept
    once and counted; `items` notes the count. Adding is O(1) however many there are.
    """

    def __init__(self, max_errors: int = MAX_ERRORS) -> None:
        self._counts: dict[Diagnostic, int] = {}
        self.max_errors = max_errors
        self.errors = 0  # distinct errors
        self.added = 0  # every call of add, repeats included

    def add(self, diagnostic: Diagnostic) -> None:
        self.added += 1
        count = self._counts.get(diagnostic, 0)
        self._counts[diagnostic] = count + 1
        if count == 0 and diagnostic.is_error:
            self.errors += 1
            if self.errors >= self.max_errors:
                last = f"cnndsl stops after {self.max_errors} errors; fix these and check again"
                raise CnnError([*self.items[:-1], diagnostic._replace(notes=(*diagnostic.notes, last))])

    @property
    def items(self) -> list[Diagnostic]:
        return [
            diagnostic
            if count == 1
            else diagnostic._replace(
                notes=(
                    *diagnostic.notes,
                    f"the same diagnostic came up {count:,} times (the spec expands this line repeatedly); shown once",
                )
            )
            for diagnostic, count in self._counts.items()
        ]

    @property
    def has_errors(self) -> bool:
        return self.errors > 0

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise CnnError(self.items)


def byte_size(count: int) -> str:
    """A byte count in the largest binary unit that keeps it at least 1: '8.4 MiB', '74.5 GiB'.
    Rounded as shown (never '1,024.0 KiB'), and exact for any Python int: a batch may take more
    bytes than a float holds exactly."""
    if count < 1024:
        return f"{count:,} bytes"
    for power, unit in enumerate(_BINARY_UNITS, start=1):
        tenths = (count * 10 + 1024**power // 2) // 1024**power  # rounded to the nearest tenth
        if tenths < 10 * 1024 or unit == _BINARY_UNITS[-1]:
            whole, rest = divmod(tenths, 10)
            return f"{whole:,}.{rest} {unit}"
    raise AssertionError("unreachable")


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def first_per_line(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per code and place in the spec: a line that expands to many layers (in a
    repetition, or a block called many times) is reported for the first, with the count in a note."""
    grouped: dict[tuple[str, str | None, Span | None], list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        label = diagnostic.primary
        key = (diagnostic.code, label and label.source.path, label and label.span)
        grouped.setdefault(key, []).append(diagnostic)
    result = []
    for first, *rest in grouped.values():
        if rest:
            first = first._replace(
                notes=(*first.notes, f"this line expands to {1 + len(rest)} layers; shown for the first")
            )
        result.append(first)
    return result
