"""Rule selection: --select/--ignore/--extend-select, [tool.cnndsl] in pyproject.toml,
`# cnndsl: ignore[...]` comments, the opt-in W103, and the same through the Python API."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

import cnndsl
from cnndsl import cli
from cnndsl.rules import (
    ALL_RULES,
    DEFAULT_RULES,
    OPT_IN,
    WARNING_CODES,
    RuleError,
    RuleSet,
    Selection,
    configured_rules,
    resolve,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BAD = ROOT / "tests" / "bad"
# W101 (the stride skips a column) on line 2, W105 (bias before bn) on line 3, W103 (fc holds most) on line 4.
THREE = "input 3x32x32\nconv 3x3/2 8\n-> conv 3x3 8 pad 1 -> bn\n-> flatten -> fc 1000 -> fc 10\n"


def main(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def codes_of(text: str, rules: RuleSet | None = None) -> list[str]:
    return sorted(w.code for w in cnndsl.check_text(text, rules=rules).warnings)


@pytest.fixture
def three(tmp_path) -> pathlib.Path:
    path = tmp_path / "three.cnn"
    path.write_text(THREE)
    return path


# --- the rule sets ------------------------------------------------------------------------------


def test_the_spec_has_its_three_warnings():
    assert codes_of(THREE, ALL_RULES) == ["W101", "W103", "W105"]


def test_w103_is_opt_in():
    assert {"W103"} == OPT_IN and DEFAULT_RULES.enabled == WARNING_CODES - {"W103"}
    assert codes_of(THREE) == ["W101", "W105"]
    for stem in ("alexnet", "vgg16", "vgg19"):
        assert not [w for w in cnndsl.check_file(SPECS / f"{stem}.cnn").warnings if w.code == "W103"]
    assert "W103" in [
        w.code
        for w in cnndsl.check_file(
            BAD / "W103_param_hog.cnn", rules=RuleSet.from_selection(extend_select="W103")
        ).warnings
    ]


@pytest.mark.parametrize(
    "select, ignore, extend, expected",
    [
        ("W103", (), (), ["W103"]),
        ("W1", (), (), ["W101", "W103", "W105"]),
        ("ALL", "W105", (), ["W101", "W103"]),
        (None, "W1", (), []),
        (None, (), "W103", ["W101", "W103", "W105"]),
        ("W1", "W101", (), ["W103", "W105"]),  # the more specific selector wins ...
        ("W103", "W1", (), ["W103"]),  # ... whichever option it is in
        ("W101", "W101", (), []),  # a tie: ignore wins
        ("", (), (), []),  # an empty selection reports nothing
        ("w101, W105,", (), (), ["W101", "W105"]),  # spaces, lower case, a trailing comma
        (None, "ALL", (), []),  # ALL in ignore: every warning
        ("E4,W101", (), (), ["W101"]),  # selecting errors is allowed: they always report
    ],
)
def test_selection(select, ignore, extend, expected):
    rules = RuleSet.from_selection(select, ignore, extend)
    assert codes_of(THREE, rules) == expected


def test_a_later_layer_with_select_starts_over():
    config = Selection.parse(select="W1", ignore="W101")
    assert resolve([config, Selection.parse(ignore="W105")]).enabled == {"W102", "W103", "W104", "W106"} - {"W105"}
    assert resolve([config, Selection.parse(select="W101")]).enabled == {"W101"}


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("ignore", "E401", "errors cannot be ignored"),
        ("ignore", "E", "errors cannot be ignored"),
        ("select", "W1O1", "did you mean 'W101'?"),
        ("select", "X", "unknown rule code 'X'"),
        ("extend-select", "W9", "unknown rule code 'W9'"),
    ],
)
def test_bad_selectors_are_errors(option, value, message):
    keyword = option.replace("-", "_")
    with pytest.raises(RuleError, match=message.replace("?", r"\?")):
        RuleSet.from_selection(**{keyword: value})


# --- # cnndsl: ignore ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment, expected",
    [
        ("# cnndsl: ignore[W101]", ["W105"]),
        ("# cnndsl: ignore[W105, W101]", ["W105"]),  # W105 is on the next line: not silenced
        ("# cnndsl: ignore", ["W105"]),
        ("# cnndsl: ignore[W102]", ["W101", "W105"]),
        ("# a note  cnndsl: ignore[w1]", ["W105"]),  # a prefix, in lower case, after other words
        ("# cnndsl: ignore[E401]", ["W101", "W105"]),
    ],
)
def test_ignore_comments_silence_their_line_only(comment, expected):
    assert codes_of(THREE.replace("conv 3x3/2 8\n", f"conv 3x3/2 8 {comment}\n", 1)) == expected


def test_an_ignore_comment_does_not_silence_errors():
    with pytest.raises(cnndsl.CnnError):
        cnndsl.check_text("input 3x32x32\nconv 3x3 8 -> rleu  # cnndsl: ignore\n")


def test_an_ignore_comment_in_an_included_file(tmp_path):
    (tmp_path / "blocks.cnn").write_text(
        "block down(c) { conv 3x3/2 c }  # cnndsl: ignore[W101]\nblock skip(c) { conv 3x3/2 c }\n"
    )
    main_spec = tmp_path / "main.cnn"
    main_spec.write_text('use "blocks.cnn"\ninput 3x32x32\ndown 8 -> conv 2x2 8 -> skip 8\n')
    (warning,) = cnndsl.check_file(main_spec).warnings
    assert warning.code == "W101" and warning.location()[0].endswith("blocks.cnn") and warning.location()[1] == 2


# --- the command line ---------------------------------------------------------------------------


def test_cli_select_and_ignore(three, capsys):
    code, out, err = main(capsys, "check", str(three))
    assert code == 0 and "[W101]" in err and "[W105]" in err and "[W103]" not in err and "2 warnings" in out
    code, out, err = main(capsys, "check", "--select", "W103", str(three))
    assert code == 0 and "[W103]" in err and "[W101]" not in err and "1 warning" in out
    code, out, err = main(
        capsys, "check", "--extend-select", "W103", "--ignore", "W101", "--ignore", "W105", str(three)
    )
    assert code == 0 and "[W103]" in err and err.count("warning[") == 1


@pytest.mark.parametrize("command", ["summary", "compile", "run"])
def test_every_command_takes_the_rule_options(command, three, capsys):
    code, _out, err = main(capsys, command, "--select", "W9", str(three))
    assert code == 2 and f"usage: cnndsl {command}" in err and "unknown rule code 'W9'" in err
    code, _out, err = main(capsys, command, "--ignore", "E401", str(three))
    assert code == 2 and "errors cannot be ignored" in err


def test_summary_selects_warnings(three, capsys):
    code, out, err = main(capsys, "summary", "--select", "W103", str(three))
    assert code == 0 and "[W103]" in err and "[W101]" not in err and "Total params" in out


def test_cli_usage_errors_name_the_option(three, capsys):
    code, _out, err = main(capsys, "check", "--ignore", "W101,E401", str(three))
    assert code == 2 and "argument --ignore: 'E401' names errors" in err
    code, _out, err = main(capsys, "check", "--select", "W1O1", str(three))
    assert code == 2 and "did you mean 'W101'?" in err


# --- pyproject.toml -------------------------------------------------------------------------------


def write_config(directory: pathlib.Path, table: str) -> None:
    (directory / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.cnndsl]\n{table}\n")


def test_pyproject_in_a_parent_directory(tmp_path, capsys):
    write_config(tmp_path, 'extend-select = ["W103"]\nignore = ["W105"]')
    nested = tmp_path / "nets" / "deep"
    nested.mkdir(parents=True)
    spec = nested / "three.cnn"
    spec.write_text(THREE)
    assert configured_rules(spec).enabled == WARNING_CODES - {"W105"}
    code, _out, err = main(capsys, "check", str(spec))
    assert code == 0 and "[W103]" in err and "[W101]" in err and "[W105]" not in err


def test_the_command_line_overrides_pyproject(tmp_path, capsys):
    write_config(tmp_path, 'select = ["W105"]')
    spec = tmp_path / "three.cnn"
    spec.write_text(THREE)
    code, _out, err = main(capsys, "check", str(spec))
    assert "[W105]" in err and err.count("warning[") == 1
    code, _out, err = main(capsys, "check", "--select", "W101", str(spec))
    assert "[W101]" in err and err.count("warning[") == 1
    code, _out, err = main(capsys, "check", "--ignore", "W105", str(spec))  # keeps the file's select
    assert code == 0 and "warning[" not in err


def test_the_nearest_pyproject_with_a_table_wins(tmp_path):
    write_config(tmp_path, 'select = ["W101"]')
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'other tool only'\n")  # passed over, as ruff does
    spec = inner / "three.cnn"
    spec.write_text(THREE)
    assert configured_rules(spec).enabled == {"W101"}
    write_config(inner, 'ignore = ["W101"]')
    assert configured_rules(spec).enabled == DEFAULT_RULES.enabled - {"W101"}


@pytest.mark.parametrize(
    "table, message",
    [
        ('ignore = ["E401"]', "errors cannot be ignored"),
        ('select = ["W1O1"]', "did you mean 'W101'?"),
        ('selct = ["W101"]', "unknown key 'selct'; did you mean 'select'?"),
        ('select = "W101"', "must be a list of codes"),
        ("select = [", "not valid TOML"),
    ],
)
def test_a_bad_pyproject_is_a_usage_error(tmp_path, capsys, table, message):
    write_config(tmp_path, table)
    spec = tmp_path / "three.cnn"
    spec.write_text(THREE)
    code, _out, err = main(capsys, "check", str(spec))
    assert code == 2 and "usage: cnndsl check" in err and message in err and "pyproject.toml" in err


def test_the_python_api_does_not_read_pyproject(tmp_path):
    write_config(tmp_path, 'select = ["W103"]')
    spec = tmp_path / "three.cnn"
    spec.write_text(THREE)
    assert sorted(w.code for w in cnndsl.check_file(spec).warnings) == ["W101", "W105"]


# --- JSON and speed -------------------------------------------------------------------------------


def test_json_carries_the_selected_warnings(three, capsys):
    _code, out, err = main(capsys, "check", "--format", "json", "--select", "W103", str(three))
    (entry,) = json.loads(out)
    assert [d["code"] for d in entry["diagnostics"]] == ["W103"] and err == ""


def test_check_imports_no_toml_parser_without_a_table():
    """The repository's own pyproject.toml has no [tool.cnndsl]: it is read, but not parsed."""
    code = (
        "import sys, cnndsl.cli; status = cnndsl.cli.main(['check', '-q', sys.argv[1]]); "
        "print(sorted(m for m in ('tomllib', 'tomli', 'json', 'difflib', 'numpy', 'onnx', 'decimal') "
        "if m in sys.modules)); sys.exit(status)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(SPECS / "resnet152.cnn")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_w103_spares_a_classifier_after_global_pooling():
    # ShuffleNetV2 0.5x's fc holds 74% of its parameters, over 1024 pooled features, not a map.
    head = "input 3x32x32\nconv 3x3 1024 -> pool avg global -> flatten -> dropout -> fc 1000"
    pooled = cnndsl.check_text(head, rules=ALL_RULES)
    assert pooled.trainable_params > 1_000_000 and not pooled.warnings
    mapped = cnndsl.check_text(head.replace("pool avg global", "pool 2"), rules=ALL_RULES)
    assert [w.code for w in mapped.warnings] == ["W103"]
