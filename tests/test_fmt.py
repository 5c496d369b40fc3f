"""`cnndsl fmt` (docs/format.md): one layout, idempotent, every comment kept, the same model after.

Over every spec in specs/, the ```cnn examples of docs/language.md that parse, random architectures
(tests/differential.py) with comments added and specs generated from the grammar
(tests/test_robustness.py's strategies), at several line lengths; then the command line.
"""

from __future__ import annotations

import io
import json
import pathlib
import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from cnndsl import CnnError, check_text
from cnndsl.cli import main
from cnndsl.summary import summary_dict
from cnndsl.syntax.format import DEFAULT_LINE_LENGTH, configured_line_length, format_text
from cnndsl.syntax.grammar import grammar_text
from tests.differential import random_spec
from tests.test_robustness import GRAMMAR_STRATEGIES

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "lib").glob("*.cnn"))
CNN_FENCE = re.compile(r"^```cnn\n(.*?)^```\n", re.M | re.S)
COMMENT = re.compile(r"#[^\n]*")


def comments(text: str) -> list[str]:
    """The comments of a spec, in order, as the formatter must keep them (trailing spaces aside).
    The specs here have no '#' inside a file name, so a regular expression finds them all."""
    return [found.group().rstrip() for found in COMMENT.finditer(text)]


def summary(text: str, path: str) -> dict[str, Any]:
    """`cnndsl summary --format json` of a spec, warnings without their places (lines move)."""
    model = check_text(text, path)
    data = summary_dict(model, diagnostics=model.warnings)
    data["diagnostics"] = [(d["code"], d["message"]) for d in data["diagnostics"]]
    return without_lines(data)


def without_lines(data: dict[str, Any]) -> dict[str, Any]:
    """A model's data without the line each layer is written on, which moves with the layout."""
    for layer in data["layers"]:
        layer.pop("line", None)
    return data


def assert_formats_well(text: str, path: str = "<text>", line_length: int = DEFAULT_LINE_LENGTH) -> str:
    formatted = format_text(text, path, line_length)
    assert format_text(formatted, path, line_length) == formatted, "formatting a formatted spec changed it"
    assert comments(formatted) == comments(text)
    return formatted


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: str(path.relative_to(ROOT / "specs")))
def test_every_spec_formats_to_the_same_model(spec):
    text = spec.read_text()
    formatted = assert_formats_well(text, str(spec))
    if spec.parent.name != "lib":  # a library is checked through the specs that use it
        assert summary(formatted, str(spec)) == summary(text, str(spec))
    for line in formatted.splitlines():  # a line too long has no '->' to break before (but at its start)
        assert len(line) <= DEFAULT_LINE_LENGTH or "#" in line or "->" not in line.strip()[2:], line


def docs_examples() -> list[str]:
    found = []
    for text in CNN_FENCE.findall((ROOT / "docs" / "language.md").read_text()):
        try:
            format_text(text)
        except CnnError:
            continue  # an example of a mistake
        found.append(text)
    return found


def test_the_docs_examples_format_to_the_same_model():
    examples = docs_examples()
    assert len(examples) > 20
    for text in examples:
        formatted = assert_formats_well(text)
        try:
            before = summary(text, "example.cnn")
        except CnnError:
            continue  # parses but does not check (a fragment, or an error shown on purpose)
        assert summary(formatted, "example.cnn") == before


def with_comments(text: str, rng: random.Random) -> str:
    """`text` with comments after some lines and on lines of their own before others."""
    lines = []
    for number, line in enumerate(text.splitlines()):
        if rng.random() < 0.3:
            lines.append(f"{' ' * rng.randint(0, 6)}# before {number}")
        lines.append(line + (f"   # after {number}" if rng.random() < 0.3 else ""))
    return "\n".join(lines) + "\n"


def test_random_architectures_with_comments_format_to_the_same_model():
    rng = random.Random(14)
    for case in range(300):
        text = with_comments(random_spec(rng), rng)
        for line_length in (12, 30, 60):
            assert_formats_well(text, line_length=line_length)
        formatted = assert_formats_well(text)
        assert without_lines(check_text(formatted).to_dict()) == without_lines(check_text(text).to_dict()), case


@pytest.fixture(scope="module")
def grammar() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic")


@seed(14)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), line_length=st.sampled_from([1, 16, 40, DEFAULT_LINE_LENGTH]))
def test_specs_generated_from_the_grammar_format_idempotently(grammar, data, line_length):
    text = data.draw(from_lark(grammar, explicit=GRAMMAR_STRATEGIES))
    # format_text also checks that the parser sees the same tokens: a change of meaning would raise
    assert_formats_well(text, line_length=line_length)


def test_a_long_chain_breaks_before_arrows_and_a_long_body_opens():
    chain = "input 3x32x32\n" + " -> ".join(["conv 3x3 8 pad 1 -> relu"] * 4) + "\n"
    assert format_text(chain, line_length=40) == (
        "input 3x32x32\n"
        "conv 3x3 8 pad 1 -> relu\n"
        "    -> conv 3x3 8 pad 1 -> relu\n"
        "    -> conv 3x3 8 pad 1 -> relu\n"
        "    -> conv 3x3 8 pad 1 -> relu\n"
    )
    body = "input 3x8x8\nresidual { conv 3x3 3 pad 1 -> bn -> relu }\n"
    assert format_text(body, line_length=36) == "input 3x8x8\nresidual {\n    conv 3x3 3 pad 1 -> bn -> relu\n}\n"


def test_spacing_separators_blank_lines_and_comments():
    messy = (
        "\n\n# top\ninput   3x8x8;block  b(c,k = 3) {conv k/1 c pad ((k-1)/2)\n\n\n  -> relu   # r\n}\n"
        "t =  b 4 k 1->pool 2/2  # cnndsl: ignore[W101]\n\n\n\nb (t.c*2)\n"
    )
    assert format_text(messy) == (
        "# top\ninput 3x8x8\nblock b(c, k=3) {\n    conv k/1 c pad ((k - 1) / 2)\n\n        -> relu  # r\n}\n"
        "t = b 4 k 1 -> pool 2/2  # cnndsl: ignore[W101]\n\nb (t.c * 2)\n"
    )


def test_a_suppression_comment_keeps_its_line_whole():
    text = "input 3x8x8\nconv 3x3 4 -> relu; conv 3x3 4 -> relu -> relu -> relu  # cnndsl: ignore[W101]\n"
    assert format_text(text, line_length=20) == text


def test_fmt_off_keeps_a_table_aligned_by_hand():
    table = "    # fmt: off\n    #  k  c\n    b  3  16\n    b  5  160\n    # fmt: on\n"
    text = "input 3x8x8\nblock b(k, c) { conv k c }\nseq {\n" + table + "    b   3   8;b 1 1\n}\n"
    formatted = format_text(text)
    assert formatted == "input 3x8x8\nblock b(k, c) { conv k c }\nseq {\n" + table + "    b 3 8\n    b 1 1\n}\n"
    assert format_text(formatted) == formatted
    # without `# fmt: on` the rest of the file is kept as written
    assert format_text(text.replace("    # fmt: on\n", "")) == text.replace("    # fmt: on\n", "")


def test_the_efficientnet_library_keeps_its_stage_table():
    text = (ROOT / "specs" / "lib" / "efficientnet.cnn").read_text()
    assert "        stage   5 6     112 3 1      width depth eps\n" in format_text(text)


def test_syntax_errors_are_refused_with_the_parser_diagnostic():
    with pytest.raises(CnnError) as raised:
        format_text("input 3x8x8\nconv 3x3 ->\n", "bad.cnn")
    assert raised.value.diagnostics[0].code == "E103"


# --- the command line ----------------------------------------------------------------------------

UGLY = "input 3x8x8;conv 3x3 4   -> relu # kept\n"
PRETTY = "input 3x8x8\nconv 3x3 4 -> relu  # kept\n"


@pytest.fixture
def ugly(tmp_path):
    path = tmp_path / "ugly.cnn"
    path.write_text(UGLY)
    return path


def test_fmt_rewrites_in_place_and_counts(ugly, tmp_path, capsys):
    (tmp_path / "pretty.cnn").write_text(PRETTY)
    assert main(["fmt", str(ugly), str(tmp_path / "pretty.cnn")]) == 0
    assert ugly.read_text() == PRETTY
    assert "1 file reformatted, 1 file left unchanged" in capsys.readouterr().err
    assert main(["fmt", str(tmp_path)]) == 0  # a directory: its .cnn specs
    assert "0 files reformatted, 2 files left unchanged" in capsys.readouterr().err


def test_check_lists_what_would_change_and_writes_nothing(ugly, capsys):
    assert main(["fmt", "--check", str(ugly)]) == 1
    err = capsys.readouterr().err
    assert f"would reformat: {ugly}" in err and "1 file would be reformatted" in err
    assert ugly.read_text() == UGLY
    ugly.write_text(PRETTY)
    assert main(["fmt", "--check", str(ugly)]) == 0


def test_diff_prints_a_unified_diff(ugly, capsys):
    assert main(["fmt", "--diff", str(ugly)]) == 1
    out = capsys.readouterr().out
    assert f"--- {ugly}\t(original)" in out
    assert "-input 3x8x8;conv 3x3 4   -> relu # kept\n+input 3x8x8\n+conv 3x3 4 -> relu  # kept\n" in out
    assert ugly.read_text() == UGLY


def test_dash_formats_standard_input_to_standard_output(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(UGLY.encode())))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr() == (PRETTY, "")  # a filter: the text and nothing else


def test_a_syntax_error_is_shown_and_the_file_left_alone(tmp_path, capsys):
    bad = tmp_path / "bad.cnn"
    bad.write_text("input 3x8x8\nconv 3x3 4 ->   # unfinished\n")
    assert main(["fmt", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "error[E103]" in err and "1 file could not be formatted" in err
    assert bad.read_text() == "input 3x8x8\nconv 3x3 4 ->   # unfinished\n"
    bad.write_text("input 3x8x8\nconv 3x3 4 4 4 )\n")
    assert main(["fmt", str(bad)]) == 1
    assert "error[E101]" in capsys.readouterr().err


def test_an_unreadable_file_is_a_diagnostic(tmp_path, capsys):
    assert main(["fmt", str(tmp_path / "missing.cnn")]) == 1
    assert "error[E105]: cannot read" in capsys.readouterr().err


def test_json_output(ugly, capsys):
    assert main(["fmt", "--check", "--format", "json", str(ugly)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result == {"files": [{"path": str(ugly), "changed": True, "diagnostics": []}], "written": False}


def test_line_length_comes_from_pyproject_and_the_option(tmp_path, capsys):
    spec = tmp_path / "long.cnn"
    spec.write_text("input 3x8x8\nconv 3x3 4 pad 1 -> relu -> conv 3x3 4 pad 1 -> relu\n")
    (tmp_path / "pyproject.toml").write_text("[tool.cnndsl]\nline-length = 32\n")
    assert configured_line_length(spec) == 32
    assert main(["fmt", "--check", str(spec)]) == 1  # too long for 32
    assert main(["fmt", "--check", "--line-length", "100", str(spec)]) == 0
    assert main(["fmt", str(spec)]) == 0
    assert spec.read_text() == "input 3x8x8\nconv 3x3 4 pad 1 -> relu\n    -> conv 3x3 4 pad 1 -> relu\n"


@pytest.mark.parametrize("value", ["0", "-3", '"wide"', "true", "1.5"])
def test_a_bad_line_length_is_a_usage_error(tmp_path, capsys, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.cnndsl]\nline-length = {value}\n")
    (tmp_path / "a.cnn").write_text(PRETTY)
    assert main(["fmt", str(tmp_path / "a.cnn")]) == 2
    assert "line-length must be a positive whole number" in capsys.readouterr().err
