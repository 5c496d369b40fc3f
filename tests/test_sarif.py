"""`check --format sarif`: one SARIF 2.1.0 log for every file checked, valid against the OASIS schema
(tests/data/sarif-schema-2.1.0.json, see tests/data/README.md), as GitHub code scanning reads it."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest

from cnndsl import cli
from cnndsl.cli import sarif
from cnndsl.codes import CODES
from cnndsl.diagnostics import Label, error
from cnndsl.source import Source, Span

jsonschema = pytest.importorskip("jsonschema")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)  # Draft 4, as the schema's $schema says

SPECS = {
    "clean.cnn": "input 3x32x32\nconv 3x3 8 pad 1 -> relu -> pool 2\n",
    "warns.cnn": "input 3x32x32\nconv 3x3/2 8\n",  # W101
    "broken.cnn": "input 3x32x32\nconv 3x3 8 -> rleu\n",  # E201, with a did-you-mean help
    "twice.cnn": "input 3x32x32\ninput 3x32x32\nconv 3x3 8\n",  # E207, with a secondary label
    "syntax.cnn": "input 3x32x32\nconv 3x3 8 -> -> relu\n",  # E101
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for name, text in SPECS.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.cnn").write_text(SPECS["warns.cnn"])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_sarif(capsys, *files: str) -> tuple[int, dict]:
    status = cli.main(["check", "--format", "sarif", *files])
    out, err = capsys.readouterr()
    assert err == ""  # the log is the only output
    log = json.loads(out)
    errors = sorted(VALIDATOR.iter_errors(log), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return status, log


def test_clean_run_is_a_valid_log_with_every_rule_and_no_results(workdir, capsys):
    status, log = check_sarif(capsys, "clean.cnn")
    assert status == 0
    (run,) = log["runs"]
    assert log["version"] == "2.1.0" and run["results"] == []
    driver = run["tool"]["driver"]
    assert driver["name"] == "cnndsl" and driver["version"] == cli.__version__
    assert [rule["id"] for rule in driver["rules"]] == list(CODES)
    assert all(rule["shortDescription"]["text"] == CODES[rule["id"]] for rule in driver["rules"])
    levels = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in driver["rules"]}
    assert levels["E101"] == "error" and levels["W101"] == "warning"


def test_errors_warnings_and_several_files_in_one_log(workdir, capsys):
    files = ["clean.cnn", "warns.cnn", "broken.cnn", "twice.cnn", "syntax.cnn", "sub/nested.cnn", "missing.cnn"]
    status, log = check_sarif(capsys, *files)
    assert status == 1  # exit codes as for text: an error in any file
    results = log["runs"][0]["results"]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    by_code = {result["ruleId"]: result for result in results}
    assert sorted(by_code) == ["E101", "E105", "E201", "E207", "W101"]
    assert [r["ruleId"] for r in results].count("W101") == 2  # warns.cnn and sub/nested.cnn
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert by_code["W101"]["level"] == "warning" and by_code["E201"]["level"] == "error"

    misspelt = by_code["E201"]
    assert misspelt["message"]["text"] == "unknown layer kind 'rleu'\nhelp: did you mean 'relu'?"
    location = misspelt["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "broken.cnn", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 2, "startColumn": 15, "endLine": 2, "endColumn": 19}

    (related,) = by_code["E207"]["relatedLocations"]
    assert related["message"]["text"] == "first declared here"
    assert related["physicalLocation"]["region"]["startLine"] == 1

    unreadable = by_code["E105"]["locations"][0]["physicalLocation"]
    assert unreadable == {"artifactLocation": {"uri": "missing.cnn", "uriBaseId": "%SRCROOT%"}}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert "sub/nested.cnn" in uris
    base = log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == workdir.resolve().as_uri() + "/"


def test_a_file_outside_the_working_directory_gets_an_absolute_uri(workdir, tmp_path_factory, capsys):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "warns.cnn"
    elsewhere.write_text(SPECS["warns.cnn"])
    _, log = check_sarif(capsys, str(elsewhere))
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": elsewhere.resolve().as_uri()}


def test_quiet_leaves_warnings_out(workdir, capsys):
    status, log = check_sarif(capsys, "-q", "warns.cnn")
    assert status == 0 and log["runs"][0]["results"] == []


def test_columns_count_utf16_code_units():
    # '😀' is one character for cnndsl and two UTF-16 code units for SARIF and GitHub.
    source = Source("emoji.cnn", 'use "😀" -> rleu\nrelu\n')
    start = source.text.index("rleu")
    where = sarif.region(Label(source, Span(start, start + 4)))
    assert where == sarif.Region(1, start + 2, 1, start + 6)
    plain = Source("plain.cnn", "a -> rleu\n")
    assert sarif.region(Label(plain, Span(5, 9))) == sarif.Region(1, 6, 1, 10)


def test_anchors_are_githubs_slugs_of_the_headings_in_docs_diagnostics():
    assert sarif.anchor("E101") == "e101-syntax-error-unexpected-token"
    assert sarif.anchor("E217") == "e217-the-layers-hierarchical-names-exceed-the-size-budget"
    # GitHub drops punctuation without merging the hyphens the spaces around it leave.
    assert sarif.anchor("E305").endswith("its-comparison-is-not----or-")
    headings = re.findall(r"^### ([EW]\d+: .*)$", (ROOT / "docs" / "diagnostics.md").read_text(), re.M)
    assert sorted(headings) == sorted(f"{code}: {title}" for code, title in CODES.items())
    assert len({sarif.anchor(code) for code in CODES}) == len(CODES)


def test_rules_link_to_the_docs_under_the_repository_url(workdir, capsys, monkeypatch):
    monkeypatch.setattr(sarif, "repository_url", lambda: "https://example.org/cnndsl")
    _, log = check_sarif(capsys, "broken.cnn")
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/cnndsl"
    rule = driver["rules"][list(CODES).index("E201")]
    page = "https://example.org/cnndsl/blob/main/docs/diagnostics.md"
    assert rule["helpUri"] == f"{page}#e201-unknown-layer-kind"
    assert rule["helpUri"] in rule["help"]["text"] and rule["helpUri"] in rule["help"]["markdown"]


def test_without_a_repository_url_the_help_names_the_page_by_its_path(workdir, capsys, monkeypatch):
    monkeypatch.setattr(sarif, "repository_url", lambda: None)
    _, log = check_sarif(capsys, "clean.cnn")
    rule = log["runs"][0]["tool"]["driver"]["rules"][0]
    assert "helpUri" not in rule and "docs/diagnostics.md#e101-syntax-error-unexpected-token" in rule["help"]["text"]


def test_diagnostics_without_a_file_still_make_a_valid_log():
    log = sarif.sarif_log([(None, [error("E105", "cannot read 'x'", None)])])
    assert not list(VALIDATOR.iter_errors(log)) and "locations" not in log["runs"][0]["results"][0]


def test_only_check_takes_sarif(workdir, capsys):
    assert cli.main(["summary", "--format", "sarif", "clean.cnn"]) == 2
    assert "invalid choice: 'sarif'" in capsys.readouterr().err


def test_check_imports_no_renderer_it_does_not_use(workdir):
    probe = (
        "import sys; from cnndsl.cli import main; main(['check', '-q', 'clean.cnn']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jsonschema', 'pygments') "
        "or m in ('cnndsl.cli.sarif', 'cnndsl.cli.github', 'cnndsl.highlight')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
