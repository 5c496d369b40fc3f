"""Parse pass: text -> `ast.Module`, or located diagnostics (syntax E101-E103, limits E214, E216, E303).

The grammar is grammars/cnn.lark. Its LALR(1) tables, computed by Lark and exported to `tables.py`,
run in cnndsl's own runtime (`lalr`, loaded by `automaton`) with an inline builder (`builder`), so
the tree is built while parsing (no recursion over deep nesting) and no parse tree survives. Lark is
only imported when the grammar has changed since the export, to compute the tables again.

This module holds the pass's entry point and its limits; the words of syntax errors are `wording`'s.
"""

from __future__ import annotations

import re

from ..diagnostics import CnnError, Diagnostic, Label, error
from ..source import Source, Span
from . import ast, lalr
from .automaton import runtime, statement_tokens
from .builder import LiteralTooLarge, TooManyElements, TreeBuilder, token_span

# The default nesting limit for (), [] and {}; every pass is built to handle this depth.
MAX_NESTING = 10_000

# A literal longer than this is shown shortened in E303 (its start and end).
_SHOWN_LITERAL = 24

# What the nesting check counts: brackets, with comments and file names skipped whole.
_NESTING_TOKENS = re.compile(r'#[^\n]*|"[^"]*"?|[()\[\]{}]')


def parse(source: Source, max_depth: int = MAX_NESTING, max_elements: int | None = None) -> ast.Module:
    """Parse one source; raise CnnError with a located diagnostic on failure.
    `max_depth`: E216 for brackets nested deeper than that. `max_elements`: E214 as soon as the
    file has written more elements (layers, block calls and tensor references) than that."""
    check_nesting(source, max_depth)
    try:
        statements = runtime().parse(statement_tokens(source.text), TreeBuilder(max_elements))
    except lalr.SyntaxFailure as failure:
        from .wording import syntax_diagnostic  # its tables are built only for a spec with an error

        raise CnnError([syntax_diagnostic(source, failure)]) from None
    except TooManyElements as stop:
        raise CnnError(
            [
                error(
                    "E214",
                    f"the file writes more than {max_elements:,} layers, block calls and tensor references",
                    Label(source, stop.span),
                    notes=["that is twice the layer limit; the file was not read further"],
                    help="raise the limit with --max-layers if intended",
                )
            ]
        ) from None
    except LiteralTooLarge as too_large:
        raise CnnError([literal_too_large(source, too_large)]) from None
    return ast.Module(source, statements)


def literal_too_large(source: Source, too_large: LiteralTooLarge) -> Diagnostic:
    """E303 for a literal too long to convert, shown shortened if it is long."""
    token, written = too_large.token, str(too_large.token)
    shown = written if len(written) <= _SHOWN_LITERAL else f"{written[:12]}...{written[-6:]}"
    return error(
        "E303",
        f"the number {shown} is too large ({too_large.characters:,} characters)",
        Label(source, token_span(token)),
        help=None if token.type == "FLOAT" else "extents, channels and counts are at most 2,147,483,647",
    )


def check_nesting(source: Source, max_depth: int) -> None:
    """Refuse absurd nesting before parsing (E216), so no pass has to cope with it."""
    depth = 0
    for found in _NESTING_TOKENS.finditer(source.text):
        char = found.group()
        if char in "([{":
            depth += 1
            if depth > max_depth:
                index = found.start()
                raise CnnError(
                    [
                        error(
                            "E216",
                            f"brackets are nested more than {max_depth:,} levels deep",
                            Label(source, Span(index, index + 1)),
                            help="raise the limit with --max-depth if this is intended",
                        )
                    ]
                )
        elif char in ")]}":
            depth = max(0, depth - 1)
