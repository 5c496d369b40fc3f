"""A table-driven LALR(1) runtime for the parse tables that Lark computes from grammars/cnn.lark.

Lark is the parser generator: it reads the grammar, builds the LALR(1) automaton and the lexer,
and is what reports syntax errors. Importing Lark and building its parser costs about 55 ms, a
third of a `cnndsl check`, most of it in code a valid spec never needs (the grammar compiler, the
Earley and CYK parsers, the `regex` module when installed). So the tables Lark computes are
exported once into `lalr_tables.py` (`python -m cnndsl.lalr_export` rewrites it) and this module runs
them the way Lark's LALR parser and basic lexer do: same terminal order, same keyword retyping,
same child filtering, same inline callbacks. It only ever parses valid input; at the first token
it cannot take it raises `Fallback`, and the caller parses again with Lark itself, so every syntax
diagnostic still comes from Lark. tests/test_lalr.py checks that both parse every spec, and
generated programs, to the same tree.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, Iterator


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


class Fallback(Exception):
    """The input is not a valid program (or the tables are stale): parse it with Lark instead."""


class Subtree(list):
    """The children of an inlined rule (`_name`): the parent splices them into its own."""

    @classmethod
    def of(cls, children: list) -> Subtree:
        return children if isinstance(children, Subtree) else cls(children)


class Runtime:
    """The lexer and LALR(1) driver over one set of exported tables."""

    def __init__(self, tables: Any):
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
                raise Fallback(position)
            kind, value = found.lastgroup, found.group()
            if kind not in ignore:
                retype = keywords.get(kind)
                yield Token(retype.get(value, kind) if retype else kind, value, position)
            position = found.end()

    def parse(self, tokens: Iterator[Token], builder: Any) -> Any:
        """Run the automaton over `tokens`, building values with `builder`'s rule methods."""
        callbacks = [self._callback(builder, rule) for rule in self.rules]
        state_stack = [self.start_state]
        value_stack: list[Any] = []
        last: Token | None = None
        for token in tokens:
            last = token
            self._feed(token.type, token, state_stack, value_stack, callbacks)
        end = Token("$END", "", last.end_pos if last is not None else 0)
        return self._feed("$END", end, state_stack, value_stack, callbacks)

    def _feed(self, kind: str, token: Token, state_stack: list[int], value_stack: list[Any],
              callbacks: list) -> Any:
        states, rules, end_state = self.states, self.rules, self.end_state
        while True:
            action = states[state_stack[-1]].get(kind)
            if action is None:
                raise Fallback(token.start_pos)
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

    @staticmethod
    def _callback(builder: Any, rule: tuple):
        """Lark's chain for one rule: filter and splice the children, pass a single child through
        a `?rule`, then call the builder's method named after the alias or the rule."""
        _origin, _size, include, expand_single, name = rule
        method = getattr(builder, name, None) or (Subtree.of if name.startswith("_") else None)

        def callback(children: list) -> Any:
            if include is not None:
                # A list built by left recursion (`a: a X | X`) grows in place, as in Lark: copying
                # it at every step would make a chain of n layers cost n squared.
                kept: list | None = None
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
                raise Fallback(f"no builder method for rule {name!r}")
            return method(children)
        return callback


def tables_match(tables: Any, grammar: str) -> bool:
    """Whether `tables` were exported from this grammar text."""
    return tables.GRAMMAR_CRC32 == zlib.crc32(grammar.encode("utf-8"))
