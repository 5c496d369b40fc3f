"""A source checkout runs without installing: `python -m cnndsl` from the repository's root finds
grammars/cnn.lark beside the package (installed, it is the package `cnndsl.grammars`)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_python_m_cnndsl_runs_from_a_source_checkout(tmp_path):
    for folder in ("cnndsl", "grammars"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = tmp_path / "lenet.cnn"
    shutil.copy(ROOT / "specs" / "lenet5.cnn", spec)
    where = subprocess.run(
        [sys.executable, "-c", "import cnndsl; print(cnndsl.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(tmp_path)), f"imported {where}, not the checkout's copy"
    done = subprocess.run(
        [sys.executable, "-m", "cnndsl", "check", str(spec)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "61,706 parameters" in done.stdout
