"""`cnndsl export` and `cnndsl weights` from the command line, and the round trip a user makes:
generate a LeNet-style module, train it in PyTorch on scikit-learn's 8x8 digits, save its
state_dict as .npz, `cnndsl compile --weights`, and get ONNX Runtime's predictions equal to PyTorch's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.cli.export_options import TARGET_NAMES
from cnndsl.export import TARGETS
from tests.digits import DIGITS_SPEC, train_digits


def test_the_parser_names_the_export_packages_targets():
    assert TARGET_NAMES == TARGETS


def test_export_writes_the_module_and_refuses_the_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS_SPEC)
    assert main(["export", str(spec), "--to", "pytorch", "-o", str(tmp_path / "digits.py")]) == 0
    assert (tmp_path / "digits.py").read_text() == cnndsl.export(str(spec))
    assert main(["export", str(spec)]) == 0
    assert "class Digits(nn.Module):" in capsys.readouterr().out
    assert main(["export", str(spec), "-o", str(spec)]) == 1
    assert "E503" in capsys.readouterr().err and spec.read_text() == DIGITS_SPEC
    assert main(["export", str(spec), "-o", str(tmp_path)]) == 1
    assert "E503" in capsys.readouterr().err


def test_a_layer_pytorch_cannot_express_is_a_located_e510(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "uneven.cnn"
    spec.write_text("input 3x32x32\nsmooth: pool avg 3/2 pad 0,1 ceil\n")
    assert main(["export", str(spec), "-o", str(tmp_path / "uneven.py")]) == 1
    error = capsys.readouterr().err
    assert "uneven.cnn:2:1: error[E510]: cannot export 'smooth' to pytorch" in error
    assert not (tmp_path / "uneven.py").exists()


def test_nothing_in_check_or_compile_imports_the_export_package_or_torch(tmp_path: Path):
    import subprocess

    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS_SPEC)
    probe = (
        "import sys; from cnndsl.cli import main; "
        f"main(['check', {str(spec)!r}]); main(['compile', {str(spec)!r}, '-o', {str(tmp_path / 'm.onnx')!r}]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'keras') or 'cnndsl.export' in m))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_weights_refuses_its_input_and_what_is_not_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("onnx")
    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS_SPEC)
    model = tmp_path / "digits.onnx"
    assert main(["compile", str(spec), "-o", str(model)]) == 0
    assert main(["weights", str(model), "-o", str(model)]) == 1
    assert "E503" in capsys.readouterr().err
    assert main(["weights", str(spec), "-o", str(tmp_path / "w.npz")]) == 1
    assert "E501" in capsys.readouterr().err
    assert main(["weights", str(model), "-o", str(tmp_path / "w.npz")]) == 0
    checked = cnndsl.check_file(str(spec))
    assert sorted(np.load(tmp_path / "w.npz")) == sorted(
        f"{node.name}.{weight.name}"
        for node, layer in checked.graph.layer_nodes()
        for weight in layer.parameters([checked.shapes[p] for p in node.inputs])
    )


def test_train_on_digits_then_compile_the_trained_weights(tmp_path: Path):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn.datasets")

    digits = train_digits()
    assert digits.accuracy(digits.logits) >= 0.95
    images, held_out, logits, network = digits.images, digits.held_out, digits.logits, digits.network

    assert main(["compile", str(digits.spec), "--weights", str(digits.weights), "-o", str(tmp_path / "d.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(None, {session.get_inputs()[0].name: images[held_out]})
    assert (onnx_logits.argmax(1) == logits.argmax(1)).all()
    assert float(np.abs(onnx_logits - logits).max()) <= 1e-4

    # And back: the compiled model's weights load into a fresh module and give the same outputs.
    assert main(["weights", str(tmp_path / "d.onnx"), "-o", str(tmp_path / "back.npz")]) == 0
    fresh = network()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(tmp_path / "back.npz").items()})
    with torch.no_grad():
        assert torch.equal(fresh.eval()(torch.from_numpy(images[held_out])), torch.from_numpy(logits))
