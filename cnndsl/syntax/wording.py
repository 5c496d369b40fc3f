"""Syntax errors (E101-E103) in the user's words: wording tables, and the interpreter that reads them.

When the LALR parser stops (`lalr.SyntaxFailure`), the error is first put into facts, a
`Situation`: the terminal the parser met, the terminals it would have accepted, the terminal the
code before ends with, the terminal its statement starts with, and the brackets left open. Then
tables choose the words. In each table the first row whose conditions all hold gives the text, so
a specific row comes before a general one:

- `EXPECTED`: what the parser wanted, for E101 (an unexpected token) and E103 (the end of the
  file). What no row phrases is listed from the accepted terminals instead (`FAMILIES`,
  `TOKEN_DESCRIPTIONS`), as "expected a value, ')' or the end of the line".
- `TOKEN_HELP`: the help line of E101.
- `characters.CHARACTER_HELP`: the help line of E102, where no terminal matches a character.

Terminal names (NAME, ARROW, _NL) never reach the user; `TOKEN_DESCRIPTIONS` phrases each one.

Two cases need more than the parser's facts, and are named for it:

- FOREIGN DIGIT: a non-ASCII digit (Arabic-Indic, Devanagari, full-width...) written in code up to
  the end of the failing line. Such digits are not numbers in cnndsl, so the lexer stops at them
  (or the parser just before them); the digit explains the error best, whatever the parser met,
  so it is reported instead (E102), with the ASCII digit to write.
- BRACKETS: the code before the failure is lexed again, once, to learn the facts above; the
  brackets still open are tracked on the way, to name a closer that matches none (`stray_closer`)
  and the bracket an unfinished file leaves open.
"""

from __future__ import annotations

from typing import NamedTuple

from ..diagnostics import Diagnostic, Label, error
from ..source import Source, Span
from . import lalr
from .automaton import runtime
from .builder import token_span
from .characters import fill, foreign_digit, unexpected_character
from .lines import LineJoiner


def terms(*names: str) -> frozenset[str]:
    """A set of terminals, as the tables write them."""
    return frozenset(names)


# The pseudo-terminal before the first token (Lark's own names the end of the input `$END`).
START = "$START"

# Phrases used in syntax errors instead of the grammar's terminal names. Every terminal has one
# (tests/test_lalr.py checks that).
TOKEN_DESCRIPTIONS = {
    "INPUT": "'input'",
    "USE": "'use'",
    "OUTPUT": "'output'",
    "BLOCK": "'block'",
    "ASSERT": "'assert'",
    "ARROW": "'->'",
    "COLON": "':'",
    "EQUALS": "'='",
    "COMMA": "','",
    "SLASH": "'/'",
    "STAR": "'*'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "QUESTION": "'?'",
    "AND": "'&&'",
    "OR": "'||'",
    "NOT": "'!'",
    "DOT": "'.'",
    "CROSS": "'x'",
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

# Each opening bracket and the one that closes it.
CLOSER_OF = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}


class Situation(NamedTuple):
    """The facts of one syntax error that the wording tables read."""

    found: str  # the terminal the parser met: `$END` at the end of the file
    text: str  # what was written there
    accepts: frozenset[str]  # the terminals that would have advanced the parser
    after: str  # the terminal the code before ends with (an explicit ';' is _NL), or START
    statement: str | None  # the terminal the statement so far starts with; None when it has none
    open_bracket: lalr.Token | None  # the innermost bracket open before the failure
    code_end: int  # the offset just after the code before (comments and blank lines skipped)

    @property
    def stray_closer(self) -> bool:
        """The parser met a closing bracket that closes no open one (BRACKETS)."""
        if self.found not in CLOSER_OF.values():
            return False
        return self.open_bracket is None or CLOSER_OF[self.open_bracket.type] != self.found


class Wording(NamedTuple):
    """One row of a wording table: `text` applies where every condition given holds.

    `text` may name the token met as `$token`."""

    text: str
    found: frozenset[str] | None = None  # the parser met one of these terminals
    accepting: frozenset[str] = frozenset()  # it would accept all of these
    accepting_only: frozenset[str] | None = None  # it would accept none but these
    accepting_exactly: frozenset[str] | None = None  # it would accept these and no others
    after: frozenset[str] | None = None  # the code before ends with one of these (START: there is none)
    statement: frozenset[str] | None = None  # the statement starts with one of these
    stray_closer: bool = False  # the parser met a closer that closes no open bracket (BRACKETS)

    def applies(self, situation: Situation) -> bool:
        return (
            (self.found is None or situation.found in self.found)
            and self.accepting <= situation.accepts
            and (self.accepting_only is None or situation.accepts <= self.accepting_only)
            and (self.accepting_exactly is None or situation.accepts == self.accepting_exactly)
            and (self.after is None or situation.after in self.after)
            and (self.statement is None or situation.statement in self.statement)
            and (not self.stray_closer or situation.stray_closer)
        )


# What the parser wanted: "unexpected '}': <this>" (E101), "unexpected end of file: <this>" (E103).
EXPECTED: tuple[Wording, ...] = (
    Wording("expected a layer after '->'", accepting=terms("NAME"), after=terms("ARROW")),
    # Only a layer may follow a tensor's '=' ('x = conv ...'); a parameter's default is a value.
    Wording(
        "expected a layer after '='",
        accepting=terms("NAME"),
        accepting_only=terms("NAME", "INT", "BLOCK"),
        after=terms("EQUALS"),
    ),
    Wording("expected a layer after '{'", accepting=terms("NAME"), after=terms("LBRACE")),
    Wording("expected a layer after the label", accepting_exactly=terms("NAME"), after=terms("COLON")),
    Wording(
        "expected the block's name after 'block'",
        accepting=terms("NAME"),
        accepting_only=terms("NAME", "COLON"),  # `block:` labels a layer
        after=terms("BLOCK"),
    ),
    Wording(
        "expected a quantity after 'assert', such as 'params' or 'macs'",
        accepting_exactly=terms("NAME"),
        after=terms("ASSERT"),
    ),
    Wording(
        "expected the limit after the comparison, such as 5M or 8GiB",
        accepting_only=terms("INT", "FLOAT"),
        statement=terms("ASSERT"),
    ),
    Wording("expected a tensor name after 'output'", accepting_exactly=terms("NAME"), statement=terms("OUTPUT")),
    Wording(
        "expected the input shape after 'input', such as 3x224x224",
        accepting_only=terms("DIMS", "INT"),
        after=terms("INPUT"),
    ),
    Wording(
        "expected a statement: a layer, 'input', 'block', 'use' or 'output'", accepting=terms("INPUT", "BLOCK", "NAME")
    ),
    Wording("expected a layer or '}'", accepting_exactly=terms("NAME", "RBRACE")),
)

# The help line of E101.
TOKEN_HELP: tuple[Wording, ...] = (
    Wording("a layer name goes before the layer kind, as in 'conv1: conv 3x3 64'", found=terms("COLON")),
    Wording("a tensor is named at the start of a statement, as in 'x = conv 3x3 64 -> relu'", found=terms("EQUALS")),
    Wording("a chain starts with a layer; '->' joins two layers", found=terms("ARROW"), after=terms(START, "_NL")),
    Wording(
        "the input declaration stands alone; start the chain on the next line, without '->'",
        found=terms("ARROW"),
        statement=terms("INPUT"),
    ),
    Wording("this '$token' has no matching opening bracket", stray_closer=True),
    Wording("a minus takes '!' in parentheses: -(!x)", found=terms("NOT"), after=terms("MINUS")),
    Wording("operators other than '*' work inside parentheses: (a && b)", found=terms("AND", "OR", "NOT")),
    Wording(
        "a layer is expected here, such as 'conv 3x3 64' or 'relu'",
        accepting=terms("NAME"),
        accepting_only=terms("NAME", "INT", "BLOCK"),  # a layer, or a label (`0: conv`, `block: seq`)
        after=terms("ARROW", "EQUALS", "LBRACE"),
    ),
)


class Family(NamedTuple):
    """Terminals named by one phrase when at least `FAMILY_AT_LEAST` of them are acceptable."""

    members: frozenset[str]
    phrase: str
    # The phrase where NAME is acceptable but not as an operand: after a layer kind a name may be
    # an attribute, so "an argument" rather than "a value".
    phrase_before_arguments: str | None = None


# Listing what the parser accepts, where no row of EXPECTED applies: families first, then single
# terminals (sorted by phrase), then the end of the statement. Each terminal is named at most once.
FAMILIES = (
    Family(terms("INT", "FLOAT", "DIMS", "NAME", "LPAR", "MINUS", "NOT", "LSQB"), "a value", "an argument"),
    Family(terms("STAR", "PLUS", "MINUS", "SLASH", "CMP", "QUESTION", "AND", "OR"), "an operator"),
)
FAMILY_AT_LEAST = 3
# After these, a NAME is an operand (a value), not the start of an attribute.
OPERAND_AFTER = terms(
    "PLUS", "MINUS", "STAR", "SLASH", "LPAR", "QUESTION", "COLON", "CMP", "AND", "OR", "NOT", "CROSS", "EQUALS", "ARROW"
)
STATEMENT_ENDS = terms("_NL", "$END")  # named last, as one phrase ("the end of the line" first)
# Left out of a list of more than MOST_PHRASES alternatives: they would only bury the likely ones.
MOST_PHRASES = 4
MINOR = terms("COMMA", "SLASH", "STAR", "LBRACE", "QUESTION", "CMP", "AND", "OR", "COLON", "EQUALS", "DOT", "CROSS")

# How the token met is named in "unexpected ...": by its text, but a line break by its kind.
LINE_BREAK_WORDS = {";": "';'"}
LINE_BREAK_DEFAULT = "end of line"


# The messages, by code.
UNEXPECTED_TOKEN = "unexpected $found: $expected"  # E101
UNEXPECTED_END = "unexpected end of file: $expected"  # E103
NEVER_CLOSED = "this '$bracket' is never closed"  # E103, at the bracket


def syntax_diagnostic(source: Source, failure: lalr.SyntaxFailure) -> Diagnostic:
    """The diagnostic for where the parser stopped: FOREIGN DIGIT if there is one, else E102 where no
    terminal matches a character, E103 at the end of the file, E101 at an unexpected token."""
    foreign = foreign_digit(source, failure.position)
    if foreign is not None:
        return foreign
    if failure.token is None:  # no terminal matches the character there
        return unexpected_character(source, failure.position)
    situation = situate(source.text, failure.token, failure.accepts or failure.expected)
    expected = expectation(situation)
    if situation.found == "$END":
        # The caret goes just after the last character, where the missing text belongs.
        span = Span(situation.code_end, situation.code_end + 1)
        opened = situation.open_bracket
        secondary = [Label(source, token_span(opened), fill(NEVER_CLOSED, bracket=opened))] if opened else []
        return error("E103", fill(UNEXPECTED_END, expected=expected), Label(source, span), secondary=secondary)
    found = (
        LINE_BREAK_WORDS.get(situation.text, LINE_BREAK_DEFAULT) if situation.found == "_NL" else repr(situation.text)
    )
    return error(
        "E101",
        fill(UNEXPECTED_TOKEN, found=found, expected=expected),
        Label(source, token_span(failure.token)),
        help=first_wording(TOKEN_HELP, situation),
    )


def situate(text: str, token: lalr.Token, accepts: frozenset[str]) -> Situation:
    """The facts of a failure at `token` (`$END`: at the end of the file), from the code before it
    lexed again (BRACKETS). The parser has lexed that code already, so lexing cannot fail."""
    at_end = token.type == "$END"
    joiner = LineJoiner()
    last: lalr.Token | None = None
    statement: lalr.Token | None = None
    opened: list[lalr.Token] = []
    for code in joiner.process(runtime().tokens(text if at_end else text[: token.start_pos])):
        last = code
        if code.type == "_NL":  # a separator the parser took: a statement ends
            statement = None
        elif statement is None:
            statement = code
        if code.type in CLOSER_OF:
            opened.append(code)
        elif opened and CLOSER_OF[opened[-1].type] == code.type:
            opened.pop()
    if joiner.trailing == ";":
        last = joiner.trailing  # 'input 3x8x8;' then '-> relu': the code before ends with the ';'
    return Situation(
        found=token.type,
        text=str(token),
        accepts=accepts,
        after=last.type if last is not None else START,
        statement=statement.type if statement is not None else None,
        open_bracket=opened[-1] if opened else None,
        code_end=last.end_pos if last is not None else 0,
    )


def first_wording(table: tuple[Wording, ...], situation: Situation) -> str | None:
    """The text of the first row that applies, or None."""
    for row in table:
        if row.applies(situation):
            return fill(row.text, token=situation.text)
    return None


def expectation(situation: Situation) -> str:
    """What the parser wanted, in the words of the language rather than terminal names."""
    return first_wording(EXPECTED, situation) or list_expected(situation)


def list_expected(situation: Situation) -> str:
    """'expected ...' listing the acceptable terminals, by family where enough of one are."""
    options = set(situation.accepts)
    if {"INT", "FLOAT"} <= options:
        options.discard("INT")  # "a number" covers both
    phrases: list[str] = []
    for family in FAMILIES:
        if len(options & family.members) >= FAMILY_AT_LEAST:
            argument = "NAME" in options and situation.after not in OPERAND_AFTER
            phrases.append(
                family.phrase_before_arguments if argument and family.phrase_before_arguments else family.phrase
            )
            options -= family.members
    ends = options & STATEMENT_ENDS
    options -= STATEMENT_ENDS
    if len(phrases) + len(options) + bool(ends) > MOST_PHRASES:
        options -= MINOR
    phrases += sorted({describe(name) for name in options})
    if ends:
        phrases.append(describe("_NL" if "_NL" in ends else "$END"))
    return f"expected {one_of(phrases)}" if phrases else "this does not fit here"


def describe(terminal: str) -> str:
    """A terminal as the user would write it; never a terminal's name (_NL, $END)."""
    return TOKEN_DESCRIPTIONS.get(terminal, "something else")


def one_of(options: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + " or " + options[-1]
