"""Highlighting: the Pygments lexer (cnndsl.highlight, the `pygmentize -l cnndsl` entry point) and the
TextMate grammar for editors (editors/vscode/syntaxes/cnn.tmLanguage.json).

The lexer's word lists are the single list both use; here they are checked against what the
compiler knows (the layer registry, the grammar's keywords, the combinators, the functions), and the
TextMate grammar against the lexer."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest

pygments = pytest.importorskip("pygments")

from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # noqa: E402
from pygments.token import Error, Keyword, Name, Number, Operator  # noqa: E402

from cnndsl import highlight  # noqa: E402
from cnndsl.highlight import CnnLexer  # noqa: E402
from cnndsl.layers import REGISTRY  # noqa: E402
from cnndsl.resolve.frames import COMBINATORS  # noqa: E402
from cnndsl.resolve.functions import FUNCTIONS  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.cnn"))
TEXTMATE = ROOT / "editors" / "vscode" / "syntaxes" / "cnn.tmLanguage.json"
SAMPLE = 'use "lib/resnet.cnn"\nconv1: conv 3x3/2 64 pad (k)x1 -> relu6 # stem\nx = if (min(a, 2) >= 1.5) { bn }\n'


def grammar_keywords() -> set[str]:
    """The keyword terminals of grammars/cnn.lark: lines like `INPUT: "input"`."""
    return set(re.findall(r'^[A-Z]+: "([a-z]+)"$', (ROOT / "grammars" / "cnn.lark").read_text(), re.M))


def test_word_lists_are_what_the_compiler_knows():
    assert set(highlight.KEYWORDS) == grammar_keywords() == {"input", "use", "output", "block", "assert"}
    assert set(highlight.LAYER_KINDS) == set(REGISTRY)
    assert set(highlight.COMBINATORS) == set(COMBINATORS) | {word for words in COMBINATORS.values() for word in words}
    assert set(highlight.FUNCTIONS) == set(FUNCTIONS)


@pytest.mark.parametrize("path", SPECS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_spec_lexes_without_errors(path):
    text = path.read_text()
    tokens = list(CnnLexer().get_tokens(text))
    assert [value for kind, value in tokens if kind in Error] == []
    assert "".join(value for _, value in tokens) == (text if text.endswith("\n") else text + "\n")


def test_tokens_of_a_sample():
    tokens = [(kind, value) for kind, value in CnnLexer().get_tokens(SAMPLE) if value.strip()]
    assert (Keyword.Declaration, "use") in tokens
    assert (Name.Label, "conv1") in tokens
    assert (Name.Builtin, "conv") in tokens and (Name.Builtin, "relu6") in tokens
    assert (Number, "3x3") in tokens and (Number.Integer, "64") in tokens and (Number.Float, "1.5") in tokens
    assert (Operator, "x") in tokens  # the cross of (k)x1
    assert (Operator, "->") in tokens and (Operator, ">=") in tokens
    assert (Keyword, "if") in tokens and (Name.Function, "min") in tokens
    assert (Name, "pad") in tokens and (Name, "x") in tokens  # attributes and tensor names are plain names


def test_pygments_finds_the_lexer_by_name_alias_and_file_name():
    # The docs' fences say ```cnn; Markdown renderers that use Pygments look the fence's word up as an alias.
    fences = {word for doc in (ROOT / "docs").glob("*.md") for word in re.findall(r"^```(\w+)", doc.read_text(), re.M)}
    assert "cnn" in fences
    assert isinstance(get_lexer_by_name("cnn"), CnnLexer) and isinstance(get_lexer_by_name("cnndsl"), CnnLexer)
    assert isinstance(get_lexer_for_filename("resnet18.cnn"), CnnLexer)


def test_pygmentize_uses_the_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "cnndsl", "-f", "raw", str(ROOT / "specs" / "lenet5.cnn")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Token.Name.Builtin\t'conv'" in done.stdout and "Token.Error" not in done.stdout


# --- the TextMate grammar --------------------------------------------------------------------


def textmate() -> dict:
    return json.loads(TEXTMATE.read_text())


def rules(grammar: dict) -> list[dict]:
    """The grammar's match rules in the order TextMate tries them (includes resolved)."""

    def expand(pattern: dict) -> list[dict]:
        if "include" in pattern:
            return expand(grammar["repository"][pattern["include"].removeprefix("#")])
        if "patterns" in pattern:
            return [rule for inner in pattern["patterns"] for rule in expand(inner)]
        return [pattern]

    return [rule for pattern in grammar["patterns"] for rule in expand(pattern)]


def scopes(text: str) -> list[tuple[str, str]]:
    """(scope, text) of each match, line by line as TextMate scans: at each point the rule whose
    match starts first wins, the earlier rule on a tie. (Enough for single-line `match` rules.)"""
    compiled = [(re.compile(rule["match"]), rule["name"]) for rule in rules(textmate())]
    found = []
    for line in text.splitlines():
        position = 0
        while position < len(line):
            matches = [
                (m.start(), order, m, name)
                for order, (rx, name) in enumerate(compiled)
                if (m := rx.search(line, position))
            ]
            matches = [m for m in matches if m[2].end() > m[0]]
            if not matches:
                break
            _, _, match, name = min(matches, key=lambda entry: entry[:2])
            found.append((name, match.group()))
            position = match.end()
    return found


def test_textmate_grammar_is_valid_and_compiles():
    grammar = textmate()
    assert grammar["scopeName"] == "source.cnn" and grammar["fileTypes"] == ["cnn"]
    for rule in rules(grammar):
        assert set(rule) == {"name", "match"} and rule["name"].endswith(".cnn")
        re.compile(rule["match"])


def test_textmate_words_are_the_lexers():
    repository = textmate()["repository"]

    def listed(key: str) -> set[str]:
        alternatives = re.fullmatch(r"\\b\(\?:([a-z0-9_|]+)\)\\b.*", repository[key]["match"])
        assert alternatives, repository[key]["match"]
        return set(alternatives.group(1).split("|"))

    assert listed("keyword") == set(highlight.KEYWORDS)
    assert listed("combinator") == set(highlight.COMBINATORS)
    assert listed("layer-kind") == set(highlight.LAYER_KINDS)
    assert listed("function") == set(highlight.FUNCTIONS)


def test_textmate_scopes_of_a_sample():
    found = scopes(SAMPLE)
    for expected in [
        ("keyword.other.declaration.cnn", "use"),
        ("string.quoted.double.cnn", '"lib/resnet.cnn"'),
        ("entity.name.label.cnn", "conv1"),
        ("support.type.layer.cnn", "conv"),
        ("support.type.layer.cnn", "relu6"),
        ("constant.numeric.shape.cnn", "3x3"),
        ("keyword.operator.cross.cnn", "x"),
        ("keyword.operator.arrow.cnn", "->"),
        ("comment.line.number-sign.cnn", "# stem"),
        ("keyword.control.cnn", "if"),
        ("support.function.builtin.cnn", "min"),
        ("constant.numeric.float.cnn", "1.5"),
    ]:
        assert expected in found
    assert ("support.type.layer.cnn", "relu") not in found  # relu6 is one word


@pytest.mark.parametrize("path", SPECS[:: max(1, len(SPECS) // 8)], ids=lambda path: path.name)
def test_textmate_scopes_every_character_of_a_spec_but_names_and_spaces(path):
    text = path.read_text()
    scoped = "".join(value for _, value in scopes(text))
    left = re.sub(r"[A-Za-z0-9_\s]", "", text)
    assert re.sub(r"[A-Za-z0-9_\s]", "", scoped) == left
