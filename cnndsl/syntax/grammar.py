"""Where the grammar (grammars/cnn.lark) is, and its text.

The grammar is the source of truth for the language: the exported tables carry a CRC of this text,
so `automaton` can tell when they are stale, and `export` computes them from it. This module
depends on nothing else in `cnndsl.syntax`, so both can import it.
"""

from __future__ import annotations

import importlib
import os

GRAMMAR_FILE = "cnn.lark"


def grammar_path() -> str:
    """grammars/cnn.lark: installed, it is the package `cnndsl.grammars` (pyproject.toml maps the
    top-level folder there); in a source checkout run without installing, it sits beside `cnndsl/`."""
    try:
        grammars = importlib.import_module("cnndsl.grammars")
    except ImportError:
        grammars = None
    if grammars is None or grammars.__file__ is None:
        checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return os.path.join(checkout, "grammars", GRAMMAR_FILE)
    return os.path.join(os.path.dirname(grammars.__file__), GRAMMAR_FILE)


def grammar_text() -> str:
    """The grammar as Lark reads it (and as its CRC in the exported tables was computed)."""
    with open(grammar_path(), encoding="utf-8") as grammar:
        return grammar.read()
