"""Between cnndsl's character offsets (`Span`s of a `Source`) and LSP positions: lines from 0 and
columns in the code units the client and server agreed on at initialize (UTF-16 by default; UTF-8
or UTF-32 where the client prefers them); and between paths and URIs."""

from __future__ import annotations

import os
from collections.abc import Callable

from lsprotocol import types
from pygls import uris

from ..source import Source, Span


def position(source: Source, offset: int) -> types.Position:
    line, column = source.line_col(offset)
    before = source.line_text(line)[: column - 1]
    return types.Position(line=line - 1, character=_encoding.units(before))


def lsp_range(source: Source, span: Span) -> types.Range:
    return types.Range(start=position(source, span.start), end=position(source, span.end))


def offset(source: Source, where: types.Position) -> int:
    """The character offset of an LSP position, clamped to the text (an editor may ask past the end)."""
    lines = source.text.count("\n") + 1
    line = min(max(where.line, 0), lines - 1) + 1
    text = source.line_text(line)
    start = _line_start(source, line)
    units = 0
    for index, character in enumerate(text):
        if units >= where.character:
            return start + index
        units += _encoding.units(character)
    return start + len(text)


def _line_start(source: Source, line: int) -> int:
    """The offset where `line` (from 1) starts: line_col's inverse, by bisection."""
    low, high = 0, len(source.text)
    while low < high:
        middle = (low + high) // 2
        if source.line_col(middle)[0] < line:
            low = middle + 1
        else:
            high = middle
    return low


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for character in text if ord(character) > 0xFFFF)


class _Encoding:
    """The column units of the session: one server process serves one client, which settles them
    at initialize (pygls chooses them from the client's preferences)."""

    def __init__(self) -> None:
        self.units: Callable[[str], int] = _utf16_length


_encoding = _Encoding()
_UNITS: dict[str, Callable[[str], int]] = {
    types.PositionEncodingKind.Utf8: lambda text: len(text.encode("utf-8")),
    types.PositionEncodingKind.Utf16: _utf16_length,
    types.PositionEncodingKind.Utf32: len,
}


def use_encoding(encoding: str | None) -> None:
    """Count columns in `encoding`'s code units from now on (None: UTF-16, the protocol's default)."""
    _encoding.units = _UNITS.get(encoding or types.PositionEncodingKind.Utf16, _utf16_length)


def path_of(uri: str) -> str:
    """The file a document URI names; a URI that is not a file's (an unsaved buffer) stands for itself."""
    path = uris.to_fs_path(uri)
    return os.path.normpath(path) if path else uri


def uri_of(path: str) -> str:
    return uris.from_fs_path(path) or path
