"""`cnndsl export --to keras`: the generated functional model is the compiled ONNX model, channels last.

For each spec: the model's trainable and non-trainable counts are the checker's; with the compiled
model's weights (random batch-norm statistics) loaded by the generated `load_cnndsl_weights`, its
inference outputs are ONNX Runtime's (input NCHW -> NHWC, outputs back; relative error at most 1e-4);
`save_cnndsl_weights` gives back exactly the .npz it loaded. A kind Keras lacks is E510, located.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import cnndsl
from cnndsl.diagnostics import render_text
from cnndsl.export import write_export
from cnndsl.export.keras import keras_source

os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras", reason="Keras 3 is an optional extra")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tests.test_export_pytorch import with_random_statistics  # noqa: E402 - after the backend is chosen

SPECS = Path(__file__).resolve().parent.parent / "specs"
REPRESENTATIVE = ["lenet5", "resnet18", "mobilenet_v3_small", "squeezenet1_0", "audio1d", "video3d"]


def compare(model: cnndsl.CheckedModel, tmp_path: Path, batch: int = 1) -> None:
    generated = _generated(model)
    network = generated.build_model()
    trainable = sum(int(np.prod(w.shape)) for w in network.trainable_weights)
    fixed = sum(int(np.prod(w.shape)) for w in network.non_trainable_weights)
    assert (trainable, fixed) == (model.trainable_params, model.non_trainable_params)

    proto = cnndsl.compile_model(model, seed=0)
    weights = with_random_statistics(proto)
    np.savez(tmp_path / "w.npz", **weights)
    generated.load_cnndsl_weights(network, str(tmp_path / "w.npz"))
    generated.save_cnndsl_weights(network, str(tmp_path / "back.npz"))
    with np.load(tmp_path / "back.npz") as back:
        assert set(back.files) == set(weights)
        for name, array in weights.items():
            np.testing.assert_array_equal(back[name], array)

    for initializer in proto.graph.initializer:
        initializer.CopyFrom(onnx.numpy_helper.from_array(weights[initializer.name], initializer.name))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = np.random.default_rng(1).standard_normal((batch, *model.graph.input_shape), dtype=np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: feed})
    actual = network(np.moveaxis(feed, 1, -1), training=False)
    actual = actual if isinstance(actual, (list, tuple)) else [actual]
    for want, got in zip(expected, actual, strict=True):
        got = np.moveaxis(keras.ops.convert_to_numpy(got), -1, 1)
        assert got.shape == want.shape
        scale = max(float(np.abs(want).max()), 1e-6)
        assert float(np.abs(got - want).max()) / scale <= 1e-4


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_representative_specs(name: str, tmp_path: Path) -> None:
    compare(cnndsl.check_file(str(SPECS / f"{name}.cnn")), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.cnn")), ids=lambda path: path.stem)
def test_every_spec_keras_has(spec: Path, tmp_path: Path) -> None:
    model = cnndsl.check_file(str(spec))
    try:
        keras_source(model)
    except cnndsl.CnnError as failure:
        assert {d.code for d in failure.diagnostics} == {"E510"}
        pytest.skip(f"a layer Keras has no form for: {failure.diagnostics[0].message}")
    compare(model, tmp_path)


def test_a_kind_keras_lacks_is_located_and_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    # Every kind has a Keras form today: a kind's is taken away to see what a kind without one gets.
    from cnndsl.layers.scale import Scale

    monkeypatch.delattr(Scale, "keras_code")
    spec = tmp_path / "net.cnn"
    spec.write_text("input 3x8x8\nconv 3 4 pad 1\nscale 0.5\n")
    output = tmp_path / "net.py"
    with pytest.raises(cnndsl.CnnError) as failure:
        write_export(cnndsl.check_file(str(spec)), "keras", str(output))
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E510" and "keras" in diagnostic.message and "'scale'" in diagnostic.message
    assert render_text(diagnostic).startswith(f"{spec}:3:1:")
    assert not output.exists()


# A spec that uses every helper class the generated file can hold, and Keras's layers with the
# conversions between layouts (grouped transposed convolution, PReLU, the norms).
HELPERS_SPEC = """input 4x12x12
a = conv 3/2 8 pad 2 mode reflect dilation 2 leakyrelu 0.1
b: upconv 3/2 8 pad 1 output_padding 1 groups 2 nobias relu
c: convtranspose 2/2 8 pad 0,1
avgpool 3/2 pad 1 ceil exclude_pad
droppath 0.2
layerscale 0.5
shuffle 2
lrn 3
gelu tanh
split 2 part 0
instancenorm affine
upsample 2 linear
prelu
groupnorm 2
scale 0.5
e = upsample 2
f = conv 3 8 pad 1,0 mode circular
g = crop e f
h = resize_nearest g a
h -> layernorm -> pool max 3/2 pad 1 ceil
"""


def test_every_helper_computes_what_onnx_runtime_does(tmp_path: Path) -> None:
    compare(cnndsl.check_text(HELPERS_SPEC, "helpers.cnn"), tmp_path, batch=2)


def test_a_model_with_every_helper_saves_and_reloads(tmp_path: Path) -> None:
    generated = _generated(cnndsl.check_text(HELPERS_SPEC, "helpers.cnn"))
    network = generated.build_model()
    network.save(tmp_path / "helpers.keras")
    helpers = {
        name: value
        for name, value in vars(generated).items()
        if isinstance(value, type) and issubclass(value, keras.layers.Layer)
    }
    assert len(helpers) == 12
    reloaded = keras.models.load_model(tmp_path / "helpers.keras", custom_objects=helpers)
    feed = np.random.default_rng(0).standard_normal((2, 12, 12, 4), dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(feed)), keras.ops.convert_to_numpy(network(feed)))


# Hand-crafted kernels: a Sobel filter, and a depthwise one per channel.
LITERAL_SPEC = """input 1x8x8
conv 3 1 pad 1 weights [[1 2 1] [0 0 0] [-1 -2 -1]] / 4
conv 1 2
conv 3 2 groups 2 weights [[[[0 1 0] [1 -4 1] [0 1 0]]] [[[1 0 -1] [2 0 -2] [1 0 -1]]]]
"""


def test_a_literal_kernel_is_the_initial_fixed_value(tmp_path: Path) -> None:
    model = cnndsl.check_text(LITERAL_SPEC.replace("conv 1 2", "conv 1 2 weights [[[[1]]] [[[-1]]]]"), "sobel.cnn")
    generated = _generated(model)
    network = generated.build_model()  # no weights loaded: the literal is the layer's from the start
    assert not network.trainable_weights
    session = ort.InferenceSession(cnndsl.compile_model(model).SerializeToString(), providers=["CPUExecutionProvider"])
    feed = np.random.default_rng(0).standard_normal((2, 1, 8, 8), dtype=np.float32)
    (expected,) = session.run(None, {session.get_inputs()[0].name: feed})
    assert expected.shape == (2, 2, 6, 6)
    actual = keras.ops.convert_to_numpy(network(np.moveaxis(feed, 1, -1)))
    np.testing.assert_allclose(np.moveaxis(actual, -1, 1), expected, rtol=1e-5, atol=1e-6)


def test_drop_path_drops_whole_samples_while_training_only() -> None:
    generated = _generated(cnndsl.check_text("input 4x3x3\ndroppath 0.5\n", "droppath.cnn"))
    network = generated.build_model()
    ones = np.ones((256, 3, 3, 4), dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(network(ones, training=False)), ones)
    trained = keras.ops.convert_to_numpy(network(ones, training=True))
    per_sample = {float(v) for v in np.unique(trained.reshape(256, -1), axis=0).ravel()}
    assert per_sample == {0.0, 2.0}  # each sample wholly dropped or scaled by 1 / (1 - 0.5)
    assert 64 < int((trained[:, 0, 0, 0] == 0).sum()) < 192


def _generated(model: cnndsl.CheckedModel) -> types.ModuleType:
    generated = types.ModuleType(f"generated_{model.name}")
    exec(compile(keras_source(model), f"{model.name}.py", "exec"), generated.__dict__)
    return generated


@pytest.mark.skipif(shutil.which("ruff") is None and not Path(sys.prefix, "bin", "ruff").exists(), reason="no ruff")
def test_generated_source_passes_ruff(tmp_path: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.prefix, "bin", "ruff"))
    for name in REPRESENTATIVE:
        (tmp_path / f"{name}.py").write_text(keras_source(cnndsl.check_file(str(SPECS / f"{name}.cnn"))))
    (tmp_path / "helpers.py").write_text(keras_source(cnndsl.check_text(HELPERS_SPEC, "helpers.cnn")))
    (tmp_path / "literal.py").write_text(keras_source(cnndsl.check_text(LITERAL_SPEC, "literal.cnn")))
    config = ["--no-cache", "--config", str(SPECS.parent / "pyproject.toml")]
    for command in (["check", *config], ["format", "--check", "--diff", *config]):
        result = subprocess.run([ruff, *command, str(tmp_path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
