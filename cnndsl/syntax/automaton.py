"""The LALR(1) automaton for the grammar as it is now: the exported tables, or Lark's if stale.

`tables.py` carries a CRC of the grammar it was exported from. When grammars/cnn.lark has changed
since, the tables are computed again by Lark (`export`), so an edited grammar works at once, only
slower to start, until `python -m cnndsl.syntax.export` is run. This is the only place that
reaches `export`, and so Lark, at run time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from . import lalr
from .grammar import grammar_text
from .lines import LineJoiner


@functools.lru_cache(maxsize=1)
def runtime() -> lalr.Runtime:
    """The lexer and parser for the current grammar, built once per process."""
    from . import tables

    grammar = grammar_text()
    if lalr.tables_match(tables, grammar):
        return lalr.Runtime(tables)
    from .export import tables_from_grammar  # imports Lark: only for a grammar edited since the export

    return lalr.Runtime(tables_from_grammar(grammar))


def statement_tokens(text: str) -> Iterator[lalr.Token]:
    """The tokens the parser sees: lexed, and line breaks kept only where a statement ends."""
    return LineJoiner().process(runtime().tokens(text))
