"""Parse pass: text -> `ast.Module`, or located syntax diagnostics (E101-E104).

Lark runs in LALR mode with an inline transformer, so the tree is built while parsing (no
recursion over deep nesting) and no Lark tree survives.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Iterator

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .diagnostics import CnnError, Label, error
from .source import Source, Span

# Phrases used in syntax errors instead of Lark's terminal names.
TOKEN_DESCRIPTIONS = {
    "INPUT": "'input'", "USE": "'use'", "OUTPUT": "'output'", "BLOCK": "'block'",
    "ARROW": "'->'", "COLON": "':'", "EQUALS": "'='", "COMMA": "','", "SLASH": "'/'",
    "STAR": "'*'", "PLUS": "'+'", "MINUS": "'-'", "QUESTION": "'?'", "CMP": "a comparison",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "DIMS": "a shape such as 3x3", "FLOAT": "a number", "INT": "an integer",
    "NAME": "a name", "STRING": "a quoted file name", "_NL": "the end of the line",
    "$END": "the end of the file",
}

# Lark's own limit is far above any spec; beyond this we report instead of recursing.
MAX_NESTING = 10_000


class LineJoiner:
    """Post-lexer: keeps only the line breaks that end a statement (see grammars/cnn.lark)."""

    always_accept = ("_NL",)
    _OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB"}
    _JOINS_NEXT_LINE = {"ARROW", "COMMA", "LBRACE"}

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        previous: Token | None = None
        pending: Token | None = None
        for token in stream:
            if token.type == "_NL":
                if depth == 0 and previous is not None and previous.type not in self._JOINS_NEXT_LINE:
                    pending = pending or token
                continue
            if pending is not None and token.type not in ("ARROW", "RBRACE"):
                yield pending
            pending = None
            if token.type in self._OPENERS:
                depth += 1
            elif token.type in ("RPAR", "RSQB") and depth:
                depth -= 1
            previous = token
            yield token


def _span(*parts) -> Span:
    spans = [Span(p.start_pos, p.end_pos) if isinstance(p, Token) else p if isinstance(p, Span) else p.span
             for p in parts if p is not None]
    return Span(min(s.start for s in spans), max(s.end for s in spans))


def _tok_span(token: Token) -> Span:
    return Span(token.start_pos, token.end_pos)


class _Builder(Transformer):
    """Inline LALR callbacks: each rule becomes an AST node with a span."""

    # values
    def int(self, children):
        (token,) = children
        return ast.Number(int(token), _tok_span(token))

    def float(self, children):
        (token,) = children
        return ast.Number(float(token), _tok_span(token))

    def name(self, children):
        (token,) = children
        return ast.Name(str(token), _tok_span(token))

    def dims(self, children):
        (token,) = children
        return ast.Dims(tuple(int(v) for v in token.split("x")), _tok_span(token))

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
        value = float(token) if token.type == "FLOAT" else int(token)
        return ast.Number(sign * value, _span(*children))

    def array(self, children):
        open_, *elements, close = [c for c in children if not (isinstance(c, Token) and c.type == "COMMA")]
        return ast.Array(tuple(elements), _span(open_, close))

    # statements
    def input_decl(self, children):
        keyword, dims = children
        values = tuple(int(v) for v in dims.split("x"))
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
        label = None
        if len(children) >= 2 and isinstance(children[1], Token) and children[1].type == "COLON":
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
        return ast.Element(label, ast.Name(str(kind_token), _tok_span(kind_token)), tuple(items),
                           body, tuple(followups), _span(start, last))

    def chain(self, children):
        target = None
        if len(children) >= 2 and isinstance(children[1], Token) and children[1].type == "EQUALS":
            target = ast.Name(str(children[0]), _tok_span(children[0]))
            children = children[2:]
        elements = tuple(c for c in children if isinstance(c, ast.Element))
        return ast.Chain(target, elements, _span(target, elements[0], elements[-1]))

    def start(self, children):
        return tuple(children)


def _respan(node, span: Span):
    return type(node)(**{**node.__dict__, "span": span})


@functools.lru_cache(maxsize=1)
def _grammar_text() -> str:
    return resources.files("cnndsl.grammars").joinpath("cnn.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    # An inline transformer builds the AST during the LALR parse: no recursion over the tree.
    return Lark(_grammar_text(), parser="lalr", lexer="basic", postlex=LineJoiner(),
                transformer=_Builder(), maybe_placeholders=False)


def parse(source: Source) -> ast.Module:
    """Parse one source; raise CnnError with a located syntax diagnostic on failure."""
    try:
        return ast.Module(source, _parser().parse(source.text))
    except UnexpectedInput as exc:
        raise CnnError([_syntax_diagnostic(source, exc)]) from None
    except VisitError as exc:
        raise exc.orig_exc from None


def _syntax_diagnostic(source: Source, exc: UnexpectedInput):
    if isinstance(exc, UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else ""
        span = Span(exc.pos_in_stream, exc.pos_in_stream + 1)
        return error("E102", f"unexpected character {char!r}", Label(source, span),
                     help=_character_help(char))
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    accepts = set(exc.accepts or exc.expected)
    at_end = token.type == "$END"
    offset = len(source.text.rstrip()) if at_end else token.start_pos
    before = source.text[:offset].rstrip()
    expected = _expectation(accepts, before)
    if at_end:
        span = Span(max(0, offset - 1), max(1, offset))
        return error("E103", f"unexpected end of file: {expected}", Label(source, span))
    found = "end of line" if token.type == "_NL" else repr(str(token))
    return error("E101", f"unexpected {found}: {expected}", Label(source, _tok_span(token)),
                 help=_token_help(accepts))


def _expectation(accepts: set[str], before: str) -> str:
    """Phrase what the parser wanted, in the words of the language rather than token names."""
    if "NAME" in accepts and before.endswith("->"):
        return "expected a layer after '->'"
    if accepts <= {"DIMS", "INT"} and before.endswith("input"):
        return "expected the input shape after 'input', such as 3x224x224"
    options = sorted({TOKEN_DESCRIPTIONS.get(name, name) for name in accepts})
    return f"expected {_one_of(options)}"


def _one_of(options: list[str]) -> str:
    if len(options) == 1:
        return options[0]
    return "one of " + ", ".join(options[:-1]) + " or " + options[-1]


def _token_help(accepts: set[str]) -> str | None:
    if accepts == {"NAME"}:
        return "a layer is expected here, such as 'conv 3x3 64' or 'relu'"
    return None


def _character_help(char: str) -> str | None:
    if char.isdigit():
        return "only the ASCII digits 0-9 are allowed in numbers"
    if char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f":
        return "bidirectional control characters can make code display differently from how it reads; remove it"
    return None
