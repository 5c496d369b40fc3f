"""The command line: exit codes, several files, JSON output, and no traceback ever."""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import subprocess
import sys

import pytest

from cnndsl import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BAD = ROOT / "tests" / "bad"
CLEAN = "input 3x32x32\nconv 3x3 8 pad 1 -> relu -> pool 2\n"
WARNS = "input 3x32x32\nconv 3x3/2 8\n"  # W101 only
BROKEN = "input 3x32x32\nconv 3x3 8 -> rleu\n"  # E201


def run(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture
def specs(tmp_path):
    paths = {}
    for name, text in (("clean", CLEAN), ("warns", WARNS), ("broken", BROKEN)):
        paths[name] = tmp_path / f"{name}.cnn"
        paths[name].write_text(text)
    return paths


def main(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# --- exit codes -------------------------------------------------------------------------------


def test_exit_0_when_clean(specs, capsys):
    code, out, err = main(capsys, "check", str(specs["clean"]))
    assert code == 0 and "ok, 224 parameters" in out and err == ""


def test_exit_0_with_warnings_only(specs, capsys):
    code, out, err = main(capsys, "check", str(specs["warns"]))
    assert code == 0 and "1 warning" in out and "warning[W101]" in err


def test_quiet_hides_warnings(specs, capsys):
    code, _out, err = main(capsys, "check", "-q", str(specs["warns"]))
    assert code == 0 and err == ""


def test_exit_1_on_errors(specs, capsys):
    code, _out, err = main(capsys, "check", str(specs["broken"]))
    assert code == 1
    assert f"{specs['broken']}:2:15: error[E201]: unknown layer kind 'rleu'" in err
    assert "did you mean 'relu'?" in err


@pytest.mark.parametrize(
    "args",
    [
        [],  # no command
        ["frobnicate", "x.cnn"],  # unknown command
        ["check"],  # missing file argument
        ["summary"],
        ["check", "--max-layers", "0", "x.cnn"],  # bad option values
        ["check", "--max-layers", "many", "x.cnn"],
        ["check", "--format", "xml", "x.cnn"],
        ["check", "--no-such-option", "x.cnn"],
        ["summary", "a.cnn", "b.cnn"],  # summary takes one file
    ],
)
def test_exit_2_on_usage_errors(args, capsys):
    code, _out, err = main(capsys, *args)
    assert code == 2 and "usage:" in err


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["--version"]])
def test_help_and_version_exit_0(args, capsys):
    code, out, _err = main(capsys, *args)
    assert code == 0 and ("usage:" in out or "cnndsl" in out)


def test_exit_codes_through_a_real_process(specs):
    assert run("check", str(specs["clean"])).returncode == 0
    assert run("check", str(specs["warns"])).returncode == 0
    broken = run("check", str(specs["broken"]))
    assert broken.returncode == 1 and "error[E201]" in broken.stderr and "Traceback" not in broken.stderr
    usage = run("check")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert run("nonsense").returncode == 2


def test_python_dash_m_cnndsl_checks_alexnet():
    result = run("check", str(SPECS / "alexnet.cnn"))
    assert result.returncode == 0
    assert "61,100,840 parameters" in result.stdout and "714,188,480 MACs" in result.stdout


@pytest.mark.skipif(shutil.which("cnndsl") is None, reason="the console script is not installed")
def test_console_script(specs):
    result = subprocess.run(["cnndsl", "check", str(specs["clean"])], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0


# --- several files ----------------------------------------------------------------------------


def test_check_several_files_reports_all_and_fails_if_one_fails(specs, capsys):
    second_bad = specs["clean"].parent / "second.cnn"
    second_bad.write_text("input 3x32x32\nfc 10\n")
    code, out, err = main(
        capsys, "check", str(specs["clean"]), str(specs["broken"]), str(specs["warns"]), str(second_bad)
    )
    assert code == 1
    assert f"{specs['clean']}: ok" in out and f"{specs['warns']}: ok" in out
    assert f"{specs['broken']}:2:15: error[E201]" in err
    assert f"{second_bad}:2:1: error[E402]" in err


def test_check_several_files_all_good(specs, capsys):
    code, out, _ = main(capsys, "check", str(specs["clean"]), str(specs["warns"]), str(SPECS / "alexnet.cnn"))
    assert code == 0 and out.count(": ok") == 3


def test_missing_file_and_directory_among_others(specs, tmp_path, capsys):
    code, out, err = main(capsys, "check", str(tmp_path / "missing.cnn"), str(tmp_path), str(specs["clean"]))
    assert code == 1
    assert err.count("error[E105]") == 2 and "No such file" in err and "is a directory" in err
    assert f"{specs['clean']}: ok" in out


# --- JSON -------------------------------------------------------------------------------------


def test_json_output_parses_and_locates(specs, capsys):
    code, out, err = main(
        capsys, "check", "--format", "json", str(specs["clean"]), str(specs["warns"]), str(specs["broken"])
    )
    assert code == 1 and err == ""
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(specs[n]) for n in ("clean", "warns", "broken")]
    assert [r["ok"] for r in results] == [True, True, False]
    assert results[0]["total_params"] == 224 and results[0]["diagnostics"] == []
    (warning,) = results[1]["diagnostics"]
    assert (warning["code"], warning["severity"], warning["line"], warning["column"]) == ("W101", "warning", 2, 1)
    (error,) = results[2]["diagnostics"]
    assert (error["code"], error["line"], error["column"]) == ("E201", 2, 15)
    assert error["help"] == "did you mean 'relu'?" and error["path"] == str(specs["broken"])


def test_json_output_of_summary_errors(specs, capsys):
    code, out, _err = main(capsys, "summary", "--format", "json", str(specs["broken"]))
    assert code == 1
    (error,) = json.loads(out)
    assert (error["code"], error["line"], error["column"]) == ("E201", 2, 15)


def test_json_through_a_real_process():
    result = run("check", "--format", "json", *map(str, sorted(BAD.glob("E2*.cnn"))))
    assert result.returncode == 1
    for entry in json.loads(result.stdout):
        assert not entry["ok"]
        first = entry["diagnostics"][0]
        assert first["code"] == pathlib.Path(entry["path"]).name[:4]
        assert isinstance(first["line"], int) and isinstance(first["column"], int)


# --- no traceback, whatever the input ---------------------------------------------------------


def test_every_bad_spec_is_a_clean_failure(capsys):
    for path in sorted(BAD.glob("*.cnn")):
        code, _out, err = main(capsys, "check", "--select", "ALL", str(path))  # W103 is opt-in
        expected = 0 if path.name.startswith("W") else 1
        assert code == expected, (path.name, err)
        assert f"[{path.name[:4]}]" in err


def test_random_bytes_never_crash(tmp_path, capsys):
    rng = random.Random(2024)
    path = tmp_path / "random.cnn"
    for _ in range(200):
        prefix = b"input 3x32x32\n" if rng.random() < 0.7 else b""
        path.write_bytes(prefix + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))))
        code, _out, err = main(capsys, "check", str(path))
        assert code in (0, 1), err
        assert "internal error" not in err


def test_mutated_specs_never_crash(tmp_path, capsys):
    rng = random.Random(7)
    lines = (SPECS / "alexnet.cnn").read_text().splitlines()
    path = tmp_path / "mutant.cnn"
    for _ in range(150):
        mutant = list(lines)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(mutant))
            choice = rng.randrange(5)
            if choice == 0:
                del mutant[i]
            elif choice == 1:
                mutant.insert(i, mutant[rng.randrange(len(mutant))])
            elif choice == 2 and mutant[i]:
                cut = rng.randrange(len(mutant[i]))
                mutant[i] = mutant[i][:cut]
            elif choice == 3:
                words = mutant[i].split(" ")
                words.insert(
                    rng.randrange(len(words) + 1),
                    rng.choice(
                        ["->", "(", "]", "{", "0", "-1", "99999999999999999999999", "pad", ":", "x", "3x3x3", "/", ";"]
                    ),
                )
                mutant[i] = " ".join(words)
            else:
                j = rng.randrange(len(mutant))
                mutant[i], mutant[j] = mutant[j], mutant[i]
        path.write_text("\n".join(mutant))
        code, _out, err = main(capsys, "check", str(path))
        assert code in (0, 1), err


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe\x00\x00",
        b"\x00" * 10,
        b"\xef\xbb\xbf",
        "\u202e".encode(),
        b"input 3x" + b"9" * 10_000,
        b"input 3x32x32\n" + b"(" * 20_000,
        b"input 3x32x32\n" + b"relu -> " * 3000,
    ],
)
def test_abusive_files_in_a_real_process(tmp_path, data):
    path = tmp_path / "abuse.cnn"
    path.write_bytes(data)
    result = run("check", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "error[E" in result.stderr


def test_internal_error_is_short_and_exits_3(specs, capsys, monkeypatch):
    import cnndsl.analysis

    def broken(graph):
        raise RuntimeError("simulated bug in the shape pass")

    monkeypatch.setattr(cnndsl.analysis, "infer_shapes", broken)
    code, _out, err = main(capsys, "check", str(specs["clean"]))
    assert code == 3
    assert err.startswith("cnndsl: internal error: RuntimeError: simulated bug in the shape pass")
    assert "please report it" in err and len(err.splitlines()) <= 3


def test_internal_error_in_a_real_process(specs):
    code = (
        "import sys, cnndsl.cli, cnndsl.analysis\n"
        "def boom(*a, **k): raise ZeroDivisionError('simulated')\n"
        "cnndsl.analysis.count = boom\n"
        "sys.exit(cnndsl.cli.main(['check', sys.argv[1]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(specs["clean"])], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "internal error: ZeroDivisionError: simulated" in result.stderr


def test_closed_stdout_is_not_an_error(tmp_path):
    """`cnndsl summary spec | head -1`: the reader leaves early; no traceback, no complaint."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cnndsl", "summary", str(SPECS / "alexnet.cnn")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"internal error" not in err
    assert process.returncode == 0
