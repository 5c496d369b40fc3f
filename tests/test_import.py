"""`cnndsl import`: specs compiled, imported and checked again (the same parameters, MACs and output
shapes; with the imported weights, the same outputs in ONNX Runtime), torchvision models exported by
torch.onnx (TorchScript and dynamo exporters), and bad input (E7xx, nothing written)."""

from __future__ import annotations

import pathlib
import shutil
from collections import Counter

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main
from tests import onnx_models

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _files_removed_after(tmp_path):
    """Each test's models and weights removed once it ends: pytest keeps every test's directory until
    the session ends, and the slow run writes three copies of each of 68 models (about 16 GB)."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


SPECS = sorted((ROOT / "specs").glob("*.cnn"))
# Small specs that together use every layer kind the emitter produces (and the KINDS spec below).
DEFAULT = {
    "alexnet2012",
    "audio1d",
    "localization",
    "lenet5",
    "mobilenet_v3_small",
    "shufflenet_v2_x0_5",
    "squeezenet1_1",
    "darknet53",
    "mnist_mlp",
    "unet",
    "resnet18",
}
# The kinds no spec in DEFAULT uses, each once.
KINDS = """input 4x16x16
a = conv 3x3 8 pad 1 mode reflect -> instancenorm affine -> prelu -> conv 2x2 8 pad 0,1 mode replicate
  -> groupnorm 2 -> elu 0.5 -> mish -> softplus -> silu -> gelu tanh -> scale 0.5 -> layernorm eps 1e-6
  -> layerscale 0.1 -> prelu shared -> instancenorm -> gelu -> upsample 2 linear -> conv 3x3/2 8 pad 1
b = in -> convtranspose 2/2 8 -> upsample 2 -> pool 4/4 -> groupnorm 4 noaffine
mul a b -> resize_nearest in -> tanh -> pool avg global -> flatten -> fc 10 -> layernorm -> sigmoid
"""


def _round_trip(model: cnndsl.CheckedModel, directory: pathlib.Path) -> None:
    original = directory / "original.onnx"
    from cnndsl.onnx import compile_file

    compile_file(model, original, seed=1)
    assert (
        main(["import", str(original), "-o", str(directory / "x.cnn"), "--weights-out", str(directory / "x.npz")]) == 0
    )
    imported = cnndsl.check_file(directory / "x.cnn")
    assert imported.total_params == model.total_params
    assert imported.total_macs == model.total_macs
    assert [shape for _, shape in imported.outputs] == [shape for _, shape in model.outputs]
    compile_file(imported, directory / "x.onnx", weights=directory / "x.npz")
    _assert_same_outputs(original, directory / "x.onnx", model.input_shape)


def _assert_same_outputs(first: pathlib.Path, second: pathlib.Path, input_shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).standard_normal((2, *input_shape), dtype=np.float32)
    results = []
    for path in (first, second):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        results.append(session.run(None, {session.get_inputs()[0].name: x}))
    for ours, theirs in zip(results[1], results[0], strict=True):
        assert ours.shape == theirs.shape
        assert float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30)) <= 1e-4


@pytest.mark.parametrize(
    "spec", [pytest.param(s, id=s.stem, marks=[] if s.stem in DEFAULT else [pytest.mark.slow]) for s in SPECS]
)
def test_spec_round_trips(spec, tmp_path):
    _round_trip(cnndsl.check_file(spec), tmp_path)


def test_every_other_kind_round_trips(tmp_path):
    _round_trip(cnndsl.check_text(KINDS), tmp_path)


# --- bad input: one E7xx diagnostic, exit 1, nothing written ---------------------------------------


def _unsupported_model(path: pathlib.Path) -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Cos", ["x"], ["a"], name="first_cos"),
        helper.make_node("Cos", ["a"], ["b"]),
        helper.make_node("Erf", ["b"], ["y"], name="the_erf"),
    ]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y])), path)


def _model_with_a_subgraph(path: pathlib.Path) -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["r"])], "branch", [], [y])
    condition = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    choose = helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch, else_branch=branch)
    onnx.save(helper.make_model(helper.make_graph([choose], "g", [x], [y], initializer=[condition])), path)


def _data_outside_the_directory(path: pathlib.Path) -> None:
    path.write_bytes(onnx_models.data_outside_the_directory().SerializeToString())


def test_a_concat_of_one_tensor_is_that_tensor(tmp_path):
    # torchvision's DenseNet concatenates [x] alone before each block's first layer
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Concat", ["x"], ["joined"], name="cat", axis=1),
        helper.make_node("Relu", ["joined"], ["y"], name="relu"),
    ]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y])), tmp_path / "m.onnx")
    assert main(["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.cnn")]) == 0
    assert (tmp_path / "m.cnn").read_text().endswith("input 3x8x8\n\nrelu\n")
    assert [shape for _, shape in cnndsl.check_file(tmp_path / "m.cnn").outputs] == [(3, 8, 8)]
    # alone, it leaves nothing to write: a spec is a network
    onnx.save(onnx_models.chain([("Concat", "cat")], ["N", 3, 8, 8], axis=1), tmp_path / "alone.onnx")
    assert main(["import", str(tmp_path / "alone.onnx"), "-o", str(tmp_path / "alone.cnn")]) == 1
    assert not (tmp_path / "alone.cnn").exists()


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (None, "E701", "no such file"),
        (lambda p: p.write_bytes(b"not a model"), "E701", "is not an ONNX model"),
        (_unsupported_model, "E704", "Cos x2 (first: 'first_cos'), Erf x1 (first: 'the_erf')"),
        (_model_with_a_subgraph, "E703", "node 'choose' (If) holds a subgraph"),
        # refused by where it points, before anything is read there
        (_data_outside_the_directory, "E702", "'../secret.bin', outside the directory of"),
    ],
)
def test_bad_input_is_one_diagnostic_and_writes_nothing(make, code, words, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    if make:
        make(model)
    assert main(["import", str(model), "-o", str(tmp_path / "m.cnn"), "--weights-out", str(tmp_path / "m.npz")]) == 1
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and words in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == (["m.onnx"] if make else [])


def test_refuses_to_overwrite_the_model(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    onnx.save(cnndsl.compile_model(cnndsl.check_text("input 3x8x8\nconv 3x3 4")), model)
    before = model.read_bytes()
    assert main(["import", str(model), "-o", str(model)]) == 1
    assert "error[E503]" in capsys.readouterr().err and model.read_bytes() == before


# --- models exported by torch.onnx ------------------------------------------------------------------

TORCH_DEFAULT = {("resnet18", False), ("squeezenet1_1", True)}


@pytest.mark.parametrize(
    ("name", "dynamo"),
    [
        pytest.param(
            name,
            dynamo,
            id=f"{name}-{'dynamo' if dynamo else 'torchscript'}",
            marks=[] if (name, dynamo) in TORCH_DEFAULT else [pytest.mark.slow],
        )
        for name in (
            "resnet18",
            "resnet50",
            "googlenet",
            "densenet121",
            "squeezenet1_1",
            "mobilenet_v2",
            "mobilenet_v3_large",
            "efficientnet_b0",
            "convnext_tiny",
        )
        for dynamo in (False, True)
    ],
)
def test_torch_exported_model_imports(name, dynamo, tmp_path):
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("benchmarks.torchvision_models")
    reference = tv.build(name).eval()
    exported = tmp_path / "model.onnx"
    x = torch.randn(2, 3, 224, 224)
    options = {"dynamic_shapes": ({0: torch.export.Dim("N")},)} if dynamo else {"dynamic_axes": {"x": {0: "N"}}}
    torch.onnx.export(reference, (x,), str(exported), dynamo=dynamo, input_names=["x"], **options)
    spec, weights = tmp_path / "model.cnn", tmp_path / "model.npz"
    assert main(["import", str(exported), "-o", str(spec), "--weights-out", str(weights)]) == 0
    imported, hand_written = cnndsl.check_file(spec), cnndsl.check_file(ROOT / "specs" / f"{name}.cnn")
    # The same MACs and output as torchvision's model written by hand; fewer parameters where the
    # exporter folded batch norms into convolutions or dropped biases that are zero.
    assert imported.total_macs == hand_written.total_macs
    assert [shape for _, shape in imported.outputs] == [shape for _, shape in hand_written.outputs]
    assert imported.total_params <= hand_written.total_params
    from cnndsl.onnx import compile_file

    compile_file(imported, tmp_path / "again.onnx", weights=weights)
    _assert_same_outputs(exported, tmp_path / "again.onnx", (3, 224, 224))


# --- exporters' decomposed forms --------------------------------------------------------------------


def _decomposed_forms_model(torch):
    """Modules that exporters spell as several nodes, with trained-like (not identity) weights."""
    from torch import nn
    from torch.nn import functional

    class ChannelsFirstLayerNorm(nn.Module):  # ConvNeXt's own, as its authors wrote it in Python
        def __init__(self, channels):
            super().__init__()
            self.weight = nn.Parameter(torch.rand(channels) + 0.5)
            self.bias = nn.Parameter(torch.rand(channels) - 0.5)

        def forward(self, x):
            mean = x.mean(1, keepdim=True)
            variance = (x - mean).pow(2).mean(1, keepdim=True)
            x = (x - mean) / torch.sqrt(variance + 1e-6)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.norm = ChannelsFirstLayerNorm(16)
            self.block_norm = nn.LayerNorm(16, eps=1e-6)  # torchvision's CNBlock, channels last
            self.fc1, self.fc2 = nn.Linear(16, 64), nn.Linear(64, 16)
            self.layer_scale = nn.Parameter(torch.rand(16, 1, 1))
            self.squeeze, self.excite = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)
            self.head = nn.Linear(16, 10)
            with torch.no_grad():
                self.block_norm.weight.uniform_(0.5, 1.5)
                self.block_norm.bias.uniform_(-0.5, 0.5)

        def forward(self, x):
            x = self.norm(self.stem(x))
            y = self.fc2(functional.gelu(self.fc1(self.block_norm(x.permute(0, 2, 3, 1)))))
            x = functional.hardswish(x + self.layer_scale * y.permute(0, 3, 1, 2))
            gate = self.excite(functional.relu(self.squeeze(functional.adaptive_avg_pool2d(x, 1))))
            x = x * functional.hardsigmoid(gate)
            x = x * functional.relu6(x + 3) / 6  # hard-swish written out, the product first
            x = (functional.relu6(x + 3) / 6) * x  # and the division first
            x = x * (functional.relu6(self.excite(self.squeeze(x.mean((2, 3), keepdim=True))) + 3) / 6)
            x = functional.silu(x)
            return self.head(torch.flatten(functional.adaptive_avg_pool2d(x, 1), 1))

    torch.manual_seed(0)
    return Model().eval()


@pytest.mark.parametrize(
    ("dynamo", "opset"),
    [
        (False, 13),
        pytest.param(False, 16, marks=pytest.mark.slow),
        (False, 18),
        pytest.param(True, 18, marks=pytest.mark.slow),
    ],
    ids=["torchscript-13", "torchscript-16", "torchscript-18", "dynamo-18"],
)
def test_exporters_decomposed_forms_are_layers(dynamo, opset, tmp_path):
    torch = pytest.importorskip("torch")
    exported = tmp_path / "model.onnx"
    x = torch.randn(2, 3, 16, 16)
    options = {"dynamic_shapes": ({0: torch.export.Dim("N")},)} if dynamo else {"dynamic_axes": {"x": {0: "N"}}}
    torch.onnx.export(
        _decomposed_forms_model(torch),
        (x,),
        str(exported),
        dynamo=dynamo,
        opset_version=opset,
        input_names=["x"],
        **options,
    )
    spec, weights = tmp_path / "model.cnn", tmp_path / "model.npz"
    assert main(["import", str(exported), "-o", str(spec), "--weights-out", str(weights)]) == 0
    model = cnndsl.check_file(spec)
    layers = [kind for _, kind in model.graph.layer_nodes()]
    kinds = Counter(getattr(layer, "function", layer.kind) for layer in layers)  # an activation by its function
    # the layer norms (written out; between transposes), the Linears as 1x1 convolutions, the gates
    assert kinds["layernorm"] == 2 and all(layer.eps == 1e-6 for layer in layers if layer.kind == "layernorm")
    assert kinds["gelu"] == kinds["layerscale"] == kinds["silu"] == 1
    assert kinds["hardswish"] == 3 and kinds["hardsigmoid"] == 2
    assert kinds["conv"] == 7 and kinds["fc"] == 1  # stem, two 1x1 from Linears, two squeezes, two excitations
    from cnndsl.onnx import compile_file

    compile_file(model, tmp_path / "again.onnx", weights=weights)
    _assert_same_outputs(exported, tmp_path / "again.onnx", (3, 16, 16))
