"""docs/diagnostics.md runs: every example's shown output is what cnndsl prints for it.

The page's convention, per code section (`### E401: ...`):

- the spec, in the first fenced block (a raw byte the page cannot hold is written `<byte 0xff>`),
  or, for an example that needs no spec, a parenthesised line saying what is given instead;
- the command, as a line "`$ cnndsl check example.cnn` (exit 1)" (or "`$ python -c "..."` (exit 1)"
  for an example that must change a limit no option reaches);
- what it prints, in the next fenced block: diagnostics (standard error) then the result line
  (standard output), as a terminal shows them;
- optionally "**Fix:**" and the corrected spec in a fenced block.

Each `cnndsl` example runs through `cnndsl.cli.main` (a `python -c` one in a child interpreter) in a
fresh directory holding the spec under the file name its command uses, so paths print as shown;
output is compared exactly, but for trailing whitespace. Files an example needs besides its spec
are made by FIXTURES, keyed by the code.
"""

from __future__ import annotations

import pathlib
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.cli import main

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"

SECTION = re.compile(r"^### ([EW]\d{3}): ", re.M)
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```\n", re.M | re.S)
COMMAND = re.compile(r"^`\$ ((?:cnndsl|python) [^`]*)` \(exit (\d+)\)$", re.M)
SPEC_PATH = re.compile(r"[\w./-]+\.cnn\b")
FIX = re.compile(r"^\*\*Fix:\*\*", re.M)
RAW_BYTE = re.compile(r"<byte 0x([0-9a-f]{2})>")


class Example(NamedTuple):
    code: str
    line: int  # of the section heading, for failure messages
    spec: str | None  # None: the example gives something else than a spec (a directory, a file)
    argv: list[str]  # the shown command line: 'cnndsl' or 'python' and its arguments
    exit_code: int
    output: str
    fix: str | None
    problem: str | None = None  # the section does not follow the convention: what is missing


def examples() -> list[Example]:
    text = DOCS.read_text(encoding="utf-8")
    found = []
    headings = list(SECTION.finditer(text))
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        section = text[heading.end() : following.start() if following else len(text)]
        found.append(_example(heading.group(1), text.count("\n", 0, heading.start()) + 1, section))
    return found


def _example(code: str, line: int, section: str) -> Example:
    command = COMMAND.search(section)
    if command is None:
        return Example(code, line, None, [], 0, "", None, "no '`$ cnndsl ...` (exit N)' line")
    before, after = section[: command.start()], section[command.end() :]
    specs = FENCE.findall(before)
    output = FENCE.search(after)
    if output is None:
        return Example(code, line, None, [], 0, "", None, "no output block after the command")
    fix = FIX.search(after)
    fixed = FENCE.search(after, fix.end()) if fix else None
    return Example(
        code,
        line,
        specs[0] if specs else None,
        shlex.split(command.group(1)),
        int(command.group(2)),
        output.group(1),
        fixed.group(1) if fixed else None,
    )


EXAMPLES = examples()


# --- what some examples need besides their spec ----------------------------------------------------


def _partial_weights(directory: pathlib.Path) -> None:
    import numpy as np

    # Only the convolution's weight: the archive lacks conv1.bias, fc1.weight and fc1.bias.
    np.savez(directory / "partial.npz", **{"conv1.weight": np.zeros((8, 3, 3, 3), np.float32)})


def _mnist_sized_input(directory: pathlib.Path) -> None:
    import numpy as np

    np.save(directory / "x.npy", np.zeros((1, 1, 28, 28), np.float32))


def _corrupt_model(directory: pathlib.Path) -> None:
    (directory / "corrupt.onnx").write_bytes(b"not a model")


def _specs_directory(directory: pathlib.Path) -> None:
    (directory / "specs").mkdir()


def _renamed_spec(directory: pathlib.Path) -> None:
    """E603's B: the example's network with none of its names."""
    (directory / "b.cnn").write_text(
        "input 3x32x32\nfeatures: conv 3x3 8 pad 1 relu -> reduce: pool 2 -> vector: flatten -> classifier: fc 10\n"
    )


def _onnx_model(builder: str, *arguments: object, **attributes: object) -> Callable[[pathlib.Path], None]:
    """A file writer: `model.onnx`, built by `builder` of tests/onnx_models.py (imported when an
    example runs: onnx takes a second to import)."""

    def write(directory: pathlib.Path) -> None:
        from tests import onnx_models

        model = getattr(onnx_models, builder)(*arguments, **attributes)
        (directory / "model.onnx").write_bytes(model.SerializeToString())

    return write


def _no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page shows a CPU-only onnxruntime wheel's providers; make any machine answer so."""
    ort = pytest.importorskip("onnxruntime")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])


def _calibration_data(directory: pathlib.Path) -> None:
    """E802-E806's files: an empty samples/ folder, calibration arrays that do not fit the 1x8x8
    model, and trained weights with one convolution weight past float16's range."""
    import numpy as np

    rng = np.random.default_rng(0)
    (directory / "samples").mkdir()
    np.save(directory / "rgb.npy", rng.random((100, 3, 8, 8), dtype=np.float32))
    with_nan = rng.random((100, 1, 8, 8), dtype=np.float32)
    with_nan[41, 0, 2, 5] = np.nan
    np.save(directory / "nan.npy", with_nan)
    np.save(directory / "few.npy", rng.random((4, 1, 8, 8), dtype=np.float32))
    weights = {
        "conv1.weight": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "conv1.bias": np.zeros(4, np.float32),
        "fc1.weight": rng.standard_normal((10, 64)).astype(np.float32),
        "fc1.bias": np.zeros(10, np.float32),
    }
    weights["conv1.weight"][0, 0, 1, 1] = 1e5
    np.savez(directory / "big.npz", **weights)


def _readme_in_models(directory: pathlib.Path) -> None:
    """E811's folder: not a model repository."""
    (directory / "models").mkdir()
    (directory / "models" / "README.md").write_text("notes\n")


def _older_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """E813 as Python 3.11 shows it, whatever Python runs the test."""
    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))


def _serve_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past E813, where PyTriton cannot run: E814 and E815 come before the server starts."""
    from cnndsl.deploy import serve

    monkeypatch.setattr(serve, "pytriton_problem", lambda: None)


def _port_8000_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """E814: a listener on 127.0.0.1:8000 for the example's run (unless something else has the port)."""
    import socket

    _serve_can_run(monkeypatch)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", 8000))
        listener.listen()
    except OSError:  # in use already: the example's point
        listener.close()
        return
    monkeypatch.setattr(_CLOSED_ON_UNDO, "listener", listener, raising=False)


class _ClosedOnUndo:
    """Holds what an example opens: monkeypatch's undo removes the attribute, which closes it."""

    def __delattr__(self, name: str) -> None:
        getattr(self, name).close()
        super().__delattr__(name)


_CLOSED_ON_UNDO = _ClosedOnUndo()


class Fixture(NamedTuple):
    files: Callable[[pathlib.Path], None] | None = None
    environment: Callable[[pytest.MonkeyPatch], None] | None = None
    needs: tuple[str, ...] = ()  # modules the command imports; skipped where not installed


FIXTURES: dict[str, Fixture] = {
    "E105": Fixture(files=_specs_directory),
    "E501": Fixture(needs=("numpy",)),
    "E502": Fixture(files=_partial_weights, needs=("numpy",)),
    "E503": Fixture(needs=("numpy",)),
    "E504": Fixture(needs=("numpy", "onnx")),
    "E505": Fixture(environment=_no_cuda, needs=("numpy", "onnxruntime")),
    "E506": Fixture(files=_corrupt_model, needs=("onnxruntime",)),
    "E507": Fixture(files=_mnist_sized_input, needs=("numpy", "onnxruntime")),
    "E509": Fixture(needs=("numpy",)),
    "E603": Fixture(files=_renamed_spec),
    "E702": Fixture(files=_onnx_model("data_outside_the_directory"), needs=("onnx",)),
    "E703": Fixture(files=_onnx_model("chain", [("Relu", "relu1")], None), needs=("onnx",)),
    "E704": Fixture(
        files=_onnx_model("chain", [("Cos", "cos1"), ("Relu", "relu1"), ("Cos", "cos2")], ["N", 3, 8, 8]),
        needs=("onnx",),
    ),
    "E705": Fixture(files=_onnx_model("chain", [("Relu", "relu1")], ["N", 3, "H", "W"]), needs=("onnx",)),
    "E706": Fixture(files=_onnx_model("chain", [("Softmax", "softmax1")], ["N", 3, 8, 8], axis=2), needs=("onnx",)),
    "E801": Fixture(needs=("numpy", "onnx")),
    "E802": Fixture(files=_calibration_data, needs=("numpy",)),
    "E803": Fixture(files=_calibration_data, needs=("numpy",)),
    "E804": Fixture(files=_calibration_data, needs=("numpy",)),
    "E805": Fixture(files=_calibration_data, needs=("numpy",)),
    "E806": Fixture(files=_calibration_data, needs=("numpy", "onnx", "onnxruntime")),
    "E807": Fixture(needs=("numpy", "onnx", "onnxruntime")),
    "E811": Fixture(files=_readme_in_models, needs=("numpy", "onnx")),
    "E812": Fixture(needs=("numpy", "onnx")),
    "E813": Fixture(environment=_older_python),
    "E814": Fixture(environment=_port_8000_in_use, needs=("numpy",)),
    "E815": Fixture(environment=_serve_can_run, needs=("numpy",)),
}

# Mismatches that come from work in progress elsewhere, each with its reason; re-check when it lands.
PENDING: dict[str, str] = {}


def _spec_bytes(spec: str) -> bytes:
    """The spec as a file holds it: `<byte 0xNN>` stands for one raw byte the page cannot show."""
    parts = RAW_BYTE.split(spec)
    return b"".join(bytes([int(part, 16)]) if i % 2 else part.encode("utf-8") for i, part in enumerate(parts))


def _spec_file(argv: list[str]) -> str:
    """The spec's file name: the first .cnn path on the command line (inside `python -c` code too)."""
    return SPEC_PATH.search(" ".join(argv)).group(0)


def _run(argv: list[str], directory: pathlib.Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Exit status and what a terminal shows: standard error (diagnostics), then standard output."""
    if argv[0] == "cnndsl":
        status = main(argv[1:])
        captured = capsys.readouterr()
        return status, captured.err + captured.out
    # `python -c` changes module state (a limit) for that one run: a child keeps it from other tests.
    child = subprocess.run([sys.executable, *argv[1:]], cwd=directory, capture_output=True, text=True, timeout=120)
    return child.returncode, child.stderr + child.stdout


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(e, id=e.code, marks=[pytest.mark.xfail(reason=PENDING[e.code])] if e.code in PENDING else [])
        for e in EXAMPLES
    ],
)
def test_example_prints_what_the_docs_show(example, tmp_path, monkeypatch, capsys):
    assert example.problem is None, f"docs/diagnostics.md:{example.line}: {example.code} has {example.problem}"
    fixture = FIXTURES.get(example.code, Fixture())
    for module in fixture.needs:
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    if example.spec is not None:
        (tmp_path / _spec_file(example.argv)).write_bytes(_spec_bytes(example.spec))
    if fixture.files:
        fixture.files(tmp_path)
    if fixture.environment:
        fixture.environment(monkeypatch)

    status, shown = _run(example.argv, tmp_path, capsys)

    where = f"docs/diagnostics.md:{example.line} ({example.code})"
    assert _normalised(shown) == _normalised(example.output), where
    assert status == example.exit_code, where


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.fix is not None], ids=lambda e: e.code)
def test_fix_clears_the_diagnostic(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.cnn").write_bytes(_spec_bytes(example.fix))
    try:
        model = cnndsl.check_file("example.cnn")
    except CnnError as failure:
        pytest.fail(
            f"docs/diagnostics.md:{example.line}: the fix for {example.code} fails: "
            + "; ".join(f"{d.code} {d.message}" for d in failure.diagnostics)
        )
    assert example.code not in [w.code for w in model.warnings]


def test_every_code_section_is_an_example():
    # The heading pattern must not silently miss sections: every code the page documents is run.
    headings = re.findall(r"^#{2,3} ([EW]\d{3})\b", DOCS.read_text(encoding="utf-8"), flags=re.M)
    assert sorted(headings) == sorted(e.code for e in EXAMPLES)
    assert len(EXAMPLES) >= 40
