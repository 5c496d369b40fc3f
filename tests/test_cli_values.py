"""Command-line values and output modes: numeric ranges (exit 2, never 3), --depth 0 and with JSON,
--format json with warnings and nothing else, -q on every command, subcommand usage, help texts."""

from __future__ import annotations

import argparse
import json
import pathlib
import types

import pytest

from cnndsl import cli
from cnndsl.cli import commands, options

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
WARNS = "input 3x32x32\nconv 3x3/2 8 -> relu\n"  # W101 only
NO_MACS = "input 3x8x8\nrelu -> pool 2\n"  # nothing multiplies


def main(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    return code, out, err


@pytest.fixture
def warns(tmp_path) -> pathlib.Path:
    path = tmp_path / "warns.cnn"
    path.write_text(WARNS)
    return path


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "--seed", "-1"],
        ["compile", "--seed", str(2**64)],
        ["run", "--seed", "-1"],
        ["compile", "--batch", "99999999999999999999"],
        ["run", "--batch", str(2**31)],
        ["compile", "--opset", "0"],
        ["check", "--max-file-bytes", "1e23"],
        ["check", "--max-file-bytes", "100000000000000000000000"],
        ["check", "--max-layers", "9" * 5000],
        ["check", "--max-depth", "1e99999999999"],
        ["check", "--max-params", "1.5e0"],  # not whole
        ["check", "--max-repeat", "ten"],
        ["check", "--max-repeat", "\u0661\u0660"],  # Arabic-Indic digits are not accepted either
        ["run", "--repeat", "1e7"],
        ["run", "--top-k", "0"],
        ["run", "--max-memory", "0"],
        ["summary", "--depth", "-1"],
    ],
)
def test_out_of_range_numbers_are_usage_errors(args, capsys):
    code, _out, err = main(capsys, *args, str(SPECS / "lenet5.cnn"))
    assert code == 2 and f"usage: cnndsl {args[0]}" in err and f"argument {args[1]}" in err


@pytest.mark.parametrize(
    "text, value",
    [("10", 10), ("1_000", 1000), ("1e6", 10**6), ("2.5e3", 2500), ("1.50e1", 15), ("0e5", 0), ("+7", 7), ("007", 7)],
)
def test_number_forms(text, value):
    assert options.whole_number(0, 10**9)(text) == value


@pytest.mark.parametrize("text", ["1.5", "1.25e1", "1e", "e5", "0x10", "1 000", "", "nan", "inf"])
def test_not_whole_numbers(text):
    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        options.whole_number(0, 10**9)(text)


def test_the_help_states_the_number_forms_and_ranges(capsys):
    code, out, _err = main(capsys, "check", "--help")
    assert code == 0 and "1_000_000 or 1e6" in out and "at most" in out


def test_scientific_limits_work(capsys):
    code, out, _err = main(capsys, "check", "--max-file-bytes", "1e7", "--max-layers", "1e5", str(SPECS / "lenet5.cnn"))
    assert code == 0 and ": ok" in out


# --- usage of the subcommand ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, command",
    [
        (["summary", "a.cnn", "b.cnn"], "summary"),
        (["run", "--frobnicate", "x.cnn"], "run"),
        (["compile", "x.cnn", "extra"], "compile"),
    ],
)
def test_usage_errors_show_the_subcommands_usage(args, command, capsys):
    code, _out, err = main(capsys, *args)
    assert code == 2 and err.startswith(f"usage: cnndsl {command}") and "unrecognized arguments" in err


def test_run_takes_the_compile_options(capsys):
    code, out, _err = main(capsys, "run", "--help")
    assert code == 0 and "--weights W.npz" in out and "--opset N" in out
    assert "--max-memory BYTES" in out and "--top-k K" in out


def test_every_option_and_file_argument_has_help():
    """--device, run --seed and the FILE positionals had none."""
    for command, sub in options.build_parser().commands.items():
        for action in sub._actions:
            assert action.help, (command, action.dest)


# --- --depth ------------------------------------------------------------------------------------


def test_depth_0_folds_into_top_level_rows(capsys):
    code, out0, _err = main(capsys, "summary", "--depth", "0", str(SPECS / "resnet18.cnn"))
    assert code == 0
    code, out1, _err = main(capsys, "summary", "--depth", "1", str(SPECS / "resnet18.cnn"))
    assert out0 == out1 and "layer3    stage" in out0 and "layer3.0" not in out0


@pytest.mark.parametrize("depth, count", [("0", 11), ("1", 11), ("2", 15)])
def test_depth_applies_to_json(depth, count, capsys):
    code, out, err = main(capsys, "summary", "--format", "json", "--depth", depth, str(SPECS / "resnet18.cnn"))
    data = json.loads(out)
    assert code == 0 and err == "" and len(data["layers"]) == count and data["depth"] == int(depth)
    assert sum(layer["params"] for layer in data["layers"]) == data["total_params"]
    assert sum(layer["macs"] for layer in data["layers"]) == data["total_macs"]
    layer3 = next(layer for layer in data["layers"] if layer["name"] == ("layer3" if depth != "2" else "layer3.1"))
    assert layer3["folded"] > 1 and layer3["output_shape"] == [256, 14, 14] and isinstance(layer3["line"], int)


# --- JSON carries the warnings, and nothing else is printed ----------------------------------------


@pytest.mark.parametrize("flag", [["--format", "json"], ["--json"]])
def test_summary_json_has_the_warnings(flag, warns, capsys):
    code, out, err = main(capsys, "summary", *flag, str(warns))
    data = json.loads(out)
    assert code == 0 and err == ""
    assert [d["code"] for d in data["diagnostics"]] == ["W101"] and data["total_params"] == 224


def test_summary_json_quiet_has_no_warnings(warns, capsys):
    code, out, err = main(capsys, "summary", "--format", "json", "-q", str(warns))
    assert code == 0 and json.loads(out)["diagnostics"] == [] and err == ""


def test_compile_result_json(warns, capsys):
    args = options.build_parser().parse_command_line(["compile", "--format", "json", str(warns)])
    model = commands.checked(str(warns), args)
    written = types.SimpleNamespace(path="warns.onnx", bytes=1234, opset=21, external_data=None)
    commands.print_result_json(model, written, args)
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert err == "" and (data["path"], data["bytes"], data["opset"]) == ("warns.onnx", 1234, 21)
    assert [d["code"] for d in data["diagnostics"]] == ["W101"]


# --- -q on every command ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "summary"])
def test_quiet_hides_warnings(command, warns, capsys):
    code, out, err = main(capsys, command, str(warns))
    assert "[W101]" in err
    code, out, err = main(capsys, command, "-q", str(warns))
    assert code == 0 and err == "" and out


def test_quiet_compile_hides_warnings(warns, tmp_path, capsys):
    code, _out, err = main(capsys, "compile", "--quiet", "-o", str(tmp_path / "w.onnx"), str(warns))
    assert code == 0 and "W101" not in err and (tmp_path / "w.onnx").exists()


def test_quiet_run_hides_warnings_and_context(warns, capsys):
    pytest.importorskip("onnxruntime")
    code, out, err = main(capsys, "run", "--repeat", "1", str(warns))
    assert code == 0 and "[W101]" in err and out.startswith("model:")
    code, out, err = main(capsys, "run", "-q", "--repeat", "1", str(warns))
    assert code == 0 and err == "" and "model:" not in out and "device:" not in out and "latency:" in out


def test_run_json(warns, capsys):
    pytest.importorskip("onnxruntime")
    code, out, err = main(capsys, "run", "--format", "json", "--repeat", "2", "--top-k", "3", str(warns))
    data = json.loads(out)
    assert code == 0 and err == ""
    assert [d["code"] for d in data["diagnostics"]] == ["W101"] and data["latency_ms"]["runs"] == 2
    assert data["input"]["shape"] == [1, 3, 32, 32]


# --- the summary's MACs line ----------------------------------------------------------------------


def test_no_macs_is_not_spelled_twice(tmp_path, capsys):
    path = tmp_path / "nomacs.cnn"
    path.write_text(NO_MACS)
    code, out, _err = main(capsys, "summary", str(path))
    assert code == 0 and "Total MACs: 0\n" in out and "(0 MACs)" not in out
    code, out, _err = main(capsys, "summary", str(SPECS / "alexnet.cnn"))
    assert "Total MACs: 714,188,480 (714.19 MMACs)" in out
