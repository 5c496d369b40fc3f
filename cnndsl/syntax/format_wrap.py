"""The formatter's last steps: breaking lines longer than the line length, and writing the lines out.

A long line is broken where a line break cannot end a statement (grammars/cnn.lark, `lines`): first
before a '->' of its own chain (the latest one that leaves the line short enough), then by opening a
body written on one line onto lines of its own, then after a ','. A line that holds a suppression
comment is never broken: the comment silences warnings on its own line only (`rules.suppressed`).
"""

from __future__ import annotations

from .format_layout import COMMENT, INDENT, SUPPRESSION_MARK, Line, Piece, lay_out

TRAILING_COMMENT_GAP = 2  # spaces between code and a comment after it, at the least


def wrapped(pieces: list[Piece], line_length: int) -> list[Line]:
    """The pieces laid out in lines, with breaks added until every line fits or cannot be broken.
    Each round adds at most one break to each long line, so later breaks see the earlier ones'
    indentation; it ends because breaks are only added."""
    while True:
        lines = lay_out(pieces)
        broke = False
        for line in lines:
            if line.indent is not None and line.code_width() > line_length and not _suppresses(line):
                broke = _break(line, line_length) or broke
        if not broke:
            return lines


def _suppresses(line: Line) -> bool:
    comment = line.trailing_comment()
    return comment is not None and SUPPRESSION_MARK in comment.text.lower()


def _break(line: Line, line_length: int) -> bool:
    """Add one line break to a long line, if it has a place for one."""
    code = [piece for piece in line.pieces if piece.kind != COMMENT]
    own_depth = min(piece.brace_depth for piece in code)
    arrows = [
        index
        for index, piece in enumerate(code)
        if index and piece.kind == "ARROW" and piece.brace_depth == own_depth and not piece.paren_depth
    ]
    if arrows:
        return _break_before(code, _best(code, arrows, line.indent or 0, line_length))
    body = _body_on_one_line(code, own_depth)
    if body is not None:
        opening, closing = body
        code[opening + 1].breaks = code[closing].breaks = 1
        return True
    after_commas = [index + 1 for index, piece in enumerate(code[:-1]) if piece.kind == "COMMA"]
    if after_commas:
        return _break_before(code, _best(code, after_commas, line.indent or 0, line_length))
    return False


def _best(code: list[Piece], candidates: list[int], indent: int, line_length: int) -> int:
    """The latest place to break that leaves the line short enough, else the first place."""
    width, widths = indent, []
    for piece in code:
        widths.append(width)
        width += len(piece.space) + len(piece.text)
    fitting = [index for index in candidates if widths[index] <= line_length]
    return fitting[-1] if fitting else candidates[0]


def _break_before(code: list[Piece], index: int) -> bool:
    code[index].breaks = 1
    return True


def _body_on_one_line(code: list[Piece], own_depth: int) -> tuple[int, int] | None:
    """The first non-empty body of the line's own chain opened and closed on the line: the
    indexes of its '{' and '}'."""
    for opening, piece in enumerate(code):
        if piece.kind == "LBRACE" and piece.brace_depth == own_depth:
            for closing in range(opening + 1, len(code)):
                if code[closing].kind == "RBRACE" and code[closing].brace_depth == own_depth:
                    return (opening, closing) if closing > opening + 1 else None
            return None
    return None


def rendered(lines: list[Line]) -> str:
    """The lines as text: comment lines indented as the code after them, one blank line where the
    source had one or more, comments after code aligned within runs of adjacent lines."""
    _indent_comment_lines(lines)
    _align_trailing_comments(lines)
    out: list[str] = []
    for line in lines:
        if line.pieces[0].breaks > 1:
            out.append("")
        out.append(" " * (line.indent or 0) + "".join(piece.space + piece.text for piece in line.pieces))
    return "\n".join(out) + "\n" if out else ""


def _indent_comment_lines(lines: list[Line]) -> None:
    following = 0  # the indent of the code line after, or where a body's last comments go
    for line in reversed(lines):
        if line.indent is None:
            line.indent = following
        else:
            following = line.indent + (INDENT if line.pieces[0].kind == "RBRACE" else 0)


def _align_trailing_comments(lines: list[Line]) -> None:
    run: list[Line] = []
    for line in [*lines, None]:
        if line is not None and line.trailing_comment() is not None and (not run or line.pieces[0].breaks < 2):
            run.append(line)
            continue
        if run:
            column = max(member.code_width() for member in run) + TRAILING_COMMENT_GAP
            for member in run:
                comment = member.trailing_comment()
                assert comment is not None
                comment.space = " " * (column - member.code_width())
        run = [line] if line is not None and line.trailing_comment() is not None else []
