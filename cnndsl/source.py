"""Source text and spans: byte-free character offsets mapped to 1-based lines and columns."""

from __future__ import annotations

import bisect
from typing import NamedTuple


class Span(NamedTuple):
    """A half-open range of character offsets [start, end) in one source."""

    start: int
    end: int

    def cover(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


class Edit(NamedTuple):
    """Write `text` in place of `span` (empty text: delete it)."""

    span: Span
    text: str


class Fix(NamedTuple):
    """A change that resolves a diagnostic, as edits of its primary source (an editor's quick fix)."""

    title: str
    edits: tuple[Edit, ...]


class Source:
    """The text of one spec, with a line index for turning offsets into line:col."""

    def __init__(self, path: str, text: str):
        self.path, self.text = path, text
        starts = [0]
        newline = text.find("\n")
        while newline >= 0:  # str.find: a 10 MB spec is indexed at C speed
            starts.append(newline + 1)
            newline = text.find("\n", newline + 1)
        self._line_starts = starts

    def __repr__(self) -> str:
        return f"Source({self.path!r})"

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line_index = bisect.bisect_right(self._line_starts, offset) - 1
        return line_index + 1, offset - self._line_starts[line_index] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def location(self, span: Span) -> str:
        line, col = self.line_col(span.start)
        return f"{self.path}:{line}:{col}"
