"""E102 in the user's words: a character that no terminal matches, and FOREIGN DIGIT (see `wording`).

Also `fill`, which puts values into the message templates here and in `wording`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

from ..diagnostics import Diagnostic, Label, error
from ..source import Source, Span


class CharacterHelp(NamedTuple):
    """One row of CHARACTER_HELP: `text` helps where `matches` the character no terminal matches."""

    matches: Callable[[str], bool]
    text: str


BIDIRECTIONAL_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def is_non_ascii(char: str) -> bool:
    return not char.isascii()


# The help line of E102: the first row that matches.
CHARACTER_HELP: tuple[CharacterHelp, ...] = (
    # A digit of another script that FOREIGN DIGIT did not reach (it skips from a '#' on, even in a string).
    CharacterHelp(str.isdigit, "only the ASCII digits 0-9 are allowed in numbers"),
    CharacterHelp(
        BIDIRECTIONAL_CONTROLS.__contains__,
        "bidirectional control characters can make code display differently from how it reads; remove it",
    ),
    CharacterHelp("'".__eq__, "file names in 'use' take double quotes: use \"blocks.cnn\""),
    # C's bitwise operators: the language has logical ones only, which read as C's do.
    CharacterHelp("&".__eq__, "'and' is written '&&', inside parentheses: (a > 1 && b > 1)"),
    CharacterHelp("|".__eq__, "'or' is written '||', inside parentheses: (a == 1 || b == 1)"),
    CharacterHelp(is_non_ascii, "names and numbers are ASCII; non-ASCII text is allowed in comments only"),
)

UNEXPECTED_CHARACTER = "unexpected character $shown"  # E102
FOREIGN_DIGIT = "'$digit' ($name, $codepoint) is not an ASCII digit"  # E102
FOREIGN_DIGIT_HELP = "numbers use the digits 0-9 only: write $value"


def unexpected_character(source: Source, position: int) -> Diagnostic:
    """E102 where no terminal matches the character at `position`."""
    char = source.text[position] if position < len(source.text) else ""
    shown = repr(char) if char.isprintable() and char.isascii() else f"{char!r} (U+{ord(char):04X})"
    help_line = next((row.text for row in CHARACTER_HELP if row.matches(char)), None)
    return error(
        "E102", fill(UNEXPECTED_CHARACTER, shown=shown), Label(source, Span(position, position + 1)), help=help_line
    )


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def foreign_digit(source: Source, position: int) -> Diagnostic | None:
    """FOREIGN DIGIT: E102 at the first non-ASCII digit in code (not in a comment) from the start
    of the file to the end of the line where the parser stopped, if there is one."""
    text = source.text
    line_end = text.find("\n", position)
    line_end = len(text) if line_end < 0 else line_end
    start = 0
    while start < line_end:
        stop = text.find("\n", start)
        stop = line_end if stop < 0 or stop > line_end else stop
        code = text[start:stop].split("#", 1)[0]
        for found in _NON_ASCII.finditer(code):
            char = found.group()
            value = unicodedata.digit(char, None)
            if value is not None:
                codepoint = f"U+{ord(char):04X}"
                column = start + found.start()
                return error(
                    "E102",
                    fill(
                        FOREIGN_DIGIT, digit=char, name=unicodedata.name(char, codepoint).lower(), codepoint=codepoint
                    ),
                    Label(source, Span(column, column + 1)),
                    help=fill(FOREIGN_DIGIT_HELP, value=value),
                )
        start = stop + 1
    return None


def fill(template: str, **values: object) -> str:
    """A message template with its `$names` filled in (string.Template would cost a module import
    more than every message takes to word)."""
    return _PLACEHOLDER.sub(lambda found: str(values[found.group(1)]), template)


_PLACEHOLDER = re.compile(r"\$(\w+)")
