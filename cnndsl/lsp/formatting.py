"""textDocument/formatting: the whole document as `cnndsl fmt` writes it (cnndsl.syntax.format)."""

from __future__ import annotations

from lsprotocol import types

from ..diagnostics import CnnError
from ..source import Source, Span
from .positions import lsp_range


def whole_document_edit(path: str, text: str) -> list[types.TextEdit] | None:
    """One edit replacing the text with its formatted form; none when it is formatted already, and
    None (no formatting) while it has a syntax error, which the diagnostics show."""
    from ..syntax.format import configured_line_length, format_text  # only formatting needs the formatter

    try:
        formatted = format_text(text, path, configured_line_length(path))
    except CnnError:
        return None
    if formatted == text:
        return []
    return [types.TextEdit(range=lsp_range(Source(path, text), Span(0, len(text))), new_text=formatted)]
