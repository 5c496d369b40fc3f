"""`--weights W.npz`: archives are read header first, so that only what the model needs is ever read.

Each test is a regression for a defect an independent probe found: a member without the .npy
header crashed; a header claiming 10**10 values, or an archive inflating to a gigabyte, was loaded
whole before any name was matched; a FIFO hung; a mistyped name got an unrelated suggestion.
"""

from __future__ import annotations

import ast
import io
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import cnndsl
from cnndsl import npy
from cnndsl import onnx as cnndsl_onnx
from cnndsl.diagnostics import CnnError

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402  (after the skip)

SPEC = """\
input 2x6
conv1: conv 3 4 -> conv2: conv 3 3 -> flatten -> fc1: fc 5
"""


@pytest.fixture
def spec(tmp_path) -> pathlib.Path:
    path = tmp_path / "w.cnn"
    path.write_text(SPEC)
    return path


@pytest.fixture
def arrays(spec) -> dict[str, np.ndarray]:
    proto = cnndsl_onnx.compile_model(cnndsl.check_file(spec), seed=3)
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def compile_with(spec: pathlib.Path, weights: pathlib.Path):
    return cnndsl_onnx.compile_model(cnndsl.check_file(spec), weights=weights)


def failure_of(spec: pathlib.Path, weights: pathlib.Path) -> list:
    with pytest.raises(CnnError) as failure:
        compile_with(spec, weights)
    return failure.value.diagnostics


def initializers(proto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def npy_bytes(array: np.ndarray, version: tuple[int, int] = (1, 0)) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=True)
    return buffer.getvalue()


def header_bytes(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A version 1.0 .npy header for any claimed shape, without data."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return npy.MAGIC + bytes([1, 0]) + len(text).to_bytes(2, "little") + text


def write_zip(path: pathlib.Path, members: dict[str, bytes]) -> pathlib.Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def members_of(arrays: dict[str, np.ndarray], **changed: bytes) -> dict[str, bytes]:
    members = {f"{k}.npy": npy_bytes(v) for k, v in arrays.items()}
    members.update({f"{k}.npy": v for k, v in changed.items()})
    return members


# --- what still works ------------------------------------------------------------------------------


def test_header_versions_byte_orders_and_fortran_order(spec, arrays, tmp_path):
    members = {}
    for index, (name, array) in enumerate(sorted(arrays.items())):
        version = [(1, 0), (2, 0), (3, 0)][index % 3]
        if array.ndim > 1:
            array = np.asfortranarray(array)
        if index % 2:
            array = array.astype(">f4")
        members[f"{name}.npy"] = npy_bytes(array, version)
    loaded = initializers(compile_with(spec, write_zip(tmp_path / "mixed.npz", members)))
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)
    # an archive numpy.savez_compressed wrote, with float64 and int arrays
    np.savez_compressed(tmp_path / "z.npz", **{k: v.astype(np.float64) for k, v in arrays.items()})
    loaded = initializers(compile_with(spec, tmp_path / "z.npz"))
    np.testing.assert_array_equal(loaded["fc1.weight"], arrays["fc1.weight"])


def test_load_npz_reads_every_array(arrays, tmp_path):
    np.savez(tmp_path / "all.npz", **arrays)
    loaded = cnndsl_onnx.load_npz(tmp_path / "all.npz")
    assert sorted(loaded) == sorted(arrays)
    np.testing.assert_array_equal(loaded["conv2.weight"], arrays["conv2.weight"])


# --- defect 1: the archive's contents are never trusted -----------------------------------------------


def test_a_member_without_the_npy_header_is_a_located_e502(spec, arrays, tmp_path):
    weights = write_zip(tmp_path / "raw.npz", members_of(arrays, **{"conv2.weight": b"raw float bytes"}))
    (found,) = failure_of(spec, weights)
    assert found.code == "E502" and "'conv2.weight'" in found.message
    assert "not a NumPy .npy array" in found.message
    assert found.location()[1] == 2  # the conv2 layer


def test_a_header_claiming_ten_billion_values_allocates_nothing(spec, arrays, tmp_path):
    huge = header_bytes((10**10,))
    weights = write_zip(tmp_path / "claims.npz", members_of(arrays, **{"fc1.weight": huge}))
    (found,) = failure_of(spec, weights)
    assert found.code == "E502" and "has shape 10000000000" in found.message and "needs 5x" in found.message
    # the right shape, but the data is missing: truncated, not a crash
    short = header_bytes(arrays["fc1.weight"].shape) + b"\0" * 12
    weights = write_zip(tmp_path / "short.npz", members_of(arrays, **{"fc1.weight": short}))
    (found,) = failure_of(spec, weights)
    assert found.code == "E502" and "truncated" in found.message


def test_bad_headers_and_types_are_e502(spec, arrays, tmp_path):
    bad = {
        "conv1.weight": npy_bytes(np.array([None, "x"], dtype=object)),  # pickled objects
        "conv1.bias": header_bytes((4,), descr="<U3"),  # strings
        "conv2.weight": npy.MAGIC + bytes([9, 0]) + b"\0" * 8,  # unknown version
        "conv2.bias": npy.MAGIC + bytes([2, 0]) + (2**31).to_bytes(4, "little"),  # a 2 GB header
        "fc1.bias": npy.MAGIC + bytes([1, 0]) + (20).to_bytes(2, "little") + b"{'descr': <f4}      ",
    }
    weights = write_zip(tmp_path / "bad.npz", members_of(arrays, **bad))
    found = failure_of(spec, weights)
    assert [d.code for d in found] == ["E502"] * len(bad)
    messages = "\n".join(d.message for d in found)
    assert "has type object (Python objects), not a real number type" in messages
    assert "has type <U3" in messages and "version 9.0" in messages and "2,147,483,648 bytes" in messages
    assert "allow_pickle" not in messages + "".join(str(d.help) for d in found)
    assert all(d.location() is not None for d in found)


def test_unexpected_members_are_never_read(spec, arrays, tmp_path):
    """A zip bomb: 96 MiB of zeros (about 100 KiB compressed) under a name the model does not
    have is never decompressed (numpy.load read it all before matching names)."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            archive.writestr(f"{name}.npy", npy_bytes(array))
        with archive.open("junk.npy", "w", force_zip64=True) as member:
            member.write(header_bytes((6 * 2**22,)))
            zeros = bytes(2**24)
            for _ in range(6):
                member.write(zeros)
    assert path.stat().st_size < 2**20
    probe = (
        "import resource, sys, cnndsl\n"
        "from cnndsl import onnx as cnndsl_onnx\n"
        "model = cnndsl.check_file(sys.argv[1])\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    cnndsl_onnx.plan(model, weights=sys.argv[2])\n"
        "except cnndsl.CnnError as failure:\n"
        "    print([d.message for d in failure.diagnostics])\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(spec), str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    messages, grown = done.stdout.splitlines()
    assert "'junk' that is not a parameter" in messages
    assert int(grown) < 32 * 2**20, f"grew by {int(grown) / 2**20:.0f} MiB"


def test_the_data_read_is_bounded_by_what_the_model_needs(spec, arrays, tmp_path, monkeypatch):
    """Trailing bytes after an array's data are never read or decompressed."""
    padded = npy_bytes(arrays["fc1.weight"]) + bytes(2**20)
    weights = write_zip(tmp_path / "padded.npz", members_of(arrays, **{"fc1.weight": padded}))
    read = []
    original = zipfile.ZipExtFile.read

    def counting_read(self, n=-1):
        data = original(self, n)
        read.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    monkeypatch.setattr(zipfile.ZipExtFile, "readinto", lambda self, b: _readinto(self, b))
    loaded = initializers(compile_with(spec, weights))
    np.testing.assert_array_equal(loaded["fc1.weight"], arrays["fc1.weight"])
    assert sum(read) < 2 * sum(a.nbytes for a in arrays.values()) + 4096


def _readinto(stream, buffer) -> int:
    data = stream.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_opening_it(spec, tmp_path):
    fifo = tmp_path / "w.npz"
    os.mkfifo(fifo)
    (found,) = failure_of(spec, fifo)
    assert found.code == "E501" and "a FIFO, not a regular file" in found.message
    done = subprocess.run(
        [sys.executable, "-m", "cnndsl", "compile", str(spec), "-o", str(tmp_path / "o.onnx"), "--weights", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "error[E501]" in done.stderr and "Traceback" not in done.stderr


def test_files_that_are_not_archives_are_e501(spec, arrays, tmp_path):
    np.save(tmp_path / "one.npy", arrays["fc1.bias"])
    (tmp_path / "text.npz").write_text("hello")
    cases = {
        tmp_path / "one.npy": "holds a single array",
        tmp_path / "text.npz": "not a NumPy .npz archive",
        tmp_path / "absent.npz": "no such file",
        tmp_path: "is a directory",
    }
    for path, reason in cases.items():
        (found,) = failure_of(spec, path)
        assert found.code == "E501" and reason in found.message, found.message


# --- defect 2: suggestions for mistyped names ------------------------------------------------------------


def test_a_mistyped_name_is_suggested_both_ways(spec, arrays, tmp_path):
    renamed = dict(arrays)
    renamed["conv1.weigth"] = renamed.pop("conv1.weight")
    np.savez(tmp_path / "typo.npz", **renamed)
    missing, unexpected = failure_of(spec, tmp_path / "typo.npz")
    assert "has no array 'conv1.weight'" in missing.message and missing.help == "did you mean 'conv1.weigth'?"
    assert "'conv1.weigth' that is not a parameter" in unexpected.message
    assert unexpected.help == "did you mean 'conv1.weight'?"


def test_no_suggestion_of_a_parameter_that_is_present(spec, arrays, tmp_path):
    """A missing conv1.bias must not be 'corrected' to conv2.bias, which the archive holds rightly."""
    partial = {k: v for k, v in arrays.items() if k != "conv1.bias"}
    partial["fc9.weight"] = np.zeros(3, np.float32)
    np.savez(tmp_path / "partial.npz", **partial)
    missing, unexpected = failure_of(spec, tmp_path / "partial.npz")
    assert "'conv1.bias'" in missing.message and missing.help is None
    assert "'fc9.weight'" in unexpected.message and unexpected.help is None  # fc1.weight is not missing


def test_all_problems_of_one_archive_are_reported_together(spec, arrays, tmp_path):
    broken = dict(arrays)
    del broken["conv1.bias"]
    broken["conv2.weight"] = np.zeros((3, 4, 2), np.float32)
    broken["fc1.bias"] = np.full(5, np.inf, np.float32)
    broken["extra"] = np.zeros(1)
    np.savez(tmp_path / "broken.npz", **broken)
    found = failure_of(spec, tmp_path / "broken.npz")
    assert [d.code for d in found] == ["E502"] * 4
    text = " | ".join(d.message for d in found)
    for part in ("no array 'conv1.bias'", "'conv2.weight'", "NaN or infinite", "'extra'"):
        assert part in text


def test_headers_parse_what_numpy_writes():
    for version in ((1, 0), (2, 0), (3, 0)):
        data = npy_bytes(np.zeros((2, 3), ">i2"), version)
        header = npy.read_header(io.BytesIO(data))
        assert header == npy.Header((2, 3), False, np.dtype(">i2")) and header.nbytes == 12
    text = header_bytes((3,))
    assert ast.literal_eval(text[10:].decode())["shape"] == (3,)


# --- a PyTorch state_dict, saved unchanged -----------------------------------------------------------

TORCH_SPEC = """\
input 3x4x4
conv1: conv 1x1 4 -> bn1: bn -> scale: layerscale 1e-6 -> flatten -> fc1: fc 5
"""


@pytest.fixture
def torch_spec(tmp_path) -> pathlib.Path:
    path = tmp_path / "torch_names.cnn"
    path.write_text(TORCH_SPEC)
    return path


@pytest.fixture
def state_dict(torch_spec) -> dict[str, np.ndarray]:
    """What `{k: v.numpy() for k, v in model.state_dict().items()}` gives for the same network in
    PyTorch: the 1x1 convolution a Linear ([out, in]), the layer scale a bare nn.Parameter shaped
    (C,), and the batch norm's training-batch counter beside its statistics."""
    rng = np.random.default_rng(7)
    arrays = {
        name: rng.standard_normal(array.shape).astype(np.float32)
        for name, array in initializers(cnndsl_onnx.compile_model(cnndsl.check_file(torch_spec), seed=1)).items()
    }
    arrays["conv1.weight"] = arrays["conv1.weight"].reshape(4, 3)
    arrays["scale"] = arrays.pop("scale.weight").reshape(4)
    arrays["bn1.running_var"] = np.abs(arrays["bn1.running_var"])
    arrays["bn1.num_batches_tracked"] = np.array(12345, dtype=np.int64)
    return arrays


def test_a_state_dict_loads_unchanged(torch_spec, state_dict, tmp_path):
    np.savez(tmp_path / "torch.npz", **state_dict)
    loaded = initializers(compile_with(torch_spec, tmp_path / "torch.npz"))
    assert sorted(loaded) == sorted({*state_dict, "scale.weight"} - {"scale", "bn1.num_batches_tracked"})
    np.testing.assert_array_equal(loaded["conv1.weight"], state_dict["conv1.weight"].reshape(4, 3, 1, 1))
    np.testing.assert_array_equal(loaded["scale.weight"], state_dict["scale"].reshape(4, 1, 1))
    np.testing.assert_array_equal(loaded["bn1.running_mean"], state_dict["bn1.running_mean"])


def test_only_shapes_that_differ_by_unit_axes_are_reshaped(torch_spec, state_dict, tmp_path):
    state_dict["conv1.weight"] = state_dict["conv1.weight"].T  # [in, out]: the same size, transposed
    state_dict["fc1.weight"] = state_dict["fc1.weight"].reshape(5, 4, 16)
    np.savez(tmp_path / "reshaped.npz", **state_dict)
    found = failure_of(torch_spec, tmp_path / "reshaped.npz")
    assert [(d.code, d.location()[1]) for d in found] == [("E502", 2)] * 2
    assert "'conv1.weight' in" in found[0].message and "has shape 3x4, but 'conv1' needs 4x3x1x1" in found[0].message
    assert "has shape 5x4x16, but 'fc1' needs 5x64" in found[1].message


def test_num_batches_tracked_is_ignored_only_beside_a_batch_norm(torch_spec, state_dict, tmp_path):
    state_dict["conv1.num_batches_tracked"] = np.array(1)  # conv1 keeps no running statistics
    state_dict["bn2.num_batches_tracked"] = np.array(1)  # no such layer
    np.savez(tmp_path / "counters.npz", **state_dict)
    found = failure_of(torch_spec, tmp_path / "counters.npz")
    assert [d.message.split("'")[3] for d in found] == ["conv1.num_batches_tracked", "bn2.num_batches_tracked"]
    assert all(d.code == "E502" and "not a parameter of this model" in d.message for d in found)
    assert [d.help for d in found] == [None, None]  # nothing is missing: nothing to suggest


def test_only_a_layers_sole_parameter_may_be_stored_under_the_layers_name(torch_spec, state_dict, tmp_path):
    state_dict["fc1"] = state_dict.pop("fc1.bias")  # fc1 has a weight and a bias: ambiguous
    np.savez(tmp_path / "bare.npz", **state_dict)
    missing, unexpected = failure_of(torch_spec, tmp_path / "bare.npz")
    assert "has no array 'fc1.bias'" in missing.message
    assert "'fc1' that is not a parameter" in unexpected.message


def test_a_sole_parameter_stored_under_both_names_is_an_error(torch_spec, state_dict, tmp_path):
    state_dict["scale.weight"] = state_dict["scale"].reshape(4, 1, 1)
    np.savez(tmp_path / "twice.npz", **state_dict)
    (found,) = failure_of(torch_spec, tmp_path / "twice.npz")
    assert found.code == "E502" and "'scale' that is not a parameter" in found.message
    assert found.help == "'scale.weight' holds the same parameter: keep one of the two"
