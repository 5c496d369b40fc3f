"""A table-driven LALR(1) runtime for the parse tables that Lark computes from grammars/cnn.lark.

Lark is the parser generator: it reads the grammar and builds the LALR(1) automaton and the
lexer. Importing Lark and building its parser costs about 80 ms, more than the rest of a
`cnndsl check`, most of it in code a spec never needs at run time (the grammar compiler, the
Earley and CYK parsers, the `regex` module when installed). So the tables Lark computes are
exported once into `tables.py` (`python -m cnndsl.syntax.export` rewrites it) and this module runs
them the way Lark's LALR parser and basic lexer do: same terminal order, same keyword retyping,
same child filtering, same inline callbacks, and on a syntax error the same facts Lark's
UnexpectedCharacters and UnexpectedToken carry (`SyntaxFailure`). tests/test_lalr.py holds the two
to the same trees and the same failures over every spec and thousands of generated inputs.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

# One rule of the grammar as exported: (origin, length, the children kept as (index, splice) or None
# for all of them, whether a single child passes through as in Lark's `?rule`, the builder method).
Rule = tuple[str, int, tuple[tuple[int, bool], ...] | None, bool, str]

# What a rule's callback makes of its children: a builder method's result, or a `Subtree`.
Callback = Callable[[list[Any]], Any]


class ParseTables(Protocol):
    """The exported tables: the module `tables.py`, or the same names computed by `export` when the
    grammar has changed since."""

    @property
    def GRAMMAR_CRC32(self) -> int: ...

    @property
    def START_STATE(self) -> int: ...

    @property
    def END_STATE(self) -> int: ...

    @property
    def TERMINALS(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def IGNORE(self) -> tuple[str, ...]: ...

    @property
    def KEYWORDS(self) -> dict[str, dict[str, str]]: ...

    @property
    def RULES(self) -> tuple[Rule, ...]: ...

    @property
    def STATES(self) -> tuple[dict[str, int], ...]: ...


class Token(str):
    """A lexed terminal: its text, its type (the terminal's name) and its offsets in the source."""

    type: str
    start_pos: int
    end_pos: int

    def __new__(cls, type_: str, value: str, start_pos: int) -> Token:
        token = super().__new__(cls, value)
        token.type, token.start_pos, token.end_pos = type_, start_pos, start_pos + len(value)
        return token

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"


class SyntaxFailure(Exception):
    """Where the tables reject the input. `token` is None when no terminal matches the character
    at `position`; otherwise it is the token no action takes, `expected` the terminals with an
    action in the state the parser was in, and `accepts` those that would really advance it (the
    others lead to an error after a reduction), as Lark computes them."""

    def __init__(
        self,
        position: int,
        token: Token | None = None,
        expected: frozenset[str] = frozenset(),
        accepts: frozenset[str] = frozenset(),
    ):
        super().__init__(position)
        self.position, self.token, self.expected, self.accepts = position, token, expected, accepts


class Subtree(list[Any]):
    """The children of an inlined rule (`_name`): the parent splices them into its own."""

    @classmethod
    def of(cls, children: list[Any]) -> Subtree:
        return children if isinstance(children, Subtree) else cls(children)


class Runtime:
    """The lexer and LALR(1) driver over one set of exported tables."""

    def __init__(self, tables: ParseTables):
        self.scanner = re.compile("|".join(f"(?P<{name}>{regexp})" for name, regexp in tables.TERMINALS))
        self.ignore = frozenset(tables.IGNORE)
        self.keywords = tables.KEYWORDS
        self.states = tables.STATES
        self.rules = tables.RULES
        self.start_state, self.end_state = tables.START_STATE, tables.END_STATE

    def tokens(self, text: str) -> Iterator[Token]:
        match, ignore, keywords = self.scanner.match, self.ignore, self.keywords
        position, end = 0, len(text)
        while position < end:
            found = match(text, position)
            if found is None:
                raise SyntaxFailure(position)
            # Every alternative of the scanner is a named group, so a match always names its terminal.
            kind: str = found.lastgroup  # type: ignore[assignment]
            value = found.group()
            if kind not in ignore:
                retype = keywords.get(kind)
                yield Token(retype.get(value, kind) if retype else kind, value, position)
            position = found.end()

    def parse(self, tokens: Iterator[Token], builder: object) -> Any:
        """Run the automaton over `tokens`, building values with `builder`'s rule methods."""
        callbacks = [self._callback(builder, rule) for rule in self.rules]
        state_stack = [self.start_state]
        value_stack: list[Any] = []
        last: Token | None = None
        for token in tokens:
            last = token
            self._feed(token.type, token, state_stack, value_stack, callbacks)
        # Lark's end marker takes the last token's place, which is where its errors point.
        end = Token("$END", "", last.start_pos if last is not None else 0)
        end.end_pos = last.end_pos if last is not None else 0
        return self._feed("$END", end, state_stack, value_stack, callbacks)

    def _feed(
        self, kind: str, token: Token, state_stack: list[int], value_stack: list[Any], callbacks: list[Callback]
    ) -> Any:
        states, rules, end_state = self.states, self.rules, self.end_state
        while True:
            action = states[state_stack[-1]].get(kind)
            if action is None:
                raise self._failure(token, state_stack)
            if action >= 0:  # shift
                state_stack.append(action)
                value_stack.append(token)
                return None
            rule = -1 - action
            origin, size = rules[rule][0], rules[rule][1]
            if size:
                children = value_stack[-size:]
                del state_stack[-size:], value_stack[-size:]
            else:
                children = []
            value_stack.append(callbacks[rule](children))
            state_stack.append(states[state_stack[-1]][origin])
            if kind == "$END" and state_stack[-1] == end_state:
                return value_stack[-1]

    def _failure(self, token: Token, state_stack: list[int]) -> SyntaxFailure:
        choices = [symbol for symbol in self.states[state_stack[-1]] if symbol.isupper()]  # terminals
        accepts = frozenset(kind for kind in choices if self._advances(kind, state_stack))
        return SyntaxFailure(token.start_pos, token, frozenset(choices), accepts)

    def _advances(self, kind: str, state_stack: list[int]) -> bool:
        """Whether a token of this kind would be shifted (or end the input) from this stack."""
        states, rules = self.states, self.rules
        stack = list(state_stack)
        while True:
            action = states[stack[-1]].get(kind)
            if action is None:
                return False
            if action >= 0:
                return True
            origin, size = rules[-1 - action][0], rules[-1 - action][1]
            if size:
                del stack[-size:]
            stack.append(states[stack[-1]][origin])
            if kind == "$END" and stack[-1] == self.end_state:
                return True

    @staticmethod
    def _callback(builder: object, rule: Rule) -> Callback:
        """Lark's chain for one rule: filter and splice the children, pass a single child through
        a `?rule`, then call the builder's method named after the alias or the rule."""
        _origin, _size, include, expand_single, name = rule
        method: Callback | None = getattr(builder, name, None) or (Subtree.of if name.startswith("_") else None)

        def callback(children: list[Any]) -> Any:
            if include is not None:
                # A list built by left recursion (`a: a X | X`) grows in place, as in Lark: copying
                # it at every step would make a chain of n layers cost n squared.
                kept: list[Any] | None = None
                for index, splice in include:
                    child = children[index]
                    if kept is None:
                        kept = child if splice else [child]
                    elif splice:
                        kept.extend(child)
                    else:
                        kept.append(child)
                children = kept if kept is not None else []
            if expand_single and len(children) == 1:
                return children[0]
            if method is None:  # Lark would build a Tree here, which no pass understands
                raise RuntimeError(f"the grammar's rule {name!r} has no builder method")
            return method(children)

        return callback


def tables_match(tables: ParseTables, grammar: str) -> bool:
    """Whether `tables` were exported from this grammar text."""
    return zlib.crc32(grammar.encode("utf-8")) == tables.GRAMMAR_CRC32
