"""The formatter's model of a spec: its tokens with their comments and line breaks, laid out in lines.

The grammar ignores comments, so the formatter works on the token stream, not on the syntax tree:
every token and comment of the source is a `Piece` that knows how many line breaks came before it.
The formatter keeps the line breaks the author wrote (as gofmt does) and changes only what cannot
change the meaning: the spaces between tokens, the indentation, runs of blank lines, ';' between
statements, and breaks it adds where a line is too long (`format_wrap`). Which line breaks end a
statement is `lines.LineJoiner`'s rule, followed here to tell a new statement from a continued one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .automaton import runtime

INDENT = 4  # spaces per brace level, and for a statement's continuation lines
COMMENT = "COMMENT"
SEMICOLON = ";"  # the _NL terminal written as ';'
# A comment that silences warnings on its line (rules.suppressed): its line's statements stay on it.
SUPPRESSION_MARK = "cnndsl:"

# Tokens after which a line break does not end the statement (LineJoiner.JOINS_NEXT_LINE).
_JOINS_NEXT_LINE = frozenset({"ARROW", "COMMA", "LBRACE"})
# Tokens that end an operand: a '-' after one, inside parentheses, subtracts.
_OPERAND_ENDS = frozenset({"INT", "FLOAT", "NAME", "DIMS", "RPAR", "RSQB"})
_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB"}


@dataclass
class Piece:
    """One token or comment of the source."""

    kind: str  # the terminal's name; COMMENT; or _NL for a ';' kept between statements on one line
    text: str
    breaks: int  # line breaks before it: 0 (same line), 1, or 2 (a blank line before it)
    glued: bool  # whether the source had no space before it
    space: str = ""  # the space written before it on its line (set by `lay_out`)
    brace_depth: int = 0  # braces open around it (a '{' and its '}' count outside themselves)
    paren_depth: int = 0  # () and [] open around it


@dataclass
class Line:
    """One line of the output: the pieces on it, after `indent` spaces (None: a comment line, indented
    as the code line after it)."""

    indent: int | None
    pieces: list[Piece]

    def code_width(self) -> int:
        """Columns up to the end of its last token (a comment after the code does not count)."""
        code = [piece for piece in self.pieces if piece.kind != COMMENT]
        return (self.indent or 0) + sum(len(piece.space) + len(piece.text) for piece in code)

    def trailing_comment(self) -> Piece | None:
        last = self.pieces[-1]
        return last if last.kind == COMMENT and len(self.pieces) > 1 else None


def pieces_of(text: str) -> list[Piece]:
    """The tokens and comments of `text` (which parses), each with the line breaks before it."""
    scanner, keywords = runtime().scanner, runtime().keywords
    pieces: list[Piece] = []
    breaks, glued, position = 0, True, 0
    while position < len(text):
        found = scanner.match(text, position)
        assert found is not None, "the text parsed, so every character lexes"
        kind: str = found.lastgroup  # type: ignore[assignment]
        value, position = found.group(), found.end()
        if kind == "WHITESPACE":
            glued = False
        elif kind == "_NL" and value != SEMICOLON:
            breaks, glued = breaks + 1, False
        else:
            retype = keywords.get(kind)
            kind = retype.get(value, kind) if retype else kind
            value = value.rstrip() if kind == COMMENT else value  # its trailing spaces and '\r'
            pieces.append(Piece(kind, value, min(breaks, 2), glued))
            breaks, glued = 0, True
    return _normalised(pieces)


def _normalised(pieces: list[Piece]) -> list[Piece]:
    """';' becomes a line break (but on a line with a suppression comment), no blank line opens the
    file or a body or closes a body, and a body is either all on one line or opened and closed on
    lines of their own."""
    kept = _separators_as_breaks(pieces)
    if kept:
        kept[0].breaks = 0
    openers: list[int] = []
    for index, piece in enumerate(kept):
        if piece.kind == "LBRACE":
            openers.append(index)
        elif piece.kind == "RBRACE":
            _settle_body(kept, openers.pop(), index)
    return kept


def _separators_as_breaks(pieces: list[Piece]) -> list[Piece]:
    kept: list[Piece] = []
    suppressing = _lines_with_suppressions(pieces)
    line = 0
    for index, piece in enumerate(pieces):
        line += piece.breaks > 0
        if piece.kind == "_NL" and line not in suppressing:
            if index + 1 < len(pieces):
                following = pieces[index + 1]
                following.breaks = max(following.breaks, 1)
                following.glued = False
            continue
        kept.append(piece)
    return kept


def _lines_with_suppressions(pieces: list[Piece]) -> set[int]:
    lines, line = set(), 0
    for piece in pieces:
        line += piece.breaks > 0
        if piece.kind == COMMENT and SUPPRESSION_MARK in piece.text.lower():
            lines.add(line)
    return lines


def _settle_body(pieces: list[Piece], opening: int, closing: int) -> None:
    if closing == opening + 1:
        pieces[closing].breaks = 0  # an empty body: {}
    elif any(pieces[index].breaks for index in range(opening + 1, closing + 1)):
        first = pieces[opening + 1]
        if not (first.kind == COMMENT and first.breaks == 0):  # a comment after '{' stays there
            first.breaks = 1
        pieces[closing].breaks = 1


@dataclass
class _Scope:
    """What a '{' leaves to restore at its '}'."""

    line_indent: int  # the indent of the line the '{' is on, and so of the line of its '}'
    statement_indent: int  # of the statement the body belongs to
    body_indent: int  # of the statements around it


def lay_out(pieces: list[Piece]) -> list[Line]:
    """The pieces in lines, indented, with the spaces between them set."""
    lines: list[Line] = []
    scopes: list[_Scope] = []
    brackets: list[str] = []  # the kinds of the open ( and [: 'group' (an expression) or 'array'
    statement_indent = body_indent = 0
    statement_first = ""  # the kind of the current statement's first token
    previous: Piece | None = None  # the last token (not a comment)
    before_previous: Piece | None = None
    broken = False  # a line break since the last token
    in_budget = False  # after the comparison of an assert: 5M, 8GiB
    for piece in pieces:
        broken = broken or piece.breaks > 0
        if piece.kind == COMMENT:
            if piece.breaks or not lines:
                lines.append(Line(None, [piece]))
            else:
                piece.space = "  "
                lines[-1].pieces.append(piece)
            continue
        starts_statement = (
            previous is None
            or (previous.kind in ("LBRACE", "_NL") and piece.kind != "RBRACE")
            or (
                broken
                and not brackets
                and previous.kind not in _JOINS_NEXT_LINE
                and piece.kind not in ("ARROW", "RBRACE")
            )
        )
        indent = statement_indent + INDENT  # a continuation line's
        if piece.kind == "RBRACE":
            scope = scopes.pop()
            statement_indent, body_indent, indent = scope.statement_indent, scope.body_indent, scope.line_indent
        if starts_statement:
            statement_indent = indent = body_indent
            statement_first, in_budget = piece.kind, False
        piece.brace_depth, piece.paren_depth = len(scopes), len(brackets)
        if piece.breaks or not lines:
            piece.space = ""
            lines.append(Line(indent, [piece]))
        else:
            piece.space = "" if previous is None else _space(before_previous, previous, piece, brackets, in_budget)
            lines[-1].pieces.append(piece)
        in_budget = in_budget or (piece.kind == "CMP" and not brackets and statement_first == "ASSERT")
        if piece.kind == "LBRACE":
            line_indent = _body_line_indent(lines[-1], statement_indent)
            scopes.append(_Scope(line_indent, statement_indent, body_indent))
            body_indent = line_indent + INDENT
        elif piece.kind in _OPENERS:
            indexing = piece.kind == "LSQB" and previous is not None and before_previous is not None
            indexing = indexing and before_previous.kind == "DOT"  # type: ignore[union-attr]
            brackets.append("group" if piece.kind == "LPAR" or indexing else "array")
        elif piece.kind in ("RPAR", "RSQB"):
            brackets.pop()
        before_previous, previous, broken = previous, piece, False
    return lines


def _body_line_indent(line: Line, statement_indent: int) -> int:
    """The indent a body's '}' takes, 4 less than its statements': that of the line its '{' is on
    when that line is the statement's first or a link of its chain (`-> residual {`, `} else {`),
    else the statement's (`block b(a,` / `    c) {` closes at the `block`)."""
    return line.indent or 0 if line.pieces[0].kind in ("ARROW", "RBRACE") else statement_indent


def _space(before_previous: Piece | None, previous: Piece, piece: Piece, brackets: list[str], in_budget: bool) -> str:
    """The space between two tokens on one line: none or one."""
    kind, after = piece.kind, previous.kind
    inside = bool(brackets)
    if (
        kind in ("RPAR", "RSQB", "COMMA", "_NL")
        or after in ("LPAR", "LSQB", "DOT", "CROSS")
        or kind in ("DOT", "CROSS")
    ):
        return ""
    if after in ("MINUS", "NOT") and _is_prefix(before_previous, previous, brackets):
        return ""
    if kind == "COLON":  # a label (conv1: conv) outside parentheses, the conditional's ':' inside
        return " " if inside else ""
    if "EQUALS" in (kind, after):  # k=1 in parameters, t = conv ... for a statement
        return "" if inside else " "
    if "SLASH" in (kind, after) or "STAR" in (kind, after):  # 3/2 windows and 2*c outside parentheses
        return " " if inside else ""
    if kind == "LPAR" and after == "NAME":  # max(a, b), block se(c), assert memory(batch 8)
        glued = inside or (before_previous is not None and before_previous.kind in ("BLOCK", "ASSERT"))
        return "" if glued else " "
    if kind == "LSQB" and after == "NAME" and before_previous is not None and before_previous.kind == "DOT":
        return ""  # in.shape[0]
    if kind == "RBRACE" and after == "LBRACE":
        return ""
    if in_budget and after in ("INT", "FLOAT") and kind == "NAME" and piece.glued:
        return ""  # 5M, 8GiB, as written
    return " "


def _is_prefix(before: Piece | None, operator: Piece, brackets: list[str]) -> bool:
    """Whether a '-' (or '!') negates what follows rather than subtracting it."""
    if operator.kind == "NOT" or not brackets or brackets[-1] == "array":
        return True
    return before is None or before.kind not in _OPERAND_ENDS
