"""The exported LALR(1) tables (cnndsl/syntax/tables.py) parse exactly as Lark itself does.

cnndsl parses with its own runtime over the tables Lark computed. These tests hold it to Lark's
own parser over the same grammar: the same syntax tree, spans included, for every spec and for
generated and mutated programs; and for every input Lark rejects, a failure at the same place
with the same expected and accepted terminals (what the syntax diagnostics are made of).
"""

from __future__ import annotations

import pathlib
import random
import re
import subprocess
import sys

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark.exceptions import UnexpectedInput

from cnndsl.source import Source
from cnndsl.syntax import automaton, lalr, parser, wording
from cnndsl.syntax import tables as lalr_tables
from cnndsl.syntax.builder import LiteralTooLarge, TreeBuilder
from cnndsl.syntax.export import export, lark_parser
from cnndsl.syntax.grammar import grammar_text
from cnndsl.syntax.lines import LineJoiner

from .test_robustness import GRAMMAR_STRATEGIES

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = sorted(
    p
    for pattern in ("specs/**/*.cnn", "tests/bad/*.cnn", "benchmarks/specs/*.cnn")
    for p in ROOT.glob(pattern)
    if p.is_file()
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


RUNTIME = lalr.Runtime(lalr_tables)
REFERENCE = lark_parser(grammar_text())


def fast_outcome(text: str):
    try:
        return "tree", RUNTIME.parse(LineJoiner().process(RUNTIME.tokens(text)), TreeBuilder())
    except lalr.SyntaxFailure as failure:
        token = failure.token
        where = (token.type, str(token), token.start_pos) if token is not None else None
        return "rejected", (failure.position, where, sorted(failure.expected), sorted(failure.accepts))
    except LiteralTooLarge as failure:
        return "too large", str(failure)


def lark_outcome(text: str):
    try:
        return "tree", REFERENCE.parse(text)
    except UnexpectedInput as failure:
        token = getattr(failure, "token", None)
        if token is None:
            return "rejected", (failure.pos_in_stream, None, [], [])
        return "rejected", (
            failure.pos_in_stream,
            (token.type, str(token), token.start_pos),
            sorted(failure.expected),
            sorted(failure.accepts or ()),
        )
    except LiteralTooLarge as failure:
        return "too large", str(failure)


def typed(value):
    """A tree with every node's type spelled out: syntax nodes are named tuples, and two of
    different types with the same fields would otherwise compare equal."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *map(typed, value))
    return type(value).__name__, value


def assert_same(text: str) -> str:
    fast, slow = fast_outcome(text), lark_outcome(text)
    assert typed(fast) == typed(slow), f"the exported tables and Lark disagree on {text!r}"
    return fast[0]


def test_tables_are_exported_from_this_grammar():
    assert lalr.tables_match(lalr_tables, grammar_text()), (
        "grammars/cnn.lark changed since the tables were exported: run `python -m cnndsl.syntax.export`"
    )


def test_export_is_reproducible():
    recorded = re.search(r"exported from Lark (\S+)\.", lalr_tables.__doc__).group(1)
    if recorded != lark.__version__:
        pytest.skip(f"tables exported with Lark {recorded}, Lark {lark.__version__} is installed")
    written = pathlib.Path(lalr_tables.__file__).read_text(encoding="utf-8")
    assert export(REFERENCE, grammar_text()) == written


@pytest.mark.parametrize("path", CORPUS, ids=[str(p.relative_to(ROOT)) for p in CORPUS])
def test_every_spec_parses_the_same(path):
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        pytest.skip("not UTF-8: the reader refuses it before parsing")
    assert_same(text)


def test_the_library_takes_the_fast_path():
    specs = [p for p in CORPUS if "specs" in p.parts]
    assert specs and all(fast_outcome(p.read_text(encoding="utf-8"))[0] == "tree" for p in specs)


@SETTINGS
@given(from_lark(lark.Lark(grammar_text(), parser="lalr", lexer="basic"), explicit=GRAMMAR_STRATEGIES))
def test_generated_programs_parse_the_same(text):
    assert_same(text)


PIECES = [
    "conv",
    "relu",
    "x",
    "input",
    "block",
    "use",
    "output",
    "3x3",
    "64",
    "0.5",
    "1e-5",
    "->",
    "=",
    ":",
    ",",
    "/",
    "*",
    "+",
    "-",
    "?",
    "==",
    "<",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\n",
    ";",
    " ",
    "# note\n",
    '"lib.cnn"',
    "é",
    "\t",
    "\\\n",
    "99999999999999999999999",
]


@SETTINGS
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_token_soup_parses_the_same(pieces):
    assert_same(" ".join(pieces))


@pytest.mark.parametrize("seed", range(20))
def test_mutated_specs_parse_the_same(seed):
    chance = random.Random(seed)
    specs = [p for p in CORPUS if "specs" in p.parts]
    text = chance.choice(specs).read_text(encoding="utf-8")
    outcomes = set()
    for _ in range(25):
        start = chance.randrange(len(text))
        stop = start + chance.randrange(1, 4)
        mutated = text[:start] + chance.choice(["", " ", "(", "}", "->", "\n", text[start:stop] * 2]) + text[stop:]
        outcomes.add(assert_same(mutated))
    assert outcomes  # each seed exercises some mixture of accepted and rejected texts


def test_stale_tables_are_computed_again_by_lark(monkeypatch):
    monkeypatch.setattr(lalr_tables, "GRAMMAR_CRC32", lalr_tables.GRAMMAR_CRC32 ^ 1)
    automaton.runtime.cache_clear()
    try:
        assert automaton.runtime().states == lalr_tables.STATES
        module = parser.parse(Source("t.cnn", "input 3x8x8\nconv 3x3 4 -> relu\n"))
        assert len(module.statements) == 2
    finally:
        monkeypatch.undo()
        automaton.runtime.cache_clear()


def test_every_terminal_has_a_description_for_diagnostics():
    terminals = {name for name, _ in lalr_tables.TERMINALS} - set(lalr_tables.IGNORE)
    terminals |= {keyword for table in lalr_tables.KEYWORDS.values() for keyword in table.values()}
    assert terminals | {"$END"} <= set(wording.TOKEN_DESCRIPTIONS)


def test_the_wording_tables_name_only_terminals_of_the_grammar():
    terminals = {name for name, _ in lalr_tables.TERMINALS} - set(lalr_tables.IGNORE)
    terminals |= {keyword for table in lalr_tables.KEYWORDS.values() for keyword in table.values()}
    named = set(wording.TOKEN_DESCRIPTIONS) | set(wording.CLOSER_OF.values()) | set(wording.CLOSER_OF)
    named |= wording.OPERAND_AFTER | wording.STATEMENT_ENDS | wording.MINOR
    for family in wording.FAMILIES:
        named |= family.members
    for row in wording.EXPECTED + wording.TOKEN_HELP:
        for condition in (
            row.found,
            row.accepting,
            row.accepting_only,
            row.accepting_exactly,
            row.after,
            row.statement,
        ):
            named |= condition or set()
    assert named - {wording.START} <= terminals | {"$END"}


def test_checking_a_valid_spec_never_imports_lark():
    code = (
        "import sys, cnndsl; cnndsl.check_file(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'regex')))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "specs" / "resnet152.cnn")], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert shown == "[]"


def test_a_syntax_error_is_reported_without_lark():
    code = (
        "import sys, cnndsl\ntry:\n    cnndsl.check_text('input 3x8x8\\nconv 3x3 -> -> relu\\n')\n"
        "except cnndsl.CnnError as failure:\n    print(failure.diagnostics[0].code, failure.diagnostics[0].message)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lark'))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines() == ["E101 unexpected '->': expected a layer after '->'", "[]"]
