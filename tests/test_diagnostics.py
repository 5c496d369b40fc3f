"""Every diagnostic code: a failing spec in tests/bad/, its location, its rendering, its docs.

A spec in tests/bad/ is named CODE_slug.cnn and states on its first line where the diagnostic
must point: `# expect: E401 at 4:50` (line:column, 1-based). A file that cannot hold a comment
(the empty file) is expected at 1:1; a path that is not a file (a directory) has no location.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.codes import CODES
from cnndsl.diagnostics import Severity, render_json, render_text, to_json
from cnndsl.reader import source_from_bytes
from cnndsl.resolve import Limits  # by this name ruff knows it is immutable, a safe default argument
from cnndsl.rules import ALL_RULES

ROOT = pathlib.Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "bad"
DOCS = ROOT / "docs" / "diagnostics.md"
EXPECT = re.compile(rb"^# expect: ([EW]\d{3}) at (\d+):(\d+)")
BAD_SPECS = sorted(BAD.glob("*.cnn"))
# E5xx codes belong to ONNX emission and runtime and are tested with them.
CHECKED_CODES = sorted(code for code in CODES if code[0] == "W" or code[1] in "1234")


def diagnostics_of(path: pathlib.Path, limits: Limits = Limits()):
    try:
        return cnndsl.check_file(path, limits, rules=ALL_RULES).warnings  # opt-in W103 too
    except CnnError as failure:
        return failure.diagnostics


def expectation(path: pathlib.Path) -> tuple[str, tuple[int, int] | None]:
    code = path.name[:4]
    if path.is_dir():
        return code, None
    match = EXPECT.match(path.read_bytes())
    if match is None:
        assert path.stat().st_size == 0, f"{path.name}: first line must be '# expect: CODE at LINE:COL'"
        return code, (1, 1)
    assert match.group(1).decode() == code, f"{path.name}: file name and expectation disagree"
    return code, (int(match.group(2)), int(match.group(3)))


def test_every_code_has_a_failing_spec():
    covered = {path.name[:4] for path in BAD_SPECS}
    assert not set(CHECKED_CODES) - covered, (
        f"codes without a spec in tests/bad: {sorted(set(CHECKED_CODES) - covered)}"
    )


def test_bad_specs_use_registered_codes():
    assert {path.name[:4] for path in BAD_SPECS} <= set(CODES)


@pytest.mark.parametrize("path", BAD_SPECS, ids=lambda p: p.stem)
def test_bad_spec_reports_its_code_at_its_location(path):
    code, where = expectation(path)
    found = diagnostics_of(path)
    located = [(d.code, d.location()[1:] if d.location() else None) for d in found]
    assert (code, where) in located, f"{path.name}: expected {code} at {where}, got {located}"
    diagnostic = next(d for d in found if d.code == code)
    assert diagnostic.severity is (Severity.WARNING if code.startswith("W") else Severity.ERROR)
    text = render_text(diagnostic)
    kind = "warning" if code.startswith("W") else "error"
    if where is None:
        assert text.startswith(f"{kind}[{code}]: ")
        return
    line, column = where
    lines = text.splitlines()
    assert lines[0].startswith(f"{path}:{line}:{column}: {kind}[{code}]: "), lines[0]
    # The source line, then a caret under the column (rustc style).
    gutter = f"{line} | "
    assert lines[2].startswith(gutter)
    caret = lines[3]
    shown = lines[2][len(gutter) :]
    caret_at = caret.index("^") - len(gutter)
    if "..." not in (shown[:3], shown[-3:]):  # a long line is shown as a window around the span
        source_line = path.read_bytes().decode("utf-8", "replace").split("\n")[line - 1].rstrip("\r")
        assert len(shown) == len(source_line)  # one cell per character: tabs and controls included
        assert caret_at == column - 1, text


def test_bad_spec_fails_the_check_and_warning_specs_pass():
    for path in BAD_SPECS:
        code, _ = expectation(path)
        if code.startswith("E"):
            with pytest.raises(CnnError):
                cnndsl.check_file(path)
        else:
            assert any(w.code == code for w in cnndsl.check_file(path, rules=ALL_RULES).warnings)


# --- what the messages say --------------------------------------------------------------------


def render_first(path: pathlib.Path, code: str | None = None) -> str:
    code = code or path.name[:4]
    return render_text(next(d for d in diagnostics_of(path) if d.code == code))


def test_e401_shows_the_formula_with_numbers_and_the_incoming_shape():
    text = render_first(BAD / "E401_kernel_too_large.cnn")
    assert "floor((4 + 0 + 0 - (5-1) - 1) / 1) + 1 = 0" in text
    assert "input is 16x4x4, from 'maxpool2'" in text
    assert "= help:" in text


def test_e201_and_e202_suggest_a_near_name():
    assert "did you mean 'relu'?" in render_first(BAD / "E201_unknown_layer.cnn")
    assert "did you mean 'pad'?" in render_first(BAD / "E202_unknown_attribute.cnn")


def test_e202_without_near_name_lists_only_real_attributes():
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text("input 3x32x32\nconv 3x3 8 width 2\n")
    text = render_text(failure.value.diagnostics[0])
    assert "accepts:" in text and "pad" in text and "activation_value" not in text


def test_e402_suggests_flatten():
    text = render_first(BAD / "E402_fc_without_flatten.cnn")
    assert "flatten" in text.split("= help:")[1]
    assert "7,200 features" in text


def test_one_mistake_one_diagnostic():
    """A rejected value is not reported a second time as a missing argument."""
    found = diagnostics_of(BAD / "E302_zero_stride.cnn")
    assert [d.code for d in found] == ["E302"]


@pytest.mark.parametrize(
    "text",
    [
        "input 3x32x32\nconv 3x3 8 -> -> relu\n",
        "input 3x32x32\nconv 3x3 8 ->\n",
        "input 3x32x32\nconv 3x3: 8\n",
        "input 3x32x32\nconv 3x3 (8\n",
        "input 3x32x32\nconv 3x3 (8 +)\n",
        "input 3x32x32\nresidual { conv 3x3 8\n",
        "input 3x32x32\nrelu)\n",
        "input 3x32x32\nx = = relu\n",
        "input\n",
        "input 3x32x32\n-> relu\n",
        "input 3x32x32\noutput\n",
        "input 3x32x32\nblock { relu }\n",
        "input 3x32x32\nconv 3x3 [1 2\n",
        "input 3x32x32\n}\n",
        "input 3x32x32\nconv 3x3 8 ;\n-> relu\n",
        "input 3x32x32\nblock b(c,) { relu }\n",
        "input 3x32x32\nuse blocks.cnn\n",
        "input 3x32x32\nrelu :\n",
        "input 3x32x32\nblock # comment\n{ relu }\n",
        "input 3x32x32\nconv 3x3 [-\n",
        "input 3x32x32\nrelu;\n-> tanh\n",
    ],
)
def test_syntax_errors_speak_the_users_words(text):
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code in ("E101", "E102", "E103")
    rendered = render_text(diagnostic)
    assert not re.search(r"__ANON|\$END|_NL\b|\bNAME\b|\bINT\b|\bDIMS\b|LPAR|RPAR|LSQB|ARROW|Token\(", rendered), (
        rendered
    )
    assert diagnostic.location() is not None


def test_layer_expected_after_arrow():
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text("input 3x32x32\nconv 3x3 8 -> -> relu\n")
    assert "expected a layer after '->'" in failure.value.diagnostics[0].message
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text("input 3x32x32\nconv 3x3 8 ->\n\n# the end\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E103" and "expected a layer after '->'" in diagnostic.message
    assert diagnostic.location()[1:] == (2, 14)  # just after the '->', not in the comment


@pytest.mark.parametrize("text", ["-> relu\n", "# a comment only\n\n-> relu\n"])
def test_a_chain_that_starts_with_an_arrow_is_explained(text):
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E101"
    assert diagnostic.help == "a chain starts with a layer; '->' joins two layers"


def test_unclosed_bracket_is_pointed_at():
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text("input 3x32x32\nresidual {\n  conv 3x3 8\n")
    text = render_text(failure.value.diagnostics[0])
    assert "this '{' is never closed" in text and "<text>:2:10" in text


def test_stray_closing_bracket_is_named():
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text("input 3x32x32\nconv 3x3 8 -> relu }\n")
    assert "no matching opening bracket" in failure.value.diagnostics[0].help


# --- encoding and lexical abuse ---------------------------------------------------------------


def check_bytes(data: bytes):
    try:
        source = source_from_bytes("spec.cnn", data)
        return cnndsl.check_source(source)
    except CnnError as failure:
        return failure.diagnostics


def only(diagnostics, code):
    assert isinstance(diagnostics, list), diagnostics
    assert [d.code for d in diagnostics] == [code], [(d.code, d.message) for d in diagnostics]
    return diagnostics[0]


def test_invalid_utf8_is_e104_at_the_byte():
    diagnostic = only(check_bytes(b"input 3x32x32\nconv \xc3\x28 3x3 8\n"), "E104")
    assert diagnostic.location()[1:] == (2, 6)
    assert "0xc3" in diagnostic.message
    # The line is still shown, with a replacement character for the bad byte.
    assert "conv \N{REPLACEMENT CHARACTER}" in render_text(diagnostic)


def test_truncated_utf8_sequence_at_end_of_file():
    only(check_bytes(b"input 3x32x32\nrelu \xe2\x82"), "E104")


def test_byte_order_mark_is_accepted():
    model = check_bytes(b"\xef\xbb\xbfinput 3x32x32\nconv 3x3 8\n")
    assert model.total_params == 224
    assert model.layers[0].source.line_col(model.layers[0].span.start) == (2, 1)


def test_utf16_is_not_taken_for_a_spec():
    only(check_bytes("input 3x32x32\n".encode("utf-16")), "E104")


def test_nul_byte_is_e104():
    diagnostic = only(check_bytes(b"input 3x32x32\nconv\x00 3x3 8\n"), "E104")
    assert diagnostic.location()[1:] == (2, 5) and "NUL" in diagnostic.message


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\u061c"])
def test_bidirectional_controls_are_e104(char):
    diagnostic = only(check_bytes(f"input 3x32x32\n# comment {char} too\nrelu\n".encode()), "E104")
    assert f"U+{ord(char):04X}" in diagnostic.message and diagnostic.location()[1:] == (2, 11)


@pytest.mark.parametrize(
    "digit, value", [("\u0663", 3), ("\u06f4", 4), ("\u0968", 2), ("\uff15", 5), ("\U0001d7d7", 9)]
)
@pytest.mark.parametrize("template, column", [("conv 3x3 {}\n", 10), ("conv 3x3 1{}\n", 11), ("input 1x2x{}\n", 11)])
def test_non_ascii_digits_are_located_e102(digit, value, template, column):
    text = "input 3x32x32\n" + template.format(digit)
    if text.count("input") == 2:
        text = template.format(digit) + "relu\n"
    diagnostic = only(check_bytes(text.encode()), "E102")
    line = 2 if text.startswith("input 3x32x32") else 1
    assert diagnostic.location()[1:] == (line, column)
    assert "not an ASCII digit" in diagnostic.message and f"write {value}" in diagnostic.help


def test_non_ascii_digits_in_comments_are_fine():
    assert check_bytes("input 3x32x32  # \u0663\u0662\nrelu\n".encode()).total_params == 0


@pytest.mark.parametrize("digits", [20, 4299, 4301, 50_000])
@pytest.mark.parametrize(
    "template",
    [
        "input 3x32x32\nconv 3x3 {}\n",
        "input 3x{}\nrelu\n",
        "input 3x32x32\nconv 3x3 8 -> dropout 0.{}\n",
        "input 3x32x32\nconv 3x3 8 -> dropout {}.5\n",
        "input 3x32x32\nconv 3x3 ({} * 2)\n",
        "input 3x32x32\nconv [{} 1] 8\n",
    ],
)
def test_numbers_with_thousands_of_digits_are_e303(digits, template):
    text = template.format("9" * digits)
    result = check_bytes(text.encode())
    if "dropout 0." in text:
        assert isinstance(result, list) and result[0].code == "E302"  # 0.999... rounds to 1.0: out of [0, 1)
        return
    diagnostic = only(result, "E303")
    assert diagnostic.location() is not None
    assert len(render_text(diagnostic)) < 2_000  # a long line is shown as a window


def test_leading_zeros_are_not_too_large():
    assert check_bytes(("input 3x32x32\nconv 3x3 " + "0" * 100 + "8\n").encode()).total_params == 224


def test_huge_exponent_is_e303():
    only(check_bytes(b"input 3x32x32\nconv 3x3 8 -> dropout 1e999999\n"), "E303")


def test_tabs_count_as_one_column_and_the_caret_lines_up():
    diagnostic = only(check_bytes(b"input 3x32x32\n\tconv 3x3 8 ->\tfoo\n"), "E201")
    assert diagnostic.location()[1:] == (2, 16)
    lines = render_text(diagnostic).splitlines()
    assert lines[2] == "2 |  conv 3x3 8 -> foo"
    assert lines[3].index("^") == lines[2].index("foo")


def test_carriage_returns_are_line_breaks_too():
    diagnostic = only(check_bytes(b"input 3x32x32\r\nconv 3x3 8 -> rleu\r\n"), "E201")
    assert diagnostic.location()[1:] == (2, 15)
    assert "\r" not in render_text(diagnostic)


def test_empty_file_is_e206():
    diagnostic = only(check_bytes(b""), "E206")
    assert diagnostic.location()[1:] == (1, 1)
    only(check_bytes(b"\n\n# nothing but a comment\n"), "E206")


def test_directory_and_missing_file_are_e105(tmp_path):
    only(diagnostics_of(tmp_path), "E105")
    diagnostic = only(diagnostics_of(tmp_path / "missing.cnn"), "E105")
    assert "missing.cnn" in diagnostic.message and "No such file" in diagnostic.message


def test_oversized_file_is_e105(tmp_path):
    path = tmp_path / "big.cnn"
    path.write_text("input 3x32x32\n" + "relu\n" * 100)
    diagnostic = only(diagnostics_of(path, Limits(max_file_bytes=100)), "E105")
    assert "over the limit" in diagnostic.message and "--max-file-bytes" in diagnostic.help


def test_random_bytes_end_in_located_diagnostics():
    import random

    rng = random.Random(5)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        result = check_bytes(b"input 3x32x32\n" + data)
        if isinstance(result, list):
            assert all(d.code in CODES for d in result)
            assert any(d.location() is not None for d in result)


# --- JSON -------------------------------------------------------------------------------------


def test_json_rendering_carries_code_line_column_and_labels():
    found = diagnostics_of(BAD / "E207_two_inputs.cnn")
    data = json.loads(render_json(found))
    (entry,) = data
    assert entry["code"] == "E207" and entry["severity"] == "error"
    assert (entry["line"], entry["column"]) == (3, 1)
    assert entry["path"].endswith("E207_two_inputs.cnn")
    assert [label["line"] for label in entry["labels"]] == [3, 2]
    assert entry["labels"][1]["label"] == "first declared here"
    assert set(entry) == {"code", "severity", "message", "path", "line", "column", "labels", "notes", "help"}


def test_json_of_a_diagnostic_without_location(tmp_path):
    (diagnostic,) = diagnostics_of(tmp_path)
    assert to_json(diagnostic)["line"] is None and to_json(diagnostic)["labels"] == []


# --- the documentation ------------------------------------------------------------------------


def test_every_code_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} ([EW]\d{3})\b", text, flags=re.M))
    missing = sorted(set(CODES) - headings)
    assert not missing, f"codes without a section in docs/diagnostics.md: {missing}"
    assert not headings - set(CODES), f"documented codes that do not exist: {sorted(headings - set(CODES))}"


def test_documented_exit_codes():
    text = DOCS.read_text(encoding="utf-8")
    for code in ("| 0 ", "| 1 ", "| 2 ", "| 3 "):
        assert code in text
