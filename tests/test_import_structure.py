"""`cnndsl import` recovers structure: residual and concat paths as constructs, repeated units as
blocks called in `repeat`, and the weights keyed by the structured spec's names still give the
original outputs. The torchvision models are exported by torch.onnx's TorchScript exporter."""

from __future__ import annotations

import pathlib
import re

import pytest

import cnndsl
from cnndsl.cli import main

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tests.test_import import _assert_same_outputs, _files_removed_after, _round_trip  # noqa: E402, F401

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _lines(spec: pathlib.Path) -> list[str]:
    """The spec's lines that are neither blank nor comments."""
    return [line for line in spec.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]


def _import_torchvision(name: str, directory: pathlib.Path) -> pathlib.Path:
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("benchmarks.torchvision_models")
    exported = directory / "model.onnx"
    x = torch.randn(2, 3, 224, 224)
    torch.onnx.export(tv.build(name).eval(), (x,), str(exported), dynamo=False, input_names=["x"])
    spec, weights = directory / "model.cnn", directory / "model.npz"
    assert main(["import", str(exported), "-o", str(spec), "--weights-out", str(weights), "-q"]) == 0
    from cnndsl.onnx import compile_file

    compile_file(cnndsl.check_file(spec), directory / "again.onnx", weights=weights)
    _assert_same_outputs(exported, directory / "again.onnx", (3, 224, 224))
    return spec


def test_resnet50_reads_within_twice_the_hand_written_lines(tmp_path):
    spec = _import_torchvision("resnet50", tmp_path)
    hand_written = _lines(ROOT / "specs" / "resnet50.cnn") + _lines(ROOT / "specs" / "lib" / "resnet.cnn")
    assert len(_lines(spec)) <= 2 * len(hand_written) == 58
    text = spec.read_text()
    assert "residual {" in text and "shortcut {" in text and "repeat 5 {" in text


@pytest.mark.slow
def test_googlenet_uses_one_inception_block_called_nine_times(tmp_path):
    text = _import_torchvision("googlenet", tmp_path).read_text()
    blocks = re.findall(r"^block (\w+)\(", text, flags=re.MULTILINE)
    assert len(blocks) == 1 and "concat {" in text
    assert len(re.findall(rf"-> {blocks[0]} ", text)) == 9


def test_a_graph_with_no_such_structure_is_written_flat(tmp_path):
    # a concatenation of the fork itself with a path from it (DenseNet's layer): no concat construct
    spec = "input 8x8x8\nnew = conv 3x3 8 pad 1\nconcat in new -> conv 1x1 4"
    _round_trip(cnndsl.check_text(spec), tmp_path)
    assert "written flat" in (tmp_path / "x.cnn").read_text()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[] if name == "resnet18" else [pytest.mark.slow])
        for name in ("resnet18", "resnet50", "googlenet", "mobilenet_v2")
    ],
)
def test_our_compiled_models_import_back_as_blocks(name, tmp_path):
    _round_trip(cnndsl.check_file(ROOT / "specs" / f"{name}.cnn"), tmp_path)
    text = (tmp_path / "x.cnn").read_text()
    assert re.search(r"^block \w+\(", text, flags=re.MULTILINE) and "written flat" not in text


def test_squeeze_excitation_gates_become_one_block(tmp_path):
    # the language's own example of a gate (docs/language.md), in residual units and alone
    spec = """input 16x16x16
block se(c, ratio=4) {
    gate = pool avg global -> conv 1 (c / ratio) relu -> conv 1 c hardsigmoid
    mul in gate
}
block unit(c) {
    residual { conv 3x3 c pad 1 -> relu -> se c }
}
conv 3x3 32 pad 1 -> se 32 -> unit 32 -> unit 32 -> conv 1x1 64 -> unit 64
"""
    _round_trip(cnndsl.check_text(spec), tmp_path)
    text = (tmp_path / "x.cnn").read_text()
    assert "written flat" not in text and len(re.findall(r"^block se\w*\(", text, flags=re.MULTILINE)) == 1
    assert "gate = pool avg global" in text and "mul in gate" in text
    # its widths a parameter and a multiple of it; the gate outside the units called as the block too
    assert "conv 1x1 c -> relu -> conv 1x1 (4 * c) -> hardsigmoid" in text and "-> se 8 ->" in text
