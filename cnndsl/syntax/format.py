"""`cnndsl fmt`'s formatter: a spec's text in its canonical layout, comments and all.

The layout (docs/format.md): one space between tokens where one reads well, none where the
language glues them (3/2, conv1:, in.c, k=1 in parameters, max(a, b)); 4 spaces of indentation per
body and for a statement's continuation lines; the author's line breaks kept, ';' turned into line
breaks, blank lines at most one in a row; bodies all on one line or opened and closed on lines of
their own; lines longer than the line length broken before '->', then by opening a body, then after
','. `format_layout` holds the model and the spacing, `format_wrap` the breaking and the writing.

Formatting cannot change what a spec means: the result is lexed again and must give the parser the
same tokens (and keep the same comments, in order) as the source, or it is a bug in the formatter.
"""

from __future__ import annotations

import os

from ..reader import source_from_text
from ..rules import ConfigCache, spec_config
from .automaton import statement_tokens
from .format_layout import COMMENT, pieces_of
from .format_wrap import rendered, wrapped
from .parser import parse

# As the project's Python: the specs' longest chains fit, and a diff of two shows side by side.
DEFAULT_LINE_LENGTH = 120

__all__ = ["DEFAULT_LINE_LENGTH", "FormatterBug", "configured_line_length", "format_text"]


class FormatterBug(AssertionError):
    """The formatted text would not mean what the source means (a bug in the formatter, never the
    user's: the text is left as it was)."""


def format_text(text: str, path: str = "<text>", line_length: int = DEFAULT_LINE_LENGTH) -> str:
    """`text` in the canonical layout. Raises CnnError with the parser's located diagnostics when it
    does not parse (E101-E104, E216), so that nothing is formatted that cnndsl cannot read."""
    source = source_from_text(path, text)  # a byte-order mark is dropped; NULs are refused (E104)
    parse(source)
    pieces = pieces_of(source.text)
    comments = [piece.text for piece in pieces if piece.kind == COMMENT]
    formatted = rendered(wrapped(pieces, line_length))
    _check_same_meaning(source.text, formatted, comments)
    return formatted


def configured_line_length(spec_path: str | os.PathLike[str], cache: ConfigCache | None = None) -> int:
    """`line-length` of [tool.cnndsl] in the nearest pyproject.toml that has the table, else the
    default. Raises rules.RuleError for a broken table or a length that is not a positive number."""
    found = spec_config(spec_path, cache)
    return DEFAULT_LINE_LENGTH if found is None or found.line_length is None else found.line_length


def _check_same_meaning(source: str, formatted: str, comments: list[str]) -> None:
    if _parser_view(formatted) != _parser_view(source):
        raise FormatterBug("the formatted text would parse differently from the source")
    if [piece.text for piece in pieces_of(formatted) if piece.kind == COMMENT] != comments:
        raise FormatterBug("the formatted text would lose or reorder a comment")


def _parser_view(text: str) -> list[tuple[str, str]]:
    """The tokens the parser sees, a statement's end as a line break whether written ';' or not."""
    return [(token.type, "" if token.type == "_NL" else str(token)) for token in statement_tokens(text)]
