"""`cnndsl weights --layout keras` and `--from keras`: a compiled model's weights to the Keras model
`cnndsl export --to keras` builds, and back into `cnndsl compile --weights`, as a user runs them.

ONNX -> Keras's layout -> a built Keras model (set_weights) -> its outputs are ONNX Runtime's ->
its weights back to the spec's layout -> compile --weights -> the same initializers. An archive
that does not fit the spec's Keras model is a located E502 and nothing is written.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.cli.export_options import LAYOUT_NAMES
from cnndsl.export.keras import keras_source
from cnndsl.export.weights import LAYOUTS

os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras", reason="Keras 3 is an optional extra")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Every conversion the layouts differ by: a kernel's axes (conv, grouped and depthwise, transposed
# in groups), a dense layer's, batch norm's four arrays, reshaped factors (PReLU, layer scale).
SPEC = """input 3x16x16
conv1: conv 3 8 pad 1 nobias -> bn1: bn -> relu
conv 3 8 pad 1 groups 8
conv 3/2 16 pad 1 groups 2 nobias
prelu -> layerscale 0.5 -> groupnorm 4
upconv 2/2 8 groups 2
pool avg global -> flatten -> fc 10
"""


def cli(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


@pytest.fixture
def compiled(tmp_path: Path) -> tuple[Path, Path]:
    """The spec and its compiled model, with every weight drawn at random (variances positive)."""
    spec = tmp_path / "net.cnn"
    spec.write_text(SPEC)
    model = cnndsl.check_file(str(spec))
    rng = np.random.default_rng(0)
    arrays = {}
    for node, layer in model.graph.layer_nodes():
        for weight in layer.parameters([model.shapes[p] for p in node.inputs]):
            arrays[f"{node.name}.{weight.name}"] = rng.uniform(0.5, 1.5, weight.shape).astype(np.float32)
    np.savez(tmp_path / "drawn.npz", **arrays)
    assert cli("compile", spec, "-o", tmp_path / "net.onnx", "--weights", tmp_path / "drawn.npz") == 0
    return spec, tmp_path / "net.onnx"


def test_the_cli_and_the_package_name_the_same_layouts():
    assert LAYOUT_NAMES == LAYOUTS


def test_weights_go_to_keras_and_back_unchanged(compiled: tuple[Path, Path], tmp_path: Path) -> None:
    spec, onnx_path = compiled
    assert cli("weights", onnx_path, "--layout", "keras", "--spec", spec, "-o", tmp_path / "keras.npz") == 0

    model = cnndsl.check_file(str(spec))
    generated = types.ModuleType("net")
    exec(compile(keras_source(model), "net.py", "exec"), generated.__dict__)
    network = generated.build_model()
    with np.load(tmp_path / "keras.npz") as arrays:
        assert set(arrays.files) == {variable.path for variable in network.weights}
        for layer in network.layers:
            layer.set_weights([arrays[variable.path] for variable in layer.weights])

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feed = np.random.default_rng(1).standard_normal((2, 3, 16, 16), dtype=np.float32)
    (expected,) = session.run(None, {session.get_inputs()[0].name: feed})
    actual = keras.ops.convert_to_numpy(network(np.moveaxis(feed, 1, -1), training=False))
    assert float(np.abs(actual - expected).max()) <= 1e-4 * float(np.abs(expected).max())

    trained = {variable.path: keras.ops.convert_to_numpy(variable.value) for variable in network.weights}
    np.savez(tmp_path / "trained_keras.npz", **trained)
    back = tmp_path / "back.npz"
    assert cli("weights", tmp_path / "trained_keras.npz", "--from", "keras", "--spec", spec, "-o", back) == 0
    assert cli("compile", spec, "-o", tmp_path / "again.onnx", "--weights", back) == 0
    before, after = (onnx.load(str(path)).graph.initializer for path in (onnx_path, tmp_path / "again.onnx"))
    assert [i.name for i in before] == [i.name for i in after]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(old), onnx.numpy_helper.to_array(new))


def test_an_archive_that_does_not_fit_the_keras_model_is_located(
    compiled: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, onnx_path = compiled
    assert cli("weights", onnx_path, "--layout", "keras", "--spec", spec, "-o", tmp_path / "keras.npz") == 0
    with np.load(tmp_path / "keras.npz") as loaded:
        arrays = dict(loaded)
    arrays.pop("bn1/moving_variance")
    arrays["conv1/kernel"] = arrays["conv1/kernel"].transpose(3, 2, 0, 1)  # left in the spec's layout
    arrays["conv1/kernal"] = arrays["bn1/gamma"]
    np.savez(tmp_path / "bad.npz", **arrays)
    capsys.readouterr()
    output = tmp_path / "back.npz"
    assert cli("weights", tmp_path / "bad.npz", "--from", "keras", "--spec", spec, "-o", output) == 1
    errors = capsys.readouterr().err
    assert "net.cnn:2:33: error[E502]: 'bad.npz' has no array 'bn1/moving_variance' (8)" in errors.replace(
        str(tmp_path) + os.sep, ""
    )
    assert "array 'conv1/kernel' in" in errors and "has shape 8x3x3x3, but 'conv1' needs 3x3x3x8" in errors
    assert "has an array 'conv1/kernal' that is not a Keras variable of this model" in errors
    assert "Traceback" not in errors and not output.exists()


def test_keras_layout_needs_the_spec_and_an_archive(compiled: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    spec, onnx_path = compiled
    output = tmp_path / "w.npz"
    assert cli("weights", onnx_path, "--layout", "keras", "-o", output) == 2
    assert "--spec" in capsys.readouterr().err
    assert cli("weights", onnx_path, "--from", "keras", "--spec", spec, "-o", output) == 2
    assert "--from keras is for an .npz archive" in capsys.readouterr().err
    assert cli("weights", tmp_path / "none.npz", "-o", output) == 2  # nothing to convert
    assert "onnx layout already" in capsys.readouterr().err
    assert cli("weights", onnx_path, "--layout", "keras", "--spec", spec, "-o", spec) == 1  # never over the spec
    assert "E503" in capsys.readouterr().err and spec.read_text() == SPEC
    assert not output.exists()
