"""`cnndsl fmt`'s formatter: a spec's text in its canonical layout, comments and all.

The layout (docs/format.md): one space between tokens where one reads well, none where the
language glues them (3/2, conv1:, in.c, k=1 in parameters, max(a, b)); 4 spaces of indentation per
body and for a statement's continuation lines; the author's line breaks kept, ';' turned into line
breaks, blank lines at most one in a row; bodies all on one line or opened and closed on lines of
their own; lines longer than the line length broken before '->', then by opening a body, then after
','. `format_layout` holds the model and the spacing, `format_wrap` the breaking and the writing.

Lines between a `# fmt: off` comment line and the next `# fmt: on` (or the end of the file) are
kept as written: a table of block calls aligned by hand stays aligned.

Formatting cannot change what a spec means: the result is lexed again and must give the parser the
same tokens (and keep the same comments, in order) as the source, or it is a bug in the formatter.
"""

from __future__ import annotations

import os
import re

from ..reader import source_from_text
from ..rules import ConfigCache, spec_config
from .automaton import statement_tokens
from .format_layout import COMMENT, pieces_of
from .format_wrap import rendered, wrapped
from .parser import parse

# As the project's Python: the specs' longest chains fit, and a diff of two shows side by side.
DEFAULT_LINE_LENGTH = 120

__all__ = ["DEFAULT_LINE_LENGTH", "FormatterBug", "configured_line_length", "format_text"]

# Whole-line comments that turn the formatter off and on again, as black's and ruff's do.
_FORMATTER_OFF = re.compile(r"\s*#\s*fmt:\s*off\s*\Z")
_FORMATTER_ON = re.compile(r"\s*#\s*fmt:\s*on\s*\Z")


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
    formatted = _kept_as_written(source.text, rendered(wrapped(pieces, line_length)))
    _check_same_meaning(source.text, formatted, comments)
    return formatted


def configured_line_length(spec_path: str | os.PathLike[str], cache: ConfigCache | None = None) -> int:
    """`line-length` of [tool.cnndsl] in the nearest pyproject.toml that has the table, else the
    default. Raises rules.RuleError for a broken table or a length that is not a positive number."""
    found = spec_config(spec_path, cache)
    return DEFAULT_LINE_LENGTH if found is None or found.line_length is None else found.line_length


def _kept_as_written(source: str, formatted: str) -> str:
    """`formatted`, with the lines of every `# fmt: off` region replaced by the source's own. The
    regions hold the same tokens and comments in both texts (the markers are comments, which the
    formatter keeps in order), so this changes no meaning; `_check_same_meaning` checks it still."""
    written = source.splitlines()
    regions = _unformatted_regions(written)
    if not regions:
        return formatted
    lines = formatted.splitlines()
    laid_out = _unformatted_regions(lines)
    if len(laid_out) != len(regions):
        raise FormatterBug("the formatted text would lose a '# fmt: off' region")
    result, done = [], 0
    for (first, end), (laid_first, laid_end) in zip(regions, laid_out, strict=True):
        result += lines[done:laid_first] + written[first:end]
        done = laid_end
    return "\n".join(result + lines[done:]) + "\n"


def _unformatted_regions(lines: list[str]) -> list[tuple[int, int]]:
    """The (first, end) line indices strictly between each `# fmt: off` line and the next `# fmt: on`
    line, or the end of the text."""
    regions, start = [], None
    for index, line in enumerate(lines):
        if start is None and _FORMATTER_OFF.match(line):
            start = index + 1
        elif start is not None and _FORMATTER_ON.match(line):
            regions.append((start, index))
            start = None
    if start is not None:
        regions.append((start, len(lines)))
    return regions


def _check_same_meaning(source: str, formatted: str, comments: list[str]) -> None:
    if _parser_view(formatted) != _parser_view(source):
        raise FormatterBug("the formatted text would parse differently from the source")
    if [piece.text for piece in pieces_of(formatted) if piece.kind == COMMENT] != comments:
        raise FormatterBug("the formatted text would lose or reorder a comment")


def _parser_view(text: str) -> list[tuple[str, str]]:
    """The tokens the parser sees, a statement's end as a line break whether written ';' or not."""
    return [(token.type, "" if token.type == "_NL" else str(token)) for token in statement_tokens(text)]
