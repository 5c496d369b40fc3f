"""ONNX Runtime sessions and `cnndsl run`: devices, inputs, reports, clean stdout and errors.

Nothing here needs a GPU: CUDA-only tests skip when ONNX Runtime has no CUDA execution provider."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

import cnndsl
from cnndsl import onnx as cnndsl_onnx
from cnndsl import runtime
from cnndsl.diagnostics import CnnError

ort = pytest.importorskip("onnxruntime")

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALEXNET = ROOT / "specs" / "alexnet.cnn"
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="ONNX Runtime has no CUDA execution provider here")
needs_no_cuda = pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")

SPEC = """\
input 3x12x12
conv1: conv 3x3 6 pad 1 relu -> pool 2 -> flatten -> fc: fc 10
"""


@pytest.fixture
def spec(tmp_path) -> pathlib.Path:
    path = tmp_path / "tiny.cnn"
    path.write_text(SPEC)
    return path


def codes(failure) -> list[str]:
    return [d.code for d in failure.value.diagnostics]


# --- sessions ---------------------------------------------------------------------------------


def test_sessions_from_every_kind_of_model(spec, tmp_path):
    model = cnndsl.check_file(spec)
    onnx_path = cnndsl_onnx.compile_file(model, tmp_path / "tiny.onnx").path
    proto = cnndsl_onnx.compile_model(model)
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 12), dtype=np.float32)
    results = []
    for source in (str(spec), spec, SPEC, model, proto, proto.SerializeToString(), onnx_path, pathlib.Path(onnx_path)):
        session = cnndsl.create_session(source, device="cpu")
        assert session.get_providers()[0] == "CPUExecutionProvider"
        results.append(session.run(None, {"input": x})[0])
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_compile_options_reach_the_session(spec):
    session = cnndsl.create_session(spec, device="cpu", batch=4)
    assert session.get_inputs()[0].shape == [4, 3, 12, 12]
    other = cnndsl.create_session(spec, device="cpu", seed=1)
    x = np.ones((1, 3, 12, 12), np.float32)
    first = cnndsl.create_session(spec, device="cpu").run(None, {"input": x})[0]
    assert not np.array_equal(first, other.run(None, {"input": x})[0])


def test_auto_takes_cuda_only_when_a_session_really_runs_on_it(spec):
    session = cnndsl.create_session(spec, device="auto")
    assert session.get_providers()[0] == (
        "CUDAExecutionProvider"
        if HAS_CUDA and session.get_providers()[0] == "CUDAExecutionProvider"
        else "CPUExecutionProvider"
    )
    assert runtime.device_of(session) in ("cpu", "cuda")
    if not HAS_CUDA:
        assert runtime.device_of(session) == "cpu"


@needs_no_cuda
def test_cuda_without_cuda_is_a_clear_error(spec):
    with pytest.raises(CnnError) as failure:
        cnndsl.create_session(spec, device="cuda")
    assert codes(failure) == ["E505"]
    notes = " ".join(failure.value.diagnostics[0].notes)
    assert "CPUExecutionProvider" in notes


def test_unknown_device_is_a_programming_error(spec):
    with pytest.raises(ValueError):
        cnndsl.create_session(spec, device="tpu")


def test_corrupt_or_missing_onnx_files_are_diagnostics(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a model")
    for path in (bad, tmp_path / "missing.onnx", tmp_path):
        with pytest.raises(CnnError) as failure:
            runtime.run_file(str(path) if path != tmp_path else str(tmp_path) + ".onnx", device="cpu")
        assert codes(failure) == ["E506"]
    with pytest.raises(CnnError) as failure:
        cnndsl.create_session(bad, device="cpu")
    assert codes(failure) == ["E506"]


@needs_cuda
def test_cuda_session_matches_cpu():
    model = cnndsl.check_file(ALEXNET)
    proto = cnndsl_onnx.compile_model(model)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
    gpu = cnndsl.create_session(proto, device="cuda")
    assert gpu.get_providers()[0] == "CUDAExecutionProvider"
    cpu = cnndsl.create_session(proto, device="cpu")
    np.testing.assert_allclose(gpu.run(None, {"input": x})[0], cpu.run(None, {"input": x})[0], rtol=1e-3, atol=1e-4)


@needs_cuda
def test_cli_run_on_cuda():
    done = cli("run", str(ALEXNET), "--device", "cuda", "--repeat", "3")
    assert done.returncode == 0, done.stderr
    assert "device:  cuda (CUDAExecutionProvider)" in done.stdout


# --- run_file -----------------------------------------------------------------------------------


def test_run_report(spec):
    # fc without softmax gives logits: top-k only when asked for (then over their softmax)
    report = runtime.run_file(spec, device="cpu", batch=3, repeat=4, seed=2, top_k=5)
    assert report.device == "cpu" and report.input_shape == (3, 3, 12, 12)
    assert len(report.latencies) == 4 and report.median > 0
    (output,) = report.outputs
    assert output.name == "fc" and output.array.shape == (3, 10)
    assert len(output.top) == 3 and all(len(top) == 5 for top in output.top)
    assert output.softmaxed
    logits = output.array[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert [i for i, _ in output.top[0]] == list(np.argsort(-probabilities)[:5])
    assert output.top[0][0][1] == pytest.approx(probabilities.max())
    text = report.render()
    assert "device:  cpu (CPUExecutionProvider)" in text
    assert "input:   input 3x3x12x12 float32, random normal (seed 2)" in text
    assert "output:  fc 3x10 float32" in text and "top-5 sample 0:" in text
    assert "latency: median" in text and "over 4 runs" in text
    # the same seed gives the same input and outputs
    again = runtime.run_file(spec, device="cpu", batch=3, repeat=1, seed=2)
    np.testing.assert_array_equal(again.outputs[0].array, output.array)


def test_probabilities_are_not_softmaxed_again(tmp_path):
    path = tmp_path / "p.cnn"
    path.write_text("input 4\nfc 6 softmax\n")
    (output,) = runtime.run_file(path, device="cpu", repeat=1).outputs
    assert not output.softmaxed
    assert [p for _, p in output.top[0]] == pytest.approx(sorted(output.array[0], reverse=True)[:5])
    assert "outputs are probabilities" in "\n".join(output.render())


def test_non_classifier_outputs_get_statistics(tmp_path):
    path = tmp_path / "maps.cnn"
    path.write_text("input 1x8x8\nconv 3x3 2 pad 1\n")
    report = runtime.run_file(path, device="cpu", repeat=1)
    assert report.outputs[0].top == []
    assert "min " in report.render() and "top-" not in report.render()


def test_input_arrays(spec, tmp_path):
    x = np.random.default_rng(9).standard_normal((2, 3, 12, 12)).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    report = runtime.run_file(spec, device="cpu", input_path=tmp_path / "x.npy", repeat=1)
    assert report.input_shape == (2, 3, 12, 12)
    want = cnndsl.create_session(spec, device="cpu").run(None, {"input": x.astype(np.float32)})[0]
    np.testing.assert_array_equal(report.outputs[0].array, want)
    # a single sample may leave out the batch axis
    np.save(tmp_path / "one.npy", x[0])
    report = runtime.run_file(spec, device="cpu", input_path=tmp_path / "one.npy", repeat=1)
    assert report.input_shape == (1, 3, 12, 12)
    np.testing.assert_array_equal(report.outputs[0].array, want[:1])

    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 11, 12)))
    np.savez(tmp_path / "archive.npz", x=x)
    (tmp_path / "junk.npy").write_bytes(b"junk")
    for bad in ("wrong.npy", "archive.npz", "junk.npy", "absent.npy"):
        with pytest.raises(CnnError) as failure:
            runtime.run_file(spec, device="cpu", input_path=tmp_path / bad, repeat=1)
        assert codes(failure) == ["E507"], bad
    with pytest.raises(CnnError) as failure:
        runtime.run_file(spec, device="cpu", input_path=tmp_path / "x.npy", batch=5, repeat=1)
    assert codes(failure) == ["E507"]


def test_fixed_batch_models(spec, tmp_path):
    path = cnndsl_onnx.compile_file(cnndsl.check_file(spec), tmp_path / "b4.onnx", batch=4).path
    assert runtime.run_file(path, device="cpu", repeat=1).input_shape == (4, 3, 12, 12)
    with pytest.raises(CnnError) as failure:
        runtime.run_file(path, device="cpu", batch=2, repeat=1)
    assert codes(failure) == ["E507"]


def test_spec_errors_surface_as_diagnostics(tmp_path):
    path = tmp_path / "broken.cnn"
    path.write_text("input 3x8x8\nconv 9x9 4\n")
    with pytest.raises(CnnError) as failure:
        runtime.run_file(path, device="cpu")
    assert codes(failure) == ["E401"]


# --- the command line ---------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True)


OUR_PREFIXES = ("model:", "device:", "input:", "output:", "  ", "latency:")


def test_cli_run_prints_only_its_report(spec, tmp_path):
    done = cli("run", str(spec), "--device", "cpu", "--batch", "2", "--repeat", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith(OUR_PREFIXES) for line in lines), done.stdout
    assert lines[0] == f"model:   {spec} (compiled in memory, opset {cnndsl_onnx.default_opset()})"
    assert done.stderr == ""

    onnx_path = tmp_path / "tiny.onnx"
    assert cli("compile", str(spec), "-o", str(onnx_path)).returncode == 0
    done = cli("run", str(onnx_path), "--repeat", "2")  # device auto
    assert done.returncode == 0, done.stderr
    assert all(line.startswith(OUR_PREFIXES) for line in done.stdout.splitlines())
    assert "device:  " in done.stdout


def test_cli_run_failures(spec, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    done = cli("run", str(bad))
    assert done.returncode == 1 and done.stdout == "" and "error[E506]" in done.stderr
    assert "Traceback" not in done.stderr
    done = cli("run", str(spec), "--device", "tpu")
    assert done.returncode == 2 and done.stdout == ""
    done = cli("run", str(spec), "--repeat", "0")
    assert done.returncode == 2
    if not HAS_CUDA:
        done = cli("run", str(spec), "--device", "cuda")
        assert done.returncode == 1 and done.stdout == ""
        assert "error[E505]" in done.stderr and "CPUExecutionProvider" in done.stderr
