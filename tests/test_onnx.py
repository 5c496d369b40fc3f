"""ONNX emission: every spec compiles to a valid model whose every tensor has the checker's shape,
in ONNX's shape inference and in an actual ONNX Runtime run; files are deterministic and atomic."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import cnndsl
from cnndsl import onnx as cnndsl_onnx
from cnndsl.diagnostics import CnnError
from cnndsl.onnx import protobuf

ort = pytest.importorskip("onnxruntime")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn"))


def codes(failure: pytest.ExceptionInfo) -> list[str]:
    return [d.code for d in failure.value.diagnostics]


def session(data, **options):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"], **options)


def activations(proto: onnx.ModelProto) -> list:
    """Value info of the tensors computed from the input (not the Constant nodes' outputs)."""
    constants = {n.output[0] for n in proto.graph.node if n.op_type == "Constant"}
    return [v for v in proto.graph.value_info if v.name not in constants]


def layer_tensors(model: cnndsl.CheckedModel) -> dict[str, tuple[int, ...]]:
    """The checker's shape for every layer's tensor (dropout emits none and keeps its input's)."""
    return {node.name: model.shapes[node] for node in model.layers if node.kind != "dropout"}


# --- every spec -------------------------------------------------------------------------------

HEAVY_BYTES = 256_000_000  # specs with more weights than this run in ORT only with -m slow
HEAVY_MACS = 5_000_000_000  # running every tensor of a network past this at batch 1 and 3 takes 10-30 s here


def spec_params():
    params = []
    for spec in SPECS:
        try:
            model = cnndsl.check_file(spec)
            heavy = model.param_bytes > HEAVY_BYTES or model.total_macs > HEAVY_MACS
        except Exception:  # a broken spec fails in the test itself, with its diagnostics
            heavy = False
        params.append(pytest.param(spec, id=spec.stem, marks=[pytest.mark.slow] if heavy else []))
    return params


SPEC_PARAMS = spec_params()


@pytest.mark.parametrize("spec", [pytest.param(p, id=p.stem) for p in SPECS])
def test_spec_structure_and_shape_inference(spec):
    """Without drawing weights: a valid model whose declared and inferred shapes are the checker's."""
    model = cnndsl.check_file(spec)
    plan = cnndsl_onnx.plan(model)
    proto = plan.model
    assert proto.ir_version == cnndsl_onnx.IR_VERSION
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", cnndsl_onnx.default_opset())]
    assert sum(w.size for w in plan.weights) == model.total_params
    assert plan.serialized_size() > plan.weight_bytes == model.param_bytes
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == [name for name, _ in model.graph.outputs]

    declared = {v.name: v for v in [*proto.graph.value_info, *proto.graph.output]}
    expected = layer_tensors(model)
    for name, shape in expected.items():
        dims = declared[name].type.tensor_type.shape.dim
        assert dims[0].dim_param == "N"
        assert tuple(d.dim_value for d in dims[1:]) == shape, name

    # every node: named after its output tensor (the layer's name for its last node), and located
    for node in proto.graph.node:
        assert node.name == node.output[0]
        assert re.fullmatch(r"[\w.-]+\.cnn:\d+:\d+", node.doc_string), node.doc_string

    # weights as graph inputs instead of initializers: the full checker and strict shape
    # inference see every shape, without our value info
    for weight in plan.weights:
        proto.graph.input.append(helper.make_tensor_value_info(weight.name, TensorProto.FLOAT, weight.shape))
    onnx.checker.check_model(proto, full_check=True)
    del proto.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    found = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for name, shape in expected.items():
        dims = found[name].type.tensor_type.shape.dim
        assert tuple(d.dim_value for d in dims[1:]) == shape, name


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_spec_file_runs_with_the_checkers_shapes(spec, tmp_path):
    """The written file passes the full checker, and ONNX Runtime produces every tensor (not just
    the outputs) in the checker's shape, for batch 1 and 3."""
    model = cnndsl.check_file(spec)
    path = cnndsl_onnx.compile_file(model, tmp_path / (spec.stem + ".onnx")).path
    onnx.checker.check_model(path, full_check=True)
    proto = onnx.load(path)
    os.unlink(path)
    assert sum(int(np.prod(t.dims)) for t in proto.graph.initializer) == model.total_params
    assert all(t.data_type == TensorProto.FLOAT for t in proto.graph.initializer)

    expected = layer_tensors(model)
    existing = {o.name for o in proto.graph.output}
    for info in proto.graph.value_info:
        if info.name not in existing:
            proto.graph.output.append(info)
    declared_shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim[1:]] for v in activations(proto)}
    runner = session(proto.SerializeToString())
    del proto
    names = [o.name for o in runner.get_outputs()]
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, *model.input_shape), dtype=np.float32)
        results = dict(zip(names, runner.run(names, {"input": x}), strict=True))
        for name, shape in expected.items():
            assert results[name].shape == (batch, *shape), name
        for name, shape in declared_shapes.items():  # internal tensors too (conv1.conv, conv1.padded)
            assert list(results[name].shape) == [batch, *shape], name
        for name, _ in model.graph.outputs:
            assert np.isfinite(results[name]).all()


def test_specs_are_found():
    assert any(p.name == "alexnet.cnn" for p in SPECS)


# --- the emitted model ------------------------------------------------------------------------

SMALL = """\
input 3x16x16
conv1: conv 3x3 8 pad 1 relu -> bn1: bn -> pool1: pool 2
  -> conv2: conv 3x3 8 pad 1 mode reflect relu6 -> lrn 3
  -> flatten -> drop: dropout 0.5 -> fc1: fc 10 softmax
"""


def test_names_locations_and_metadata():
    model = cnndsl.check_text(SMALL, path="small.cnn")
    proto = cnndsl_onnx.compile_model(model, seed=7)
    names = {t.name for t in proto.graph.initializer}
    assert names == {
        "conv1.weight",
        "conv1.bias",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "conv2.weight",
        "conv2.bias",
        "fc1.weight",
        "fc1.bias",
    }
    by_name = {n.name: n for n in proto.graph.node}
    assert by_name["conv1"].op_type == "Relu" and by_name["conv1.conv"].op_type == "Conv"
    assert by_name["conv1.conv"].doc_string == "small.cnn:2:1"
    assert by_name["conv2.padded"].op_type == "Pad"
    assert by_name["conv2"].op_type == "Clip"
    assert by_name["conv2.min"].op_type == "Constant"  # constants are nodes, not initializers
    assert not any(n.op_type == "Dropout" for n in proto.graph.node)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["cnndsl.spec"] == SMALL
    assert meta["cnndsl.seed"] == "7"
    assert meta["cnndsl.version"] == cnndsl.__version__
    assert proto.producer_name == "cnndsl"
    # PyTorch's initialisation: uniform within 1/sqrt(fan_in), batch norm 1, 0, 0, 1
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    bound = 1 / np.sqrt(3 * 9)
    assert np.abs(weights["conv1.weight"]).max() <= bound and np.abs(weights["conv1.bias"]).max() <= bound
    assert weights["conv1.weight"].std() > bound / 3
    assert (weights["bn1.weight"] == 1).all() and (weights["bn1.running_var"] == 1).all()
    assert (weights["bn1.bias"] == 0).all() and (weights["bn1.running_mean"] == 0).all()


def test_named_outputs_get_identities_and_dropout_outputs_work():
    model = cnndsl.check_text(
        "input 3x8x8\na = conv 3x3 4 pad 1 -> dropout 0.5\nb = conv 3x3 4 pad 1\noutput a, b, in\n"
    )
    proto = cnndsl_onnx.compile_model(model)
    assert [o.name for o in proto.graph.output] == ["a", "b", "in"]
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8), dtype=np.float32)
    a, b, same = session(proto.SerializeToString()).run(None, {"input": x})
    assert a.shape == (2, 4, 8, 8) and b.shape == (2, 4, 8, 8)
    np.testing.assert_array_equal(same, x)


@pytest.mark.parametrize(
    "pool",
    [
        "pool 2 pad 1 ceil",
        "pool 2 pad 1x0 ceil",
        "pool avg 2 pad 1x0 ceil",
        "pool 1/3 ceil",
        "pool 3/2 pad 1 ceil",
        "pool avg 2x3/2 pad 1 ceil",
    ],
)
@pytest.mark.parametrize("size", ["5x5", "5x6", "7x4"])
def test_ceil_mode_pooling_agrees_with_onnx_shape_inference(pool, size):
    model = cnndsl.check_text(f"input 2x{size}\n{pool}\n")
    proto = cnndsl_onnx.compile_model(model)
    onnx.checker.check_model(proto, full_check=True)  # strict inference meets our value info
    x = np.ones((1, *model.input_shape), np.float32)
    y = session(proto.SerializeToString()).run(None, {"input": x})[0]
    assert y.shape[1:] == model.outputs[0][1]


def test_fixed_batch():
    model = cnndsl.check_text(SMALL)
    proto = cnndsl_onnx.compile_model(model, batch=3)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [3, 3, 16, 16]
    assert all(v.type.tensor_type.shape.dim[0].dim_value == 3 for v in activations(proto))
    onnx.checker.check_model(proto, full_check=True)
    out = session(proto.SerializeToString()).run(None, {"input": np.zeros((3, 3, 16, 16), np.float32)})
    assert out[0].shape == (3, 10)


def test_opset_choice_and_limits():
    wrap = cnndsl.check_text("input 2x8\nconv 3 2 pad 1 mode circular\n", path="g.cnn")
    assert cnndsl_onnx.compile_model(wrap, opset=19).opset_import[0].version == 19
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_model(wrap, opset=18)
    assert codes(failure) == ["E504"] and failure.value.diagnostics[0].location() == ("g.cnn", 2, 1)
    for bad in (12, 10_000):
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_model(wrap, opset=bad)
        assert codes(failure) == ["E504"]
    plain = cnndsl.check_text(SMALL)
    proto = cnndsl_onnx.compile_model(plain, opset=13)
    onnx.checker.check_model(proto, full_check=True)
    session(proto.SerializeToString())


# --- our own protobuf encoding ------------------------------------------------------------------


def canonical(data: bytes) -> onnx.ModelProto:
    """The parsed model, after asserting that onnx serializes it back to exactly these bytes."""
    proto = onnx.ModelProto.FromString(data)
    assert proto.SerializeToString() == data
    return proto


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_spec_bytes_are_onnx_serialization(spec):
    """cnndsl encodes the protobuf itself: the bytes are those onnx writes for the same model."""
    model = cnndsl.check_file(spec)
    proto = canonical(cnndsl_onnx.compile_bytes(model, batch=2, seed=3))
    assert sum(int(np.prod(t.dims)) for t in proto.graph.initializer) == model.total_params
    plan = cnndsl_onnx.plan(model)
    assert plan.model.SerializeToString() == canonical(plan.model.SerializeToString()).SerializeToString()


EXTRA_SPECS = {
    "literal_relu6": "input 1x9\nconv 3 1 weights [1 1 1] / 3 pad 2\n"
    "-> conv 3/2 1 weights [-1 0.5 1e-3] pad 1 relu6 -> sigmoid\n",
    "literal_2d": "input 1x5x5\nconv 2x2 1 weights [[1 1] [1 1]] -> leakyrelu 0.1 -> elu 2 -> tanh\n",
    "pad_modes": "input 3x16x16\nconv 3x3 4 pad 1 mode reflect relu6 -> conv 3x3 4 pad 2 mode replicate\n"
    "-> conv 3 4 pad 1 mode circular gelu -> pool 3/2 ceil -> pool avg 2 exclude_pad\n",
    "lrn_1d": "input 4x32\nconv 3 8 pad 1 -> lrn 3 k 2 -> conv 3 8 -> pool avg adaptive 5 -> flatten\n"
    "-> dropout 0.5 -> fc 3 softmax\n",
    "lrn_3d": "input 2x4x6x6\nconv 3x3x3 4 pad 1 sigmoid -> lrn 5 -> bn eps 1e-3 -> relu -> pool max global\n",
    "named": "input 3x8x8\na = conv 3x3 4 pad 1 groups 1 dilation 1 -> dropout 0.5\n"
    "b = conv 3x3 4 pad 2 dilation 2 nobias\nc = add a b\nd = concat a c\noutput d, b, in\n",
}


@pytest.mark.parametrize("name", sorted(EXTRA_SPECS))
def test_unusual_models_are_canonical_valid_and_run(name, tmp_path):
    """Literal kernels, Clip constants, pad modes, LRN reshaped from 1D and 3D, named outputs: the
    bytes are onnx's serialization, pass the full checker, and every tensor has its declared shape
    in ONNX Runtime; with external data too."""
    model = cnndsl.check_text(EXTRA_SPECS[name], path=name + ".cnn")
    data = cnndsl_onnx.compile_bytes(model, seed=1)
    proto = canonical(data)
    onnx.checker.check_model(proto, full_check=True)
    for info in activations(proto):
        proto.graph.output.append(info)
    declared = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim[1:]] for v in proto.graph.output}
    runner = session(proto.SerializeToString())
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape), dtype=np.float32)
    outputs = runner.get_outputs()
    results = runner.run(None, {"input": x})
    for output, result in zip(outputs, results, strict=True):
        assert list(result.shape) == [2, *declared[output.name]], output.name
        assert np.isfinite(result).all()

    external = cnndsl_onnx.compile_file(model, tmp_path / "ext.onnx", seed=1, external_data=True)
    canonical((tmp_path / "ext.onnx").read_bytes())
    onnx.checker.check_model(external.path, full_check=True)
    want = session(data).run(None, {"input": x})
    got = session(external.path).run(None, {"input": x})
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_opsets_beyond_the_runtimes_are_encoded():
    model = cnndsl.check_text("input 2x8\nconv 3 2 gelu\n")
    newest = onnx.defs.onnx_opset_version()
    proto = canonical(cnndsl_onnx.compile_bytes(model, opset=newest))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", newest)]
    assert cnndsl_onnx.default_opset() == min(cnndsl_onnx.NEWEST_RUNTIME_OPSET, newest)


NO_ONNX_PROBE = """
import sys
import cnndsl
from cnndsl import cli
from cnndsl import onnx as cnndsl_onnx
assert "onnx" not in sys.modules, "importing cnndsl.onnx imported onnx"
model = cnndsl.check_file(sys.argv[1])
cnndsl_onnx.default_opset()
cnndsl_onnx.compile_file(model, sys.argv[2] + ".api.onnx", opset=20, batch=2)
cnndsl_onnx.compile_file(model, sys.argv[2] + ".ext.onnx", external_data=True)
cnndsl_onnx.compile_bytes(model)
assert cli.main(["compile", sys.argv[1], "-o", sys.argv[2]]) == 0
print(sorted(m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "google.protobuf"))))
"""


def test_writing_files_does_not_import_onnx(small_spec, tmp_path):
    """onnx takes longer to import than a ResNet takes to compile: the file path never imports it."""
    output = tmp_path / "small.onnx"
    done = subprocess.run(
        [sys.executable, "-c", NO_ONNX_PROBE, str(small_spec), str(output)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    model = cnndsl.check_file(small_spec)
    assert output.read_bytes() == cnndsl_onnx.compile_model(model).SerializeToString()
    canonical(output.read_bytes())
    canonical((tmp_path / "small.onnx.ext.onnx").read_bytes())


# --- files: determinism, atomicity, external data ---------------------------------------------


@pytest.fixture
def small_spec(tmp_path):
    path = tmp_path / "small.cnn"
    path.write_text(SMALL)
    return path


def leftovers(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


def test_same_spec_and_seed_give_identical_bytes(small_spec, tmp_path):
    model = cnndsl.check_file(small_spec)
    first = cnndsl_onnx.compile_file(model, tmp_path / "a.onnx", seed=3)
    second = cnndsl_onnx.compile_file(cnndsl.check_file(small_spec), tmp_path / "b.onnx", seed=3)
    data = (tmp_path / "a.onnx").read_bytes()
    assert data == (tmp_path / "b.onnx").read_bytes()
    assert first.bytes == second.bytes == len(data)
    # the streamed file is exactly the in-memory model's serialization
    assert data == cnndsl_onnx.compile_model(model, seed=3).SerializeToString()
    cnndsl_onnx.compile_file(model, tmp_path / "c.onnx", seed=4)
    assert (tmp_path / "c.onnx").read_bytes() != data


def test_default_output_is_next_to_the_spec(small_spec):
    written = cnndsl_onnx.compile_file(cnndsl.check_file(small_spec), None)
    assert written.path == str(small_spec.with_suffix(".onnx")) and small_spec.with_suffix(".onnx").exists()
    assert written.opset == cnndsl_onnx.default_opset()


def test_refuses_bad_outputs_and_writes_nothing(small_spec, tmp_path):
    model = cnndsl.check_file(small_spec)
    text = small_spec.read_text()
    for output in (small_spec, tmp_path, str(tmp_path) + "/", tmp_path / "missing" / "x.onnx"):
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(model, output)
        assert codes(failure) == ["E503"]
    link = tmp_path / "link.onnx"
    os.link(small_spec, link)  # the spec under another name
    with pytest.raises(CnnError):
        cnndsl_onnx.compile_file(model, link)
    assert small_spec.read_text() == text
    assert leftovers(tmp_path) == []
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_file(cnndsl.check_text(SMALL), None)  # text has no file to be next to
    assert codes(failure) == ["E503"]


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_failing_compile_leaves_existing_output_and_no_temporary_files(small_spec, tmp_path, monkeypatch, interrupt):
    model = cnndsl.check_file(small_spec)
    output = tmp_path / "out.onnx"
    output.write_bytes(b"previous")
    real = cnndsl_onnx.Plan.streams

    def failing(self):
        for index, item in enumerate(real(self)):
            if index == 3:
                raise interrupt("interrupted while writing")
            yield item

    monkeypatch.setattr(cnndsl_onnx.Plan, "streams", failing)
    for external in (False, True):
        with pytest.raises(interrupt):
            cnndsl_onnx.compile_file(model, output, external_data=external)
        assert output.read_bytes() == b"previous"
        assert leftovers(tmp_path) == [] and not (tmp_path / "out.onnx.data").exists()


def test_unwritable_directory_is_a_diagnostic(small_spec, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(cnndsl.check_file(small_spec), locked / "x.onnx")
        assert codes(failure) == ["E503"]
    finally:
        locked.chmod(0o700)


def test_external_data_round_trip(small_spec, tmp_path):
    model = cnndsl.check_file(small_spec)
    inline = cnndsl_onnx.compile_file(model, tmp_path / "inline.onnx")
    external = cnndsl_onnx.compile_file(model, tmp_path / "ext.onnx", external_data=True)
    assert external.external_data == str(tmp_path / "ext.onnx.data")
    assert os.path.getsize(tmp_path / "ext.onnx") < 10_000
    onnx.checker.check_model(str(tmp_path / "ext.onnx"), full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16), dtype=np.float32)
    want = session(inline.path).run(None, {"input": x})[0]
    got = session(external.path).run(None, {"input": x})[0]
    np.testing.assert_array_equal(got, want)
    # writing again replaces the data file instead of appending to it
    size = os.path.getsize(tmp_path / "ext.onnx.data")
    cnndsl_onnx.compile_file(model, tmp_path / "ext.onnx", external_data=True)
    assert os.path.getsize(tmp_path / "ext.onnx.data") == size
    assert leftovers(tmp_path) == []


def test_models_over_the_protobuf_limit_go_external(small_spec, tmp_path, monkeypatch):
    monkeypatch.setattr(protobuf, "PROTOBUF_LIMIT", 1000)
    written = cnndsl_onnx.compile_file(cnndsl.check_file(small_spec), tmp_path / "big.onnx")
    assert written.external_data and os.path.exists(written.external_data)
    session(written.path)


# --- trained weights ---------------------------------------------------------------------------


def export_npz(proto: onnx.ModelProto, path: pathlib.Path) -> dict[str, np.ndarray]:
    arrays = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    np.savez(path, **arrays)
    return arrays


def test_npz_round_trip(small_spec, tmp_path):
    model = cnndsl.check_file(small_spec)
    original = cnndsl_onnx.compile_model(model, seed=11)
    arrays = export_npz(original, tmp_path / "w.npz")
    loaded = cnndsl_onnx.compile_model(model, seed=0, weights=tmp_path / "w.npz")
    for tensor in loaded.graph.initializer:
        np.testing.assert_array_equal(numpy_helper.to_array(tensor), arrays[tensor.name])
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16), dtype=np.float32)
    np.testing.assert_array_equal(
        session(loaded.SerializeToString()).run(None, {"input": x})[0],
        session(original.SerializeToString()).run(None, {"input": x})[0],
    )
    # float64 arrays are accepted and rounded to float32
    np.savez(tmp_path / "w64.npz", **{k: v.astype(np.float64) for k, v in arrays.items()})
    cnndsl_onnx.compile_model(model, weights=tmp_path / "w64.npz")


def test_literal_kernels_need_not_be_in_the_archive(tmp_path):
    model = cnndsl.check_text("input 1x9\nsmooth: conv 3 1 weights [1 1 1] / 3 -> fc: flatten -> fc 2\n")
    arrays = export_npz(cnndsl_onnx.compile_model(model), tmp_path / "all.npz")
    cnndsl_onnx.compile_model(model, weights=tmp_path / "all.npz")
    np.savez(tmp_path / "trained.npz", **{k: v for k, v in arrays.items() if not k.startswith("smooth")})
    cnndsl_onnx.compile_model(model, weights=tmp_path / "trained.npz")
    arrays["smooth.weight"] = arrays["smooth.weight"] * 2
    np.savez(tmp_path / "changed.npz", **arrays)
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_model(model, weights=tmp_path / "changed.npz")
    assert codes(failure) == ["E502"]


def test_bad_weights_are_located_diagnostics_and_nothing_is_written(small_spec, tmp_path):
    model = cnndsl.check_file(small_spec)
    arrays = {t.name: numpy_helper.to_array(t) for t in cnndsl_onnx.compile_model(model).graph.initializer}
    output = tmp_path / "out.onnx"
    broken = dict(arrays)
    del broken["conv1.bias"]  # missing
    broken["conv2.weight"] = np.zeros((8, 8, 3, 2), np.float32)  # misshapen
    broken["fc2.weight"] = np.zeros(3, np.float32)  # extra
    np.savez(tmp_path / "bad.npz", **broken)
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_file(model, output, weights=tmp_path / "bad.npz")
    found = failure.value.diagnostics
    assert [d.code for d in found] == ["E502"] * 3
    messages = " | ".join(d.message for d in found)
    assert "conv1.bias" in messages and "conv2.weight" in messages and "fc2.weight" in messages
    assert found[0].location()[:2] == (str(small_spec), 2)  # the conv1 layer
    assert not output.exists() and leftovers(tmp_path) == []

    nan = dict(arrays, **{"fc1.bias": np.full(10, np.nan, np.float32)})
    np.savez(tmp_path / "nan.npz", **nan)
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_file(model, output, weights=tmp_path / "nan.npz")
    assert codes(failure) == ["E502"]

    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    np.save(tmp_path / "single.npy", np.zeros(3))
    for path in (tmp_path / "junk.npz", tmp_path / "single.npy", tmp_path / "absent.npz", tmp_path):
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(model, output, weights=path)
        assert codes(failure) == ["E501"], path
    assert not output.exists()


# --- the command line ---------------------------------------------------------------------------


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_compile(small_spec, tmp_path):
    output = tmp_path / "small.onnx"
    done = cli("compile", str(small_spec), "--seed", "5", "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {output} (") and done.stdout.count("\n") == 1
    proto = onnx.load(output)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    assert {p.key: p.value for p in proto.metadata_props}["cnndsl.seed"] == "5"

    np.savez(tmp_path / "w.npz", x=np.zeros(1))
    before = output.read_bytes()
    done = cli("compile", str(small_spec), "--weights", str(tmp_path / "w.npz"))
    assert done.returncode == 1 and done.stdout == "" and "error[E502]" in done.stderr
    assert output.read_bytes() == before
    done = cli("compile", str(small_spec), "-o", str(small_spec))
    assert done.returncode == 1 and "E503" in done.stderr
    done = cli("compile", str(small_spec), "--opset", "zero")
    assert done.returncode == 2 and done.stdout == ""
    done = cli("compile", str(small_spec), "--opset", "5", "--format", "json")
    assert done.returncode == 1 and '"E504"' in done.stdout
    assert leftovers(tmp_path) == []


# --- large models (slow) ------------------------------------------------------------------------

MEMORY_PROBE = """
import resource, sys
import cnndsl
from cnndsl import onnx as cnndsl_onnx
model = cnndsl.check_file(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
cnndsl_onnx.compile_file(model, sys.argv[2], **({"weights": sys.argv[3]} if len(sys.argv) > 3 else {}))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((after - before) / model.param_bytes)
"""


@pytest.mark.slow
def test_vgg19_compiles_within_one_and_a_half_times_its_weights(tmp_path):
    spec = ROOT / "specs" / "vgg19.cnn"
    if not spec.exists():
        pytest.skip("no vgg19 spec")
    output = tmp_path / "vgg19.onnx"
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(spec), str(output)], capture_output=True, text=True, check=True
    )
    assert float(done.stdout) < 1.5
    proto = onnx.load(output)
    np.savez(tmp_path / "w.npz", **{t.name: numpy_helper.to_array(t) for t in proto.graph.initializer})
    del proto
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(spec), str(tmp_path / "again.onnx"), str(tmp_path / "w.npz")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(done.stdout) < 1.5


@pytest.mark.slow
def test_a_model_over_2_gib_is_written_with_external_data(tmp_path):
    model = cnndsl.check_text("input 4\nbig1: fc 24000 -> big2: fc 23000 -> out: fc 3\n", path="big.cnn")
    assert model.param_bytes > 2**31
    written = cnndsl_onnx.compile_file(model, tmp_path / "big.onnx")
    assert written.external_data == str(tmp_path / "big.onnx.data")
    assert os.path.getsize(written.path) < 100_000
    assert os.path.getsize(written.external_data) >= model.param_bytes
    onnx.checker.check_model(written.path, full_check=True)
    y = session(written.path).run(None, {"input": np.ones((2, 4), np.float32)})[0]
    assert y.shape == (2, 3) and np.isfinite(y).all()
    assert leftovers(tmp_path) == []


def test_e504_is_reported_once_per_line_of_the_spec():
    """A line that expands to many layers needing a newer opset is one error, with the count."""
    model = cnndsl.check_text(
        "input 4x8x8\nrepeat 5 { conv 3 4 pad 1 mode circular }\nconv 3 4 pad 1 mode circular -> flatten\n"
    )
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.compile_model(model, opset=13)
    repeated, single = failure.value.diagnostics
    assert repeated.code == single.code == "E504"
    assert repeated.notes == ("this line expands to 5 layers; shown for the first",)
    assert not single.notes
