"""`cnndsl compile --triton-repo DIR`: the model repository Triton's onnxruntime backend loads.

The config is parsed with Triton's own model-config protobuf (tritonclient's model_config_pb2) and
compared with the checked model; the model file in it runs in ONNX Runtime at any batch; folders
that are not repositories, and model folders cnndsl did not write, are refused and left as they were;
a failed or interrupted write leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.deploy.triton import Batching, write_repository
from cnndsl.onnx import compile_bytes

model_config_pb2 = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2", reason="Triton's model config protobuf comes with tritonclient[grpc]"
)
text_format = pytest.importorskip("google.protobuf.text_format")

# Two outputs, so that names and dims are checked for more than one tensor.
SPEC = """input 3x16x16
features = conv 3x3 8 pad 1 relu -> pool 2
logits = features -> flatten -> fc 10
box = features -> conv 1x1 4
output logits, box
"""


@pytest.fixture
def spec(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "tiny.cnn"
    path.write_text(SPEC)
    return path


def _config(path: pathlib.Path) -> object:
    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def _tree(directory: pathlib.Path) -> dict[str, bytes]:
    """Every file under `directory` (hidden ones included) with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_config_parses_with_tritons_protobuf_and_matches_the_model(spec, tmp_path, capsys):
    repository = tmp_path / "models"
    assert main(["compile", str(spec), "--triton-repo", str(repository)]) == 0
    assert "wrote model 'tiny' to the Triton repository" in capsys.readouterr().out
    assert sorted(_tree(repository)) == ["tiny/1/model.onnx", "tiny/config.pbtxt"]

    config = _config(repository / "tiny" / "config.pbtxt")
    model = cnndsl.check_file(str(spec))
    assert config.name == "tiny"
    assert (config.platform, config.backend) == ("onnxruntime_onnx", "onnxruntime")
    assert config.max_batch_size == 8
    fp32 = model_config_pb2.DataType.Value("TYPE_FP32")
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [("input", fp32, [3, 16, 16])]
    assert [(t.name, t.data_type, list(t.dims)) for t in config.output] == [
        (name, fp32, list(shape)) for name, shape in model.outputs
    ]
    assert [t.name for t in config.output] == ["logits", "box"]
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    [group] = config.instance_group
    assert (group.count, group.kind) == (1, model_config_pb2.ModelInstanceGroup.Kind.Value("KIND_CPU"))


def test_the_model_in_the_repository_takes_any_batch_and_computes_what_run_does(spec, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    repository = tmp_path / "models"
    assert main(["compile", str(spec), "--triton-repo", str(repository), "--seed", "3", "-q"]) == 0
    session = ort.InferenceSession(str(repository / "tiny" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    served = session.run(None, {"input": x})
    expected = cnndsl.create_session(str(spec), "cpu", seed=3).run(None, {"input": x})
    assert [a.shape for a in served] == [(5, 10), (5, 4, 8, 8)]
    for got, want in zip(served, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_settings_batching_off_gpu_instances_and_name(spec, tmp_path, capsys):
    repository = tmp_path / "models"
    argv = ["compile", str(spec), "--triton-repo", str(repository), "--max-batch", "0", "--device", "gpu"]
    assert main([*argv, "--instances", "3", "--name", "tiny-v2", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["model"], result["max_batch"], result["instances"], result["device"]) == ("tiny-v2", 0, 3, "gpu")
    config = _config(repository / "tiny-v2" / "config.pbtxt")
    assert result["config"] == (repository / "tiny-v2" / "config.pbtxt").read_text()
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [-1, 3, 16, 16]  # no batching: the symbolic batch is Triton's -1
    assert not config.HasField("dynamic_batching")
    [group] = config.instance_group
    assert (group.count, group.kind) == (3, model_config_pb2.ModelInstanceGroup.Kind.Value("KIND_GPU"))


@pytest.mark.parametrize(
    ("max_batch", "preferred"),
    [(1, []), (2, [2]), (6, [2, 4, 6]), (32, [2, 4, 8, 16, 32]), (100, [2, 4, 8, 16, 32, 64, 100])],
)
def test_preferred_batch_sizes(max_batch, preferred):
    assert list(Batching(max_batch=max_batch).preferred_batch_sizes) == preferred


def test_a_fixed_batch_cannot_be_batched_by_triton(spec, tmp_path, capsys):
    repository = tmp_path / "models"
    assert main(["compile", str(spec), "--triton-repo", str(repository), "--batch", "4"]) == 1
    assert "error[E812]: the model's 'input' has a fixed batch of 4" in capsys.readouterr().err
    assert not repository.exists()  # the folder it would have created is not left behind
    # Without batching a fixed batch is what Triton takes: dims are the whole shape.
    assert main(["compile", str(spec), "--triton-repo", str(repository), "--batch", "4", "--max-batch", "0"]) == 0
    assert list(_config(repository / "tiny" / "config.pbtxt").input[0].dims) == [4, 3, 16, 16]


def test_a_compile_replaces_the_model_it_wrote_and_keeps_other_models(spec, tmp_path):
    repository = tmp_path / "models"
    other = repository / "resnet" / "1"
    other.mkdir(parents=True)
    (other / "model.plan").write_bytes(b"a TensorRT engine")
    (repository / "resnet" / "config.pbtxt").write_text('name: "resnet"\n')
    assert main(["compile", str(spec), "--triton-repo", str(repository), "-q"]) == 0
    assert main(["compile", str(spec), "--triton-repo", str(repository), "--max-batch", "16", "-q"]) == 0
    assert _config(repository / "tiny" / "config.pbtxt").max_batch_size == 16
    assert (other / "model.plan").read_bytes() == b"a TensorRT engine"
    assert sorted(os.listdir(repository)) == ["resnet", "tiny"]  # no temporary left


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda repo: repo.write_text("a file"), "is a regular file, not a folder"),
        (lambda repo: (repo.mkdir(), (repo / "notes.txt").write_text("x")), "it holds 'notes.txt', a file"),
        (lambda repo: (repo / "src").mkdir(parents=True), "it holds 'src', a folder that is not a model"),
        (
            lambda repo: ((repo / "tiny" / "1").mkdir(parents=True), (repo / "tiny" / "config.pbtxt").write_text("")),
            "already holds a model 'tiny' that cnndsl did not write",
        ),
    ],
    ids=["a-file", "a-folder-with-a-file", "a-folder-with-a-non-model", "another-model-named-alike"],
)
def test_a_folder_that_is_not_a_repository_is_refused_untouched(spec, tmp_path, capsys, make, words):
    repository = tmp_path / "models"
    make(repository)
    before = _tree(repository) if repository.is_dir() else repository.read_bytes()
    assert main(["compile", str(spec), "--triton-repo", str(repository)]) == 1
    err = capsys.readouterr().err
    assert "error[E811]" in err and words in err
    assert (_tree(repository) if repository.is_dir() else repository.read_bytes()) == before


def test_a_model_folder_cnndsl_wrote_with_other_files_added_is_not_replaced(spec, tmp_path, capsys):
    repository = tmp_path / "models"
    assert main(["compile", str(spec), "--triton-repo", str(repository), "-q"]) == 0
    (repository / "tiny" / "2").mkdir()  # a version someone added by hand
    assert main(["compile", str(spec), "--triton-repo", str(repository)]) == 1
    assert "error[E811]" in capsys.readouterr().err
    assert (repository / "tiny" / "2").is_dir()


def test_a_missing_parent_folder_is_E503(spec, tmp_path, capsys):
    assert main(["compile", str(spec), "--triton-repo", str(tmp_path / "no" / "models")]) == 1
    assert "error[E503]: the repository's parent folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--triton-repo", "models", "-o", "x.onnx"],
        ["--max-batch", "4"],
        ["--device", "gpu"],
        ["--triton-repo", "models", "--name", "../up"],
        ["--triton-repo", "models", "--name", ".hidden"],
        ["--triton-repo", "models", "--instances", "0"],
        ["--triton-repo", "models", "--device", "tpu"],
    ],
)
def test_usage_errors(spec, tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(spec), *argv]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def _writer_failing_after_the_model(exception: BaseException):
    def write(path: str) -> None:
        pathlib.Path(path).write_bytes(compile_bytes(cnndsl.check(SPEC)))
        raise exception

    return write


@pytest.mark.parametrize("exception", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_write_leaves_the_old_model_and_no_temporary(spec, tmp_path, exception):
    repository = tmp_path / "models"
    assert main(["compile", str(spec), "--triton-repo", str(repository), "-q"]) == 0
    before = _tree(repository)
    with pytest.raises((cnndsl.CnnError, KeyboardInterrupt)):
        write_repository(repository, "tiny", _writer_failing_after_the_model(exception), Batching(), "tiny.cnn")
    assert _tree(repository) == before


def test_a_temporary_left_by_a_killed_compile_is_removed(spec, tmp_path):
    repository = tmp_path / "models"
    repository.mkdir()
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    stale = repository / f".tiny.{dead}.abcd1234.tmp"
    (stale / "1").mkdir(parents=True)
    assert main(["compile", str(spec), "--triton-repo", str(repository), "-q"]) == 0
    assert sorted(os.listdir(repository)) == ["tiny"]


@pytest.mark.parametrize(
    ("options", "data_type"),
    [(["--precision", "fp16"], "TYPE_FP32"), (["--precision", "fp16", "--io", "fp16"], "TYPE_FP16")],
    ids=["fp16", "fp16-io"],
)
def test_the_repository_holds_the_converted_model(spec, tmp_path, options, data_type):
    onnx = pytest.importorskip("onnx")
    repository = tmp_path / "models"
    assert main(["compile", str(spec), "--triton-repo", str(repository), "-q", *options]) == 0
    config = _config(repository / "tiny" / "config.pbtxt")
    expected = model_config_pb2.DataType.Value(data_type)
    assert [t.data_type for t in [*config.input, *config.output]] == [expected] * 3
    model = onnx.load(str(repository / "tiny" / "1" / "model.onnx"))
    assert onnx.TensorProto.FLOAT16 in {tensor.data_type for tensor in model.graph.initializer}


def test_an_int8_repository_is_calibrated_on_the_data_given(spec, tmp_path):
    onnx = pytest.importorskip("onnx")
    data = tmp_path / "calibration.npy"
    np.save(data, np.random.default_rng(0).standard_normal((16, 3, 16, 16)).astype(np.float32))
    repository = tmp_path / "models"
    argv = ["compile", str(spec), "--triton-repo", str(repository), "--precision", "int8", "--calibrate", str(data)]
    assert main([*argv, "-q"]) == 0
    model = onnx.load(str(repository / "tiny" / "1" / "model.onnx"))
    assert "QuantizeLinear" in {node.op_type for node in model.graph.node}
    assert list(_config(repository / "tiny" / "config.pbtxt").input[0].dims) == [3, 16, 16]  # batch still symbolic
