"""`check --format github`: diagnostics as GitHub Actions workflow commands, escaped as the runner
unescapes them, and the usual result lines and exit codes."""

from __future__ import annotations

import pytest

from cnndsl import cli
from cnndsl.cli.github import escape_data, escape_property, workflow_command
from cnndsl.diagnostics import Label, error, warning
from cnndsl.source import Source, Span


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "warns.cnn").write_text("input 3x32x32\nconv 3x3/2 8\n")
    (tmp_path / "broken.cnn").write_text("input 3x32x32\nconv 3x3 8 -> rleu\n")
    (tmp_path / "clean.cnn").write_text("input 3x32x32\nconv 3x3 8 pad 1 -> relu\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_github(capsys, *args: str) -> tuple[int, list[str], str]:
    status = cli.main(["check", "--format", "github", *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def test_errors_and_warnings_become_annotations(workdir, capsys):
    status, lines, err = check_github(capsys, "clean.cnn", "warns.cnn", "broken.cnn", "missing.cnn")
    assert status == 1 and err == ""
    assert "clean.cnn: ok, 224 parameters, 221,184 MACs" in lines
    assert "::error file=broken.cnn,line=2,endLine=2,col=15,endColumn=18,title=E201::" in "\n".join(lines)
    (misspelt,) = [line for line in lines if "title=E201" in line]
    assert misspelt.endswith("::unknown layer kind 'rleu'%0Ahelp: did you mean 'relu'?")
    (stride,) = [line for line in lines if "title=W101" in line]
    assert stride.startswith("::warning file=warns.cnn,line=2,")
    (unreadable,) = [line for line in lines if "title=E105" in line]
    assert unreadable.startswith("::error file=missing.cnn,title=E105::cannot read 'missing.cnn'")


def test_exit_status_is_that_of_text_output(workdir, capsys):
    assert check_github(capsys, "warns.cnn")[0] == 0
    status, lines, _ = check_github(capsys, "-q", "warns.cnn")
    assert status == 0 and not any(line.startswith("::") for line in lines)


def test_data_escapes_percent_and_line_breaks():
    assert escape_data("50% of\r\nall") == "50%25 of%0D%0Aall"


def test_properties_escape_colons_and_commas_too():
    assert escape_property("C:/specs/a,b%.cnn") == "C%3A/specs/a%2Cb%25.cnn"


def test_a_path_with_commas_and_colons_stays_one_property(workdir):
    source = Source("a,b:c.cnn", "input 3x32x32\nconv 3x3 8 -> rleu\n")
    start = source.text.index("rleu")
    command = workflow_command(error("E201", "unknown layer kind 'rleu'", Label(source, Span(start, start + 4))))
    assert command.startswith("::error file=a%2Cb%3Ac.cnn,line=2,endLine=2,col=15,endColumn=18,title=E201::")


def test_a_span_over_several_lines_has_no_columns():
    # GitHub refuses a column range across lines.
    source = Source("multi.cnn", "input 3x32x32\nblock b {\n  relu\n}\n")
    command = workflow_command(warning("W106", "unused", Label(source, Span(14, len(source.text) - 1))))
    assert command == "::warning file=multi.cnn,line=2,endLine=4,title=W106::unused"
