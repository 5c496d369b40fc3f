"""Parse pass: text -> `ast.Module`, or located syntax diagnostics (E101-E104).

The grammar is grammars/cnn.lark. Its LALR(1) tables, computed by Lark and exported to
`lalr_tables.py`, run in cnndsl's own runtime (`lalr.py`) with an inline builder, so the tree is
built while parsing (no recursion over deep nesting) and no parse tree survives. Lark is only
imported when the grammar has changed since the export, to compute the tables again.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from ..diagnostics import CnnError, Label, error
from ..source import Source, Span
from . import ast, lalr

# Tokens from cnndsl's runtime or, for the reference parser in the tests, from Lark: a str with
# `type`, `start_pos` and `end_pos`.
Token = Any

# Phrases used in syntax errors instead of Lark's terminal names.
TOKEN_DESCRIPTIONS = {
    "INPUT": "'input'",
    "USE": "'use'",
    "OUTPUT": "'output'",
    "BLOCK": "'block'",
    "ARROW": "'->'",
    "COLON": "':'",
    "EQUALS": "'='",
    "COMMA": "','",
    "SLASH": "'/'",
    "STAR": "'*'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "QUESTION": "'?'",
    "CMP": "a comparison",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "DIMS": "a shape such as 3x3",
    "FLOAT": "a number",
    "INT": "an integer",
    "NAME": "a name",
    "STRING": "a quoted file name",
    "_NL": "the end of the line",
    "$END": "the end of the file",
}

# The default nesting limit for (), [] and {}; every pass is built to handle this depth.
MAX_NESTING = 10_000

# A literal with more significant digits than this is reported (E303) rather than converted:
# Python refuses int() of more than 4,300 digits, and no extent or count needs 20.
MAX_DIGITS = 19

_VALUE_STARTS = {"INT", "FLOAT", "DIMS", "NAME", "LPAR", "MINUS", "LSQB"}
_OPERATORS = {"STAR", "PLUS", "MINUS", "SLASH", "CMP", "QUESTION"}
_STATEMENT_ENDS = {"_NL", "$END"}
# Left out of a long list of alternatives: they would only bury the likely ones.
_MINOR = {"COMMA", "SLASH", "STAR", "LBRACE", "QUESTION", "CMP", "COLON", "EQUALS"}
_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}


class _LiteralTooLarge(Exception):
    def __init__(self, token: Token, characters: int):
        super().__init__(str(token)[:20])
        self.token, self.characters = token, characters


def _int(token: Token, text: str | None = None) -> int:
    """int() of a digit string, refusing absurd lengths before Python's own limit does."""
    text = str(token) if text is None else text
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise _LiteralTooLarge(token, len(str(token)))
    return int(text)


def _float(token: Token) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise _LiteralTooLarge(token, len(str(token)))
    return value


class LineJoiner:
    """Post-lexer: keeps only the line breaks that end a statement (see grammars/cnn.lark).

    A line break ends a statement only where the statement can end. An explicit ';' always ends
    it: after '->' or ',' and inside brackets it is passed on, to be reported where it stands, and
    before '->' on the next line it still ends the statement. Separators only collapse where there
    is no statement to end: at the start, after '{', after another separator and before '}'.
    """

    always_accept = ("_NL",)
    _OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB"}
    _JOINS_NEXT_LINE = {"ARROW", "COMMA", "LBRACE"}
    _UNFINISHED = {"ARROW", "COMMA"}  # a statement cannot end right after these

    def __init__(self) -> None:
        # The separator not yet passed on when the stream ended: the parser never needs it (a
        # statement ends there anyway), but a syntax error's 'code before' must include a ';'.
        self.trailing: Token | None = None

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        previous: Token | None = None
        pending: Token | None = None
        for token in stream:
            if token.type == "_NL":
                explicit = token == ";"
                if explicit and (depth or (previous is not None and previous.type in self._UNFINISHED)):
                    yield token  # 'conv ->;', 'pad 1,;' and '(8;)' leave a statement unfinished
                elif depth == 0 and previous is not None and previous.type not in self._JOINS_NEXT_LINE:
                    pending = token if explicit else (pending or token)
                self.trailing = pending
                continue
            if pending is not None and (token.type != "RBRACE" and (token.type != "ARROW" or pending == ";")):
                yield pending
            pending = self.trailing = None
            if token.type in self._OPENERS:
                depth += 1
            elif token.type in ("RPAR", "RSQB") and depth:
                depth -= 1
            previous = token
            yield token


def _span(*parts) -> Span:
    """The span covering tokens, spans and syntax nodes (None parts are skipped). Called for nearly
    every node, so written as one loop rather than lists and generators."""
    start, end = -1, -1
    for part in parts:
        if part is None:
            continue
        if isinstance(part, str):  # a token
            low, high = part.start_pos, part.end_pos
        else:
            low, high = part if isinstance(part, Span) else part.span
        if start < 0 or low < start:
            start = low
        if high > end:
            end = high
    return Span(start, end)


def _tok_span(token: Token) -> Span:
    return Span(token.start_pos, token.end_pos)


class _TooManyElements(Exception):
    def __init__(self, span: Span):
        super().__init__(span)
        self.span = span


class _Builder:
    """Inline LALR callbacks, named after the grammar's rules and aliases: each builds an AST node
    with a span. Tokens are the only `str` children."""

    def __init__(self, max_elements: int | None = None):
        # Each written layer, block call or tensor reference is an element. Counting them while
        # parsing stops a runaway file (a 10 MB one-line chain) before it is all held in memory.
        self.elements_left = max_elements

    # values
    def int(self, children):
        (token,) = children
        return ast.Number(_int(token), _tok_span(token))

    def float(self, children):
        (token,) = children
        return ast.Number(_float(token), _tok_span(token))

    def name(self, children):
        (token,) = children
        return ast.Name(str(token), _tok_span(token))

    def dims(self, children):
        (token,) = children
        return ast.Dims(tuple(_int(token, v) for v in token.split("x")), _tok_span(token))

    def negate(self, children):
        minus, operand = children
        return ast.Negate(operand, _span(minus, operand))

    def paren(self, children):
        open_, inner, close = children
        # The parentheses belong to the span, so carets cover what the user wrote.
        return _respan(inner, _span(open_, close))

    def binary(self, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, _span(left, right))

    def conditional(self, children):
        test, _q, then, _c, otherwise = children
        return ast.Conditional(test, then, otherwise, _span(test, otherwise))

    def window(self, children):
        extent, _slash, stride = children
        return ast.Window(extent, stride, _span(extent, stride))

    def pair(self, children):
        first, _comma, second = children
        return ast.Pair(first, second, _span(first, second))

    def number(self, children):
        sign = -1 if len(children) == 2 else 1
        token = children[-1]
        value = _float(token) if token.type == "FLOAT" else _int(token)
        return ast.Number(sign * value, _span(*children))

    def array(self, children):
        open_, *elements, close = [c for c in children if not (isinstance(c, str) and c.type == "COMMA")]
        return ast.Array(tuple(elements), _span(open_, close))

    # statements
    def input_decl(self, children):
        keyword, dims = children
        values = tuple(_int(dims, v) for v in dims.split("x"))
        return ast.InputDecl(values, _span(keyword, dims))

    def use_decl(self, children):
        keyword, path = children
        return ast.Use(path[1:-1], _span(keyword, path))

    def output_decl(self, children):
        keyword, *rest = children
        names = tuple(ast.Name(str(t), _tok_span(t)) for t in rest if t.type == "NAME")
        return ast.Output(names, _span(keyword, *rest))

    def param(self, children):
        name = ast.Name(str(children[0]), _tok_span(children[0]))
        default = children[2] if len(children) == 3 else None
        return ast.Param(name, default, _span(*children))

    def params(self, children):
        return tuple(c for c in children if isinstance(c, ast.Param))

    def body(self, children):
        open_, *chains, close = children
        return ast.Body(tuple(chains), _span(open_, close))

    def block_def(self, children):
        keyword, name, *rest = children
        params = rest[0] if len(rest) == 2 else ()
        body = rest[-1]
        return ast.BlockDef(ast.Name(str(name), _tok_span(name)), params, body, _span(keyword, body))

    def followup(self, children):
        keyword, body = children
        return ast.Followup(ast.Name(str(keyword), _tok_span(keyword)), body, _span(keyword, body))

    def element(self, children):
        if self.elements_left is not None:
            self.elements_left -= 1
            if self.elements_left < 0:
                raise _TooManyElements(_tok_span(children[0]))
        label = None
        if len(children) >= 2 and isinstance(children[1], str) and children[1].type == "COLON":
            label = ast.Name(str(children[0]), _tok_span(children[0]))
            children = children[2:]
        kind_token, *rest = children
        items, body, followups = [], None, []
        for child in rest:
            if isinstance(child, ast.Body):
                body = child
            elif isinstance(child, ast.Followup):
                followups.append(child)
            else:
                items.append(child)
        start = label.span if label else _tok_span(kind_token)
        last = followups[-1] if followups else body if body else items[-1] if items else kind_token
        return ast.Element(
            label,
            ast.Name(str(kind_token), _tok_span(kind_token)),
            tuple(items),
            body,
            tuple(followups),
            _span(start, last),
        )

    def chain(self, children):
        target = None
        if len(children) >= 2 and isinstance(children[1], str) and children[1].type == "EQUALS":
            target = ast.Name(str(children[0]), _tok_span(children[0]))
            children = children[2:]
        elements = tuple(c for c in children if isinstance(c, ast.Element))
        return ast.Chain(target, elements, _span(target, elements[0], elements[-1]))

    def start(self, children):
        return tuple(children)


def _respan(node, span: Span):
    return node._replace(span=span)


def grammar_text() -> str:
    with open(grammar_path(), encoding="utf-8") as grammar:
        return grammar.read()


def grammar_path() -> str:
    """grammars/cnn.lark: installed, it is the package `cnndsl.grammars` (pyproject.toml maps the
    top-level folder there); in a source checkout run without installing, it sits beside `cnndsl/`."""
    try:
        from .. import grammars
    except ImportError:
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "grammars", "cnn.lark")
    return os.path.join(os.path.dirname(grammars.__file__), "cnn.lark")


@functools.lru_cache(maxsize=1)
def _runtime() -> lalr.Runtime:
    from . import tables as lalr_tables

    grammar = grammar_text()
    if lalr.tables_match(lalr_tables, grammar):
        return lalr.Runtime(lalr_tables)
    from .export import tables_from_grammar

    return lalr.Runtime(tables_from_grammar(grammar))


def _tokens(text: str) -> Iterator[Token]:
    """The tokens the parser sees: lexed, and line breaks kept only where a statement ends."""
    return LineJoiner().process(_runtime().tokens(text))


def parse(source: Source, max_depth: int = MAX_NESTING, max_elements: int | None = None) -> ast.Module:
    """Parse one source; raise CnnError with a located syntax diagnostic on failure.
    `max_elements`: E214 as soon as the file has written more elements (layers, block calls and
    tensor references) than that."""
    _check_nesting(source, max_depth)
    try:
        try:
            return ast.Module(source, _runtime().parse(_tokens(source.text), _Builder(max_elements)))
        except lalr.SyntaxFailure as failure:
            raise CnnError([_syntax_diagnostic(source, failure)]) from None
        except _TooManyElements as stop:
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
    except _LiteralTooLarge as exc:
        token = exc.token
        shown = str(token) if len(str(token)) <= 24 else f"{str(token)[:12]}...{str(token)[-6:]}"
        raise CnnError(
            [
                error(
                    "E303",
                    f"the number {shown} is too large ({exc.characters:,} characters)",
                    Label(source, _tok_span(token)),
                    help=None if token.type == "FLOAT" else "extents, channels and counts are at most 2,147,483,647",
                )
            ]
        ) from None


def _check_nesting(source: Source, max_depth: int) -> None:
    """Refuse absurd nesting before parsing (E216), so no pass has to cope with it."""
    depth = 0
    for found in _NESTING_TOKENS.finditer(source.text):  # comments and file names skipped whole
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


_NESTING_TOKENS = re.compile(r'#[^\n]*|"[^"]*"?|[()\[\]{}]')


def _syntax_diagnostic(source: Source, failure: lalr.SyntaxFailure):
    foreign = _foreign_digit(source, failure.position)
    if foreign is not None:
        return foreign
    if failure.token is None:  # no terminal matches the character there
        position = failure.position
        char = source.text[position] if position < len(source.text) else ""
        span = Span(position, position + 1)
        shown = repr(char) if char.isprintable() and char.isascii() else f"{char!r} (U+{ord(char):04X})"
        return error("E102", f"unexpected character {shown}", Label(source, span), help=_character_help(char))
    token = failure.token
    accepts = set(failure.accepts or failure.expected)
    at_end = token.type == "$END"
    code_end = _end_of_code(source, None if at_end else token.start_pos)  # comments skipped
    before = source.text[:code_end].rstrip()
    expected = _expectation(accepts, before)
    if at_end:
        # The caret goes just after the last character, where the missing text belongs.
        span = Span(code_end, code_end + 1)
        unclosed = _unclosed_bracket(source)
        secondary = [Label(source, _tok_span(unclosed), f"this '{unclosed}' is never closed")] if unclosed else []
        return error("E103", f"unexpected end of file: {expected}", Label(source, span), secondary=secondary)
    if token.type == "_NL":
        found = "';'" if str(token) == ";" else "end of line"
    else:
        found = repr(str(token))
    return error(
        "E101",
        f"unexpected {found}: {expected}",
        Label(source, _tok_span(token)),
        help=_token_help(source, token, accepts, before),
    )


def _expectation(accepts: set[str], before: str) -> str:
    """Phrase what the parser wanted, in the words of the language rather than token names."""
    if "NAME" in accepts:
        for word in ("->", "=", "{"):
            if before.endswith(word):
                return f"expected a layer after '{word}'"
        if accepts == {"NAME"} and before.endswith(":"):
            return "expected a layer after the label"
        if accepts == {"NAME"} and before.endswith("block"):
            return "expected the block's name after 'block'"
        if accepts == {"NAME"} and before.rsplit("\n", 1)[-1].lstrip().startswith("output"):
            return "expected a tensor name after 'output'"
    if accepts <= {"DIMS", "INT"} and before.endswith("input"):
        return "expected the input shape after 'input', such as 3x224x224"
    if {"INPUT", "BLOCK", "NAME"} <= accepts:
        return "expected a statement: a layer, 'input', 'block', 'use' or 'output'"
    if accepts == {"NAME", "RBRACE"}:
        return "expected a layer or '}'"
    options = set(accepts)
    if {"INT", "FLOAT"} <= options:
        options.discard("INT")  # "a number" covers both
    phrases: list[str] = []
    if len(options & _VALUE_STARTS) >= 3:
        operand = "NAME" not in options or before[-1:] in tuple("+-*/(?:<>=!")
        phrases.append("a value" if operand else "an argument")
        options -= _VALUE_STARTS
    if len(options & _OPERATORS) >= 3:
        phrases.append("an operator")
        options -= _OPERATORS
    ends = options & _STATEMENT_ENDS
    options -= _STATEMENT_ENDS
    if len(phrases) + len(options) + bool(ends) > 4:
        options -= _MINOR
    phrases += sorted({_describe(name) for name in options})
    if ends:
        phrases.append("the end of the line" if "_NL" in ends else "the end of the file")
    return f"expected {_one_of(phrases)}" if phrases else "this does not fit here"


def _describe(terminal: str) -> str:
    """A terminal as the user would write it; never a terminal's name (_NL, $END). Every terminal
    of the grammar has a description (tests/test_lalr.py checks that)."""
    return TOKEN_DESCRIPTIONS.get(terminal, "something else")


def _one_of(options: list[str]) -> str:
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + " or " + options[-1]


def _token_help(source: Source, token: Token, accepts: set[str], before: str) -> str | None:
    if token.type == "COLON":
        return "a layer name goes before the layer kind, as in 'conv1: conv 3x3 64'"
    if token.type == "EQUALS":
        return "a tensor is named at the start of a statement, as in 'x = conv 3x3 64 -> relu'"
    if token.type == "ARROW":
        last_line = before.rsplit("\n", 1)[-1].lstrip()
        if not before or before.endswith(";"):
            return "a chain starts with a layer; '->' joins two layers"
        if last_line.startswith("input"):
            return "the input declaration stands alone; start the chain on the next line, without '->'"
    if token.type in _OPENERS.values():
        unclosed = _unclosed_bracket(source, token.start_pos)
        if unclosed is None or _OPENERS[unclosed.type] != token.type:
            return f"this '{token}' has no matching opening bracket"
    if accepts == {"NAME"} and before.endswith(("->", "=", "{")):
        return "a layer is expected here, such as 'conv 3x3 64' or 'relu'"
    return None


def _character_help(char: str) -> str | None:
    if char.isdigit():
        return "only the ASCII digits 0-9 are allowed in numbers"
    if char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f":
        return "bidirectional control characters can make code display differently from how it reads; remove it"
    if char == "'":
        return "file names in 'use' take double quotes: use \"blocks.cnn\""
    if not char.isascii():
        return "names and numbers are ASCII; non-ASCII text is allowed in comments only"
    return None


def _foreign_digit(source: Source, position: int):
    """A non-ASCII digit (Arabic-Indic, Devanagari, full-width...) on the lines up to the error's
    explains it best.

    Such digits are not numbers in cnndsl, so the lexer stops at them or just after them; report
    the digit itself, and what to write instead.
    """
    line_end = source.text.find("\n", position)
    line_end = len(source.text) if line_end < 0 else line_end
    start = 0
    while start < line_end:
        stop = source.text.find("\n", start)
        stop = line_end if stop < 0 or stop > line_end else stop
        code = source.text[start:stop].split("#", 1)[0]
        for column, char in enumerate(code):
            if not char.isascii() and unicodedata.digit(char, None) is not None:
                name = unicodedata.name(char, f"U+{ord(char):04X}").lower()
                return error(
                    "E102",
                    f"'{char}' ({name}, U+{ord(char):04X}) is not an ASCII digit",
                    Label(source, Span(start + column, start + column + 1)),
                    help=f"numbers use the digits 0-9 only: write {unicodedata.digit(char)}",
                )
        start = stop + 1
    return None


def _end_of_code(source: Source, end: int | None = None) -> int:
    """Offset just after the last token before `end`, so comments and blank lines are skipped;
    0 when only comments and blank lines come before it."""
    last = None
    joiner = LineJoiner()
    try:
        for last in joiner.process(_runtime().tokens(source.text[:end])):
            pass
    except lalr.SyntaxFailure:
        pass
    if joiner.trailing is not None and joiner.trailing == ";":
        last = joiner.trailing  # 'input 3x8x8;' then '-> relu': the code before ends with the ';'
    return last.end_pos if last is not None else 0


def _unclosed_bracket(source: Source, end: int | None = None) -> Token | None:
    """The innermost bracket left open at offset `end` (default: the end of the file), if any."""
    stack: list[Token] = []
    try:
        for token in _tokens(source.text[:end]):
            if token.type in _OPENERS:
                stack.append(token)
            elif token.type in _OPENERS.values() and stack and _OPENERS[stack[-1].type] == token.type:
                stack.pop()
    except lalr.SyntaxFailure:
        return None
    return stack[-1] if stack else None
