"""Which line breaks end a statement: the post-lexer between the lexer and the LALR parser.

The grammar (grammars/cnn.lark) ends statements with `_NL`, a line break or ';'. Written code
breaks lines in the middle of statements too: after '->' or ',', before '->', inside () and [],
around braces. `LineJoiner` passes on only the line breaks that can end a statement, so the grammar
stays LALR(1) and simple. Lark's reference parser (`export.lark_parser`) runs the same class as its
post-lexer, so both parsers see the same tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from .lalr import Token


class LineJoiner:
    """Post-lexer: keeps only the line breaks that end a statement (see grammars/cnn.lark).

    A line break ends a statement only where the statement can end. An explicit ';' always ends
    it: after '->' or ',' and inside brackets it is passed on, to be reported where it stands, and
    before '->' on the next line it still ends the statement. Separators only collapse where there
    is no statement to end: at the start, after '{', after another separator and before '}'.
    """

    # Lark's post-lexer interface: the terminals the lexer must produce even where the parser
    # would not accept them (they are this class's to drop or pass on).
    always_accept = ("_NL",)

    # Brackets inside which line breaks never end a statement (braces hold statements).
    OPENERS: ClassVar[frozenset[str]] = frozenset({"LPAR", "LSQB"})
    CLOSERS: ClassVar[frozenset[str]] = frozenset({"RPAR", "RSQB"})
    # After these a statement goes on onto the next line.
    JOINS_NEXT_LINE: ClassVar[frozenset[str]] = frozenset({"ARROW", "COMMA", "LBRACE"})
    # A statement cannot end right after these, so an explicit ';' there is an error to report.
    UNFINISHED: ClassVar[frozenset[str]] = frozenset({"ARROW", "COMMA"})

    def __init__(self) -> None:
        # The separator not yet passed on when the stream ended: the parser never needs it (a
        # statement ends there anyway), but a syntax error's 'code before' must include a ';'.
        self.trailing: Token | None = None

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        """The tokens of `stream`, with the line breaks that cannot end a statement left out."""
        depth = 0
        previous: Token | None = None
        pending: Token | None = None
        for token in stream:
            if token.type == "_NL":
                explicit = token == ";"
                if explicit and (depth or (previous is not None and previous.type in self.UNFINISHED)):
                    yield token  # 'conv ->;', 'pad 1,;' and '(8;)' leave a statement unfinished
                elif depth == 0 and previous is not None and previous.type not in self.JOINS_NEXT_LINE:
                    pending = token if explicit else (pending or token)
                self.trailing = pending
                continue
            if pending is not None and (token.type != "RBRACE" and (token.type != "ARROW" or pending == ";")):
                yield pending
            pending = self.trailing = None
            if token.type in self.OPENERS:
                depth += 1
            elif token.type in self.CLOSERS and depth:
                depth -= 1
            previous = token
            yield token
