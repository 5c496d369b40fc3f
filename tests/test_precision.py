"""`cnndsl compile --precision fp16|int8`, `run`'s precision report and `run --compare`, on a
LeNet-style model trained on scikit-learn's digits (tests/digits.py): int8 calibrated on the
training split keeps the held-out accuracy within 1 point, fp16 within 0.1; and every bad input,
with its code, writing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.cli.precision_options import CALIBRATION_NAMES, IO_NAMES, PRECISION_NAMES
from cnndsl.deploy.calibration import CALIBRATION_METHODS, MIN_SAMPLES, Calibration
from cnndsl.deploy.precision import IO_TYPES, PRECISIONS, convert
from tests.digits import DIGITS_SPEC, train_digits

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

SMALL_SPEC = "input 1x8x8\nconv1: conv 3x3 4 pad 1 relu -> pool 2 -> flatten -> fc1: fc 10\n"
WIDE_SPEC = "input 1x8x8\nflatten -> fc 512 relu -> fc 10\n"  # 38,410 parameters, 154 kB in fp32


def test_the_parser_offers_what_deploy_does():
    assert (PRECISION_NAMES, CALIBRATION_NAMES, IO_NAMES) == (PRECISIONS, CALIBRATION_METHODS, IO_TYPES)


def _logits(path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    fed = images.astype(np.float16) if graph_input.type == "tensor(float16)" else images
    return np.asarray(session.run(None, {graph_input.name: fed})[0], dtype=np.float32)


def test_a_trained_model_keeps_its_accuracy_in_fp16_and_int8(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn.datasets")
    digits = train_digits()
    np.save(tmp_path / "train.npy", digits.images[digits.train])
    held_out = digits.images[digits.held_out]
    compiled = {}
    for precision, options in (
        ("fp32", []),
        ("fp16", ["--precision", "fp16"]),
        ("int8", ["--precision", "int8", "--calibrate", str(tmp_path / "train.npy")]),
    ):
        compiled[precision] = tmp_path / f"digits_{precision}.onnx"
        argv = ["compile", str(digits.spec), "--weights", str(digits.weights), "-o", str(compiled[precision]), "-q"]
        assert main(argv + options) == 0
    accuracy = {precision: digits.accuracy(_logits(path, held_out)) for precision, path in compiled.items()}
    assert accuracy["fp32"] >= 0.95
    assert accuracy["fp32"] - accuracy["int8"] <= 0.01, accuracy
    assert accuracy["fp32"] - accuracy["fp16"] <= 0.001, accuracy
    # fp16 stores weights in two bytes, int8 in one, plus (a tenth, in a model this small) the scales
    # and zero points of every channel and tensor
    sizes = {precision: path.stat().st_size for precision, path in compiled.items()}
    assert sizes["fp16"] < 0.6 * sizes["fp32"] and sizes["int8"] < 0.5 * sizes["fp32"], sizes

    # run reads the precision from each file, and compares int8 with fp32 on the held-out images
    np.save(tmp_path / "held_out.npy", held_out)
    capsys.readouterr()
    for precision, path in compiled.items():
        assert main(["run", str(path), "--format", "json", "--repeat", "1"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["precision"], report["model_bytes"]) == (precision, path.stat().st_size)
    argv = ["run", str(compiled["int8"]), "--input", str(tmp_path / "held_out.npy"), "--compare", str(compiled["fp32"])]
    assert main([*argv, "--repeat", "2", "--format", "json"]) == 0
    comparison = json.loads(capsys.readouterr().out)["compare"]
    (output,) = comparison["outputs"]
    assert output["samples"] == len(held_out) and output["top1_agreement"] >= 0.98
    assert 0 < output["max_abs_difference"] < np.abs(digits.logits).max() / 4  # logits, not probabilities
    assert comparison["speed_ratio"] > 0 and comparison["runs"] == 2


def test_run_converts_a_spec_and_compares_it_with_its_fp32_compile(tmp_path: Path, capsys: pytest.CaptureFixture):
    spec = tmp_path / "small.cnn"
    spec.write_text(SMALL_SPEC)
    np.save(tmp_path / "calibration.npy", np.random.default_rng(1).random((32, 1, 8, 8), dtype=np.float32))
    argv = ["run", str(spec), "--precision", "int8", "--calibrate", str(tmp_path / "calibration.npy")]
    assert main([*argv, "--compare", "fp32", "--batch", "4", "--repeat", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  precision int8, ") and lines[1].endswith("KiB")
    assert f"compare: with fp32 ({spec} compiled in memory), on the same input" in lines
    assert any(line.startswith("  fc1: max abs difference ") and "(4 samples)" not in line for line in lines)
    assert any("top-1 agreement" in line and "of 4 samples" in line for line in lines)
    assert any(line.startswith("  speed: int8 median ") and "3 interleaved runs each" in line for line in lines)


def test_fp16_keeps_float32_inputs_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "small.cnn"
    spec.write_text(SMALL_SPEC)
    for io, expected in ((None, onnx.TensorProto.FLOAT), ("fp16", onnx.TensorProto.FLOAT16)):
        output = tmp_path / f"io_{io}.onnx"
        assert (
            main(["compile", str(spec), "--precision", "fp16", "-o", str(output), *(["--io", io] if io else [])]) == 0
        )
        model = onnx.load(str(output))
        types = {v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
        assert types == {expected}
        assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.FLOAT16}
        assert f"fp16, {io or 'fp32'} inputs and outputs" in capsys.readouterr().out  # compile's result line
        assert main(["run", str(output), "--repeat", "1"]) == 0  # run feeds a float16 input itself
        fed = "float16" if io else "float32"
        assert f"input:   input 1x1x8x8 {fed}, random normal (seed 0)" in capsys.readouterr().out


def test_ops_that_overflow_float16_stay_float32():
    # LRN sums squares across channels: 300 squared is past float16's 65504
    model = cnndsl.check("input 4x4x4\nlrn 3\n")
    converted = convert(cnndsl.compile_model(model), "fp16")
    assert "LRN" in {node.op_type for node in converted.graph.node}
    lrn = next(node for node in converted.graph.node if node.op_type == "LRN")
    produced = {node.output[0]: node.op_type for node in converted.graph.node}
    assert produced.get(lrn.input[0]) == "Cast"  # fed back in float32
    session = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.full((1, 4, 4, 4), 300.0, np.float32)
    assert np.isfinite(session.run(None, {"input": x})[0]).all()


def test_summary_shows_the_parameters_size_in_the_precision(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "small.cnn"
    spec.write_text(SMALL_SPEC)
    params = cnndsl.check_file(str(spec)).total_params
    assert main(["summary", str(spec), "--precision", "int8"]) == 0
    assert f"Params size (int8): {params / 1e6:,.2f} MB, about" in capsys.readouterr().out
    assert main(["summary", str(spec), "--precision", "fp16", "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["precision"], figures["precision_params_bytes"]) == ("fp16", 2 * params)


def test_int8_past_protobufs_limit_goes_through_external_data(monkeypatch: pytest.MonkeyPatch):
    from cnndsl.onnx import protobuf

    model = cnndsl.check(WIDE_SPEC)
    proto = cnndsl.compile_model(model)
    # the fp32 model is over the (lowered) limit; its int8 form, a quarter of it, is under
    monkeypatch.setattr(protobuf, "PROTOBUF_LIMIT", proto.ByteSize() - 1)
    samples = np.random.default_rng(0).random((MIN_SAMPLES, 1, 8, 8), dtype=np.float32)
    converted = convert(proto, "int8", calibration=Calibration(samples, "samples"))
    assert "QuantizeLinear" in {node.op_type for node in converted.graph.node}
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in converted.graph.initializer)


# --- bad input ------------------------------------------------------------------------------------


def _calibration_files(directory: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(directory / "good.npy", rng.random((20, 1, 8, 8), dtype=np.float32))
    np.save(directory / "few.npy", rng.random((3, 1, 8, 8), dtype=np.float32))
    np.save(directory / "rgb.npy", rng.random((20, 3, 8, 8), dtype=np.float32))
    np.save(directory / "bytes.npy", np.zeros((20, 1, 8, 8), np.uint8))
    with_nan = rng.random((20, 1, 8, 8), dtype=np.float32)
    with_nan[7, 0, 3, 3] = np.inf
    np.save(directory / "nan.npy", with_nan)
    np.savez(directory / "two.npz", x=with_nan, y=np.arange(20))
    np.savez(directory / "one.npz", rng.random((20, 1, 8, 8), dtype=np.float32))
    (directory / "empty").mkdir()
    (directory / "folder").mkdir()
    for index in range(MIN_SAMPLES):  # one sample per file, without the batch axis
        np.save(directory / "folder" / f"{index:03}.npy", rng.random((1, 8, 8), dtype=np.float32))
    (directory / "text.npy").write_text("not an array")


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (["--precision", "int8"], "E801", "int8 quantization needs calibration data"),
        (["--precision", "int8", "--calibrate", "missing.npy"], "E802", "cannot read calibration data"),
        (["--precision", "int8", "--calibrate", "empty"], "E802", "holds no .npy file"),
        (["--precision", "int8", "--calibrate", "text.npy"], "E802", "cannot read calibration data 'text.npy'"),
        (["--precision", "int8", "--calibrate", "two.npz"], "E802", "holds 2 arrays (x, y); it must hold one"),
        (["--precision", "int8", "--calibrate", "rgb.npy"], "E803", "has shape 20x3x8x8, but the model's input is"),
        (["--precision", "int8", "--calibrate", "bytes.npy"], "E803", "holds uint8 values"),
        (["--precision", "int8", "--calibrate", "nan.npy"], "E804", "in 1 of 20 samples (first: sample 7)"),
        (["--precision", "int8", "--calibrate", "few.npy"], "E805", "holds 3 samples; int8 calibration needs"),
        (["--precision", "int8", "--calibrate", "good.npy", "--batch", "32"], "E805", "fewer than the batch of 32"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("E") else None,
)
def test_bad_calibration_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], options, code, message
):
    monkeypatch.chdir(tmp_path)
    _calibration_files(tmp_path)
    Path("small.cnn").write_text(SMALL_SPEC)
    Path("model.onnx").write_bytes(b"the previous model")
    before = sorted(os.listdir(tmp_path))
    assert main(["compile", "small.cnn", "-o", "model.onnx", *options]) == 1
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and message in err, err
    assert Path("model.onnx").read_bytes() == b"the previous model" and sorted(os.listdir(tmp_path)) == before


def test_good_calibration_forms_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    _calibration_files(tmp_path)
    Path("small.cnn").write_text(SMALL_SPEC)
    for data in ("one.npz", "folder"):
        assert main(["compile", "small.cnn", "-o", "m.onnx", "--precision", "int8", "--calibrate", data, "-q"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compile", "small.cnn", "--precision", "int4"], "invalid choice: 'int4'"),
        (["compile", "small.cnn", "--calibrate", "good.npy"], "--calibrate is for --precision int8"),
        (["compile", "small.cnn", "--precision", "fp16", "--calibrate", "good.npy"], "--calibrate is for"),
        (["compile", "small.cnn", "--precision", "int8", "--calibration", "entropy"], "give the data too"),
        (["compile", "small.cnn", "--io", "fp16"], "give --precision fp16 too"),
        (["run", "model.onnx", "--precision", "int8"], "an .onnx file runs as it was compiled"),
        (["run", "model.onnx", "--compare", "fp32"], "does not say which fp32 model it came from"),
        (["run", "small.cnn", "--compare", "fp32"], "give --precision fp16 or int8"),
        (["run", "small.cnn", "--compare", "fp16"], "--compare takes fp32 or an .onnx model"),
    ],
)
def test_contradicting_options_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv, message
):
    monkeypatch.chdir(tmp_path)
    Path("small.cnn").write_text(SMALL_SPEC)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not Path("small.onnx").exists()


def test_weights_past_float16s_range_name_their_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "small.cnn"
    spec.write_text(SMALL_SPEC)
    model = cnndsl.check_file(str(spec))
    proto = cnndsl.compile_model(model)
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    weights["fc1.weight"] = weights["fc1.weight"].copy()
    weights["fc1.weight"][0, :3] = 1e6
    np.savez(tmp_path / "w.npz", **weights)
    argv = ["compile", str(spec), "--weights", str(tmp_path / "w.npz"), "--precision", "fp16"]
    assert main([*argv, "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:54: error[E806]: 'fc1.weight' holds 1e+06, past float16's largest value 65504" in err
    assert "3 of its 640 values are out of range" in err
    assert not (tmp_path / "m.onnx").exists()
    # int8 has no such limit: the same weights quantize
    np.save(tmp_path / "c.npy", np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32))
    argv = [*argv[:-2], "--precision", "int8", "--calibrate", str(tmp_path / "c.npy")]
    assert main([*argv, "-o", str(tmp_path / "m.onnx"), "-q"]) == 0


def test_a_converted_model_over_protobufs_limit_is_e807(tmp_path: Path, monkeypatch, capsys):
    from cnndsl.onnx import protobuf

    spec = tmp_path / "wide.cnn"
    spec.write_text(WIDE_SPEC)
    monkeypatch.setattr(protobuf, "PROTOBUF_LIMIT", 50_000)  # the fp32 model is 154 kB
    assert main(["compile", str(spec), "--precision", "fp16", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "float16 converter cannot read it" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["wide.cnn"]


def test_check_imports_no_onnx_nor_the_precision_tools(tmp_path: Path):
    spec = tmp_path / "digits.cnn"
    spec.write_text(DIGITS_SPEC)
    probe = (
        "import sys; from cnndsl.cli import main; "
        f"assert main(['check', {str(spec)!r}]) == 0; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime') "
        "or m.startswith(('cnndsl.deploy.precision', 'cnndsl.deploy.calibration'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _every_layer_example() -> list[Any]:
    """Each kind's examples at rank 2 (or its only rank), as the layer contract test builds them."""
    from cnndsl.layers import REGISTRY

    cases = []
    for kind in sorted(set(REGISTRY.values()), key=lambda kind: kind.kind):
        rank = 2 if 2 in kind.ranks else kind.ranks[0]
        for example in kind.examples:
            body = f"{example} in in" if kind.arity is None else example
            spec = f"input {'x'.join(map(str, (4, *[8] * rank)))}\n{body}\n"
            cases.append(pytest.param(kind.kind, spec, id=example.replace(" ", "_")))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "spec"), _every_layer_example())
def test_every_layer_kind_runs_in_fp16_and_int8(kind: str, spec: str):
    """No layer kind lacks an fp16 or an int8 form in ONNX Runtime on the CPU (E806 is about weights
    only): each example converts, loads and computes what fp32 does, within each format's error."""
    model = cnndsl.check(spec)
    proto = cnndsl.compile_model(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *model.input_shape), dtype=np.float32)
    calibration = Calibration(rng.standard_normal((MIN_SAMPLES, *model.input_shape), dtype=np.float32), "normal")

    def run(converted) -> np.ndarray:
        session = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"input": x})[0], dtype=np.float32)

    expected = run(proto)
    scale = float(np.abs(expected).max()) or 1.0
    fp16 = run(convert(proto, "fp16", model=model))
    # plus float16's step below its smallest normal value, 2**-24: LayerScale's 1e-6 lands there
    assert np.abs(fp16 - expected).max() <= 1e-2 * scale + 2**-24, kind
    int8 = run(convert(proto, "int8", calibration=calibration, model=model))
    assert np.abs(int8 - expected).max() <= 0.25 * scale, kind
