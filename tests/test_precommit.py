""".pre-commit-hooks.yaml: the cnndsl-check and cnndsl-fmt hooks other repositories use.

One test validates the file against pre-commit's own manifest schema; the other runs the hooks with
pre-commit itself in a throwaway git repository, which makes pre-commit build a virtual environment
and pip-install cnndsl (and lark, numpy, onnx) into it from a copy of this checkout: about 45 s,
under the minute past which a test is marked slow, and the only check that the hooks install.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HOOKS = ROOT / ".pre-commit-hooks.yaml"
GOOD = "input 3x32x32\nconv 3x3 8 pad 1 -> relu -> pool 2\n"
BAD = "input 3x32x32\nconv 3x3 8 -> rleu\n"  # E201
UNFORMATTED = "input   3x32x32\nconv 3x3 8 pad 1->relu\n"


def test_hooks_file_is_a_valid_pre_commit_manifest():
    clientlib = pytest.importorskip("pre_commit.clientlib")
    hooks = {hook["id"]: hook for hook in clientlib.load_manifest(str(HOOKS))}
    assert set(hooks) == {"cnndsl-check", "cnndsl-fmt"}
    assert hooks["cnndsl-check"]["entry"] == "cnndsl check" and hooks["cnndsl-fmt"]["entry"] == "cnndsl fmt"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["files"] == r"\.cnn$"


def git(*args: str, cwd: pathlib.Path) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    environment["GIT_COMMITTER_EMAIL"] = "t@t"
    done = subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def snapshot_of_this_checkout(destination: pathlib.Path) -> str:
    """The checkout's files as git sees them (tracked, and new files not ignored), committed in a
    repository of their own: pre-commit installs hooks from a commit, and the working tree's may be
    ahead of HEAD. Returns the commit."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git("init", "-q", cwd=destination)
    git("add", "-A", cwd=destination)
    git("commit", "-q", "-m", "snapshot", cwd=destination)
    return git("rev-parse", "HEAD", cwd=destination)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_pre_commit_runs_the_hooks(tmp_path):
    pytest.importorskip("pre_commit")
    hooks_repo, project = tmp_path / "cnndsl", tmp_path / "project"
    hooks_repo.mkdir()
    project.mkdir()
    commit = snapshot_of_this_checkout(hooks_repo)
    hooks = "    hooks:\n      - id: cnndsl-check\n      - id: cnndsl-fmt\n"
    (project / ".pre-commit-config.yaml").write_text(f"repos:\n  - repo: {hooks_repo}\n    rev: {commit}\n{hooks}")
    (project / "good.cnn").write_text(GOOD)
    (project / "bad.cnn").write_text(BAD)
    (project / "messy.cnn").write_text(UNFORMATTED)
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    environment = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def pre_commit(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never", *args]
        return subprocess.run(command, cwd=project, env=environment, capture_output=True, text=True, timeout=900)

    check = pre_commit("cnndsl-check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "error[E201]: unknown layer kind 'rleu'" in check.stdout and "bad.cnn:2:15" in check.stdout
    assert "good.cnn: ok" in check.stdout

    (project / "bad.cnn").write_text(GOOD)
    passed = pre_commit("cnndsl-check")
    assert passed.returncode == 0, passed.stdout + passed.stderr

    formatted = pre_commit("cnndsl-fmt")
    assert formatted.returncode == 1, formatted.stdout + formatted.stderr  # it rewrote messy.cnn
    assert (project / "messy.cnn").read_text() != UNFORMATTED
    assert (project / "good.cnn").read_text() == GOOD
    assert pre_commit("cnndsl-fmt").returncode == 0  # formatted files stay as they are
