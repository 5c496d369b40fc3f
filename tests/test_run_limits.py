"""`cnndsl run`: input files read header first, a memory budget checked before anything is allocated
(E508), outputs of any type described, top-k only for classifiers, and E504's runtime opset.

Each test is a regression for a defect an independent probe found (exit 3 with MemoryError,
ValueError or "Unknown format code 'g'", a hang on a FIFO, a misreported shape, top-k of a box
regression head, a stale opset number)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import cnndsl
from cnndsl import npy, runtime
from cnndsl import onnx as cnndsl_onnx
from cnndsl.diagnostics import CnnError, byte_size, render_text
from cnndsl.onnx.versions import newest_onnx_opset
from cnndsl.runtime.memory import peak_activation_values

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402  (after the skip)

SPEC = "input 3x32x32\nconv 3x3 8 pad 1 -> relu -> pool 2 -> flatten -> fc 10\n"


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def failure_of(*args, **kwargs) -> list:
    with pytest.raises(CnnError) as failure:
        runtime.run_file(*args, device="cpu", repeat=1, **kwargs)
    return failure.value.diagnostics


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, timeout=120)


def onnx_model(tmp_path: pathlib.Path, name: str, nodes, input_shape, output_type, output_shape) -> pathlib.Path:
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", output_type, output_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def header_only(path: pathlib.Path, shape: tuple[int, ...], descr: str = "<f4") -> pathlib.Path:
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    path.write_bytes(npy.MAGIC + bytes([1, 0]) + len(text).to_bytes(2, "little") + text)
    return path


# --- defect 3: input files ------------------------------------------------------------------------


def test_a_huge_claimed_input_shape_is_e507_not_memory_error(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    (found,) = failure_of(spec, input_path=header_only(tmp_path / "huge.npy", (10**10,)))
    assert found.code == "E507" and "has shape 10000000000" in found.message


def test_the_shape_reported_is_the_one_given(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    np.save(tmp_path / "mnist.npy", np.zeros((3, 28, 28), np.float32))
    (found,) = failure_of(spec, input_path=tmp_path / "mnist.npy")
    assert found.message == f"input '{tmp_path / 'mnist.npy'}' has shape 3x28x28, but the model takes Nx3x32x32"


def test_a_file_that_is_not_npy_is_said_plainly(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    (tmp_path / "x.npy").write_bytes(b"\x80\x04pickled, or anything else")
    (found,) = failure_of(spec, input_path=tmp_path / "x.npy")
    text = render_text(found)
    assert found.code == "E507" and "it is not a NumPy .npy array" in found.message
    assert "allow_pickle" not in text and "numpy.save" in text
    np.save(tmp_path / "objects.npy", np.array([{}, None], dtype=object), allow_pickle=True)
    (found,) = failure_of(spec, input_path=tmp_path / "objects.npy")
    assert found.code == "E507" and "object (Python objects)" in found.message
    assert "allow_pickle" not in render_text(found)


def test_input_data_is_read_exactly(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    np.save(tmp_path / "f.npy", np.asfortranarray(x).astype(">f8"))
    report = runtime.run_file(spec, device="cpu", repeat=1, input_path=tmp_path / "f.npy")
    want = cnndsl.create_session(spec, device="cpu").run(None, {"input": x.astype(np.float32)})[0]
    np.testing.assert_array_equal(report.outputs[0].array, want)
    truncated = (tmp_path / "f.npy").read_bytes()[:-8]
    (tmp_path / "t.npy").write_bytes(truncated)
    (found,) = failure_of(spec, input_path=tmp_path / "t.npy")
    assert found.code == "E507" and "truncated" in found.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_input_is_refused_without_opening_it(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    os.mkfifo(tmp_path / "x.npy")
    (found,) = failure_of(spec, input_path=tmp_path / "x.npy")
    assert found.code == "E507" and "a FIFO, not a regular file" in found.message
    done = cli("run", str(spec), "--input", str(tmp_path / "x.npy"))
    assert done.returncode == 1 and "error[E507]" in done.stderr and "Traceback" not in done.stderr
    os.mkfifo(tmp_path / "m.onnx")  # a model, too: ONNX Runtime would wait on it forever
    (found,) = failure_of(tmp_path / "m.onnx")
    assert found.code == "E506" and "a FIFO, not a regular file" in found.message


# --- defect 4: outputs that are not numbers ---------------------------------------------------------


def test_string_outputs_are_described_without_statistics(tmp_path):
    path = onnx_model(
        tmp_path,
        "strings",
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)],
        ["N", 4],
        TensorProto.STRING,
        ["N", 4],
    )
    report = runtime.run_file(path, device="cpu", repeat=1, batch=2)
    text = "\n".join(report.outputs[0].render())
    assert "output:  y 2x4 string" in text and "no statistics" in text and "min " not in text
    done = cli("run", str(path), "--device", "cpu", "--repeat", "1")
    assert done.returncode == 0, done.stderr
    assert "values: '" in done.stdout


def test_integer_and_boolean_outputs_get_statistics(tmp_path):
    path = onnx_model(
        tmp_path,
        "bools",
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BOOL)],
        ["N", 4],
        TensorProto.BOOL,
        ["N", 4],
    )
    text = "\n".join(runtime.run_file(path, device="cpu", repeat=1).outputs[0].render())
    assert "output:  y 1x4 bool" in text and "min " in text


# --- defect 5: memory ---------------------------------------------------------------------------------


def test_a_huge_batch_is_e508_before_anything_is_allocated(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    (found,) = failure_of(spec, batch=10**9)
    assert found.code == "E508"
    assert found.message.startswith("running the model needs 70.8 TiB (input 11.2 TiB, ")
    assert f"over the limit of {byte_size(runtime.default_memory_limit())}" in found.message
    assert "--max-memory BYTES" in found.help
    done = cli("run", str(spec), "--batch", "1000000000")
    assert done.returncode == 1 and "error[E508]" in done.stderr and "Traceback" not in done.stderr


def test_huge_declared_inputs_are_e508(tmp_path):
    big = write(tmp_path, "big.cnn", "input 3x100000x100000\nrelu\n")
    (found,) = failure_of(big)
    assert found.code == "E508" and "input 111.8 GiB" in found.message
    beyond = write(tmp_path, "beyond.cnn", "input 3x2147483647x2147483647\nrelu\n")
    (found,) = failure_of(beyond)
    assert found.code == "E508"
    # a limit raised beyond anything: int64 still bounds what numpy can allocate (not a ValueError)
    for path, options in ((beyond, {}), (write(tmp_path, "m.cnn", SPEC), {"batch": 10**30})):
        (found,) = failure_of(path, max_memory=10**40, **options)
        assert found.code == "E508" and "more than 64-bit sizes can address (8.0 EiB)" in found.message
    done = cli("run", str(beyond))
    assert done.returncode == 1 and "error[E508]" in done.stderr


def test_onnx_models_are_estimated_from_inputs_and_outputs(tmp_path):
    path = onnx_model(
        tmp_path,
        "wide",
        [helper.make_node("Relu", ["x"], ["y"])],
        [1, 3, 100000, 100000],
        TensorProto.FLOAT,
        [1, 3, 100000, 100000],
    )
    (found,) = failure_of(path)
    assert found.code == "E508" and "(input 111.8 GiB, outputs 111.8 GiB)" in found.message
    assert "input and outputs only" in " ".join(found.notes)


def test_live_activations_are_counted_until_their_last_use(tmp_path):
    """input 8 -> fc 4 -> fc 2: after fc2, fc1's 4 values and fc2's 2 are alive: 6 values."""
    chain = write(tmp_path, "chain.cnn", "input 8\nfc 4 -> fc 2\n")
    (found,) = failure_of(chain, max_memory=1)
    assert "largest live activations 24 bytes" in found.message and "input 32 bytes" in found.message
    assert "over the limit of 1 bytes" in found.message
    # a residual keeps its input alive across the branch
    model = cnndsl.check_text("input 4x8x8\na = conv 1x1 4 -> relu\nb = a -> conv 1x1 4 -> conv 1x1 4\nadd b a\n")
    peak, _ = peak_activation_values(model)
    assert peak == 3 * 4 * 64  # a, and the two convolutions of b while the second one runs


def test_within_the_limit_it_runs(tmp_path):
    spec = write(tmp_path, "m.cnn", SPEC)
    assert runtime.default_memory_limit() > 0
    report = runtime.run_file(spec, device="cpu", repeat=1, batch=2, max_memory=2**30)
    assert report.input_shape == (2, 3, 32, 32)
    with pytest.raises(ValueError):
        runtime.run_file(spec, device="cpu", repeat=1, max_memory=0)


def test_byte_counts_in_human_units():
    assert byte_size(1023) == "1,023 bytes"
    assert byte_size(1536) == "1.5 KiB"
    assert byte_size(120 * 2**30) == "120.0 GiB"
    assert byte_size(10**40).endswith(" YiB")


# --- defect 6: top-k only for classifiers -----------------------------------------------------------


def test_top_k_only_after_a_softmax_layer(tmp_path):
    boxes = write(tmp_path, "boxes.cnn", "input 16\nfc 4\n")
    (output,) = runtime.run_file(boxes, device="cpu", repeat=1).outputs
    assert output.top == [] and "top-" not in "\n".join(output.render())
    (output,) = runtime.run_file(boxes, device="cpu", repeat=1, top_k=2).outputs
    assert output.softmaxed and len(output.top[0]) == 2
    assert "(softmax of the outputs)" in "\n".join(output.render())
    for text in ("input 16\nfc 6 softmax\n", "input 16\nfc 6 -> softmax -> dropout 0.5\n"):
        (output,) = runtime.run_file(write(tmp_path, "cls.cnn", text), device="cpu", repeat=1).outputs
        assert not output.softmaxed and len(output.top[0]) == 5
        assert "(outputs are probabilities)" in "\n".join(output.render())


def test_top_k_for_onnx_models_whose_outputs_are_probabilities(tmp_path):
    softmax = onnx_model(
        tmp_path, "probs", [helper.make_node("Softmax", ["x"], ["y"], axis=1)], ["N", 7], TensorProto.FLOAT, ["N", 7]
    )
    (output,) = runtime.run_file(softmax, device="cpu", repeat=1).outputs
    assert len(output.top[0]) == 5 and not output.softmaxed
    logits = onnx_model(
        tmp_path, "logits", [helper.make_node("Identity", ["x"], ["y"])], ["N", 4], TensorProto.FLOAT, ["N", 4]
    )
    assert runtime.run_file(logits, device="cpu", repeat=1).outputs[0].top == []
    (output,) = runtime.run_file(logits, device="cpu", repeat=1, top_k=3).outputs
    assert output.softmaxed and len(output.top[0]) == 3


# --- defect 7: E504 names the installed onnxruntime's newest opset --------------------------------------


def test_e504_note_names_the_installed_runtime(monkeypatch):
    newest = cnndsl_onnx.newest_runtime_opset()
    assert newest >= cnndsl_onnx.NEWEST_RUNTIME_OPSET
    model = cnndsl.check_text("input 4\nfc 2\n")
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_model(model, opset=3)
    assert failure.value.diagnostics[0].notes == (f"onnxruntime runs opsets up to {newest}",)
    if newest <= newest_onnx_opset():  # the number is true: ONNX Runtime loads such a model
        proto = cnndsl_onnx.compile_model(model, opset=newest)
        ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for name in ("onnxruntime", "onnxruntime.capi", "onnxruntime.capi._pybind_state"):
        monkeypatch.setitem(sys.modules, name, None)
    assert cnndsl_onnx.newest_runtime_opset() == cnndsl_onnx.NEWEST_RUNTIME_OPSET
