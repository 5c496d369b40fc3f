"""`cnndsl export --to pytorch`: the generated module is the compiled ONNX model, in PyTorch.

For each spec: the module's trainable and non-trainable counts are the checker's, its state_dict
keys and shapes are the ONNX initializers (batch norm's `num_batches_tracked` aside, which
`--weights` ignores), and with the ONNX model's weights loaded its eval-mode outputs are ONNX
Runtime's (relative error at most 1e-4, with random batch-norm statistics so that they matter).
The generated source passes `ruff check` and `ruff format --check`. The default run covers a spec
of each family, every layer kind among them; the whole of specs/ is the slow sweep.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnndsl
from cnndsl.export.pytorch import pytorch_source

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SPECS = Path(__file__).resolve().parent.parent / "specs"
BUFFERS_NOT_WEIGHTS = ("num_batches_tracked",)
# A spec of each family (U-Net, at 572x572, only in the slow sweep: its transposed convolutions and
# crops are in the conformance test's examples); every kind is compared there too.
REPRESENTATIVE = [
    "lenet5",
    "alexnet2012",
    "resnet18",
    "googlenet",
    "densenet121",
    "mobilenet_v3_small",
    "shufflenet_v2_x0_5",
    "squeezenet1_0",
    "convnext_tiny",
    "audio1d",
    "video3d",
    "inception_resnet_v2",
    "darknet53",
    "nin",
]


def load_module(source: str, name: str) -> Any:
    """The generated module, imported from its text."""
    module = types.ModuleType(f"generated_{name}")
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


def root_class(module: Any) -> Any:
    """The model's class: the last one the file defines."""
    classes = [cls for cls in vars(module).values() if isinstance(cls, type) and cls.__module__ == module.__name__]
    return classes[-1]


def with_random_statistics(proto: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Every initializer, batch norm's running statistics drawn at random so that they count."""
    rng = np.random.default_rng(seed)
    weights = {}
    for initializer in proto.graph.initializer:
        array = onnx.numpy_helper.to_array(initializer).copy()
        if initializer.name.endswith("running_mean"):
            array = rng.normal(0, 0.1, array.shape).astype(np.float32)
        elif initializer.name.endswith("running_var"):
            array = rng.uniform(0.5, 1.5, array.shape).astype(np.float32)
        weights[initializer.name] = array
    return weights


def compare(model: cnndsl.CheckedModel, batch: int = 1) -> None:
    """The generated module against ONNX Runtime on the compiled model: counts, names, shapes, outputs."""
    source = pytorch_source(model)
    network = root_class(load_module(source, model.name))()
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    fixed = sum(p.numel() for p in network.parameters() if not p.requires_grad) + sum(
        b.numel() for name, b in network.named_buffers() if not name.endswith(BUFFERS_NOT_WEIGHTS)
    )
    assert (trainable, fixed) == (model.trainable_params, model.non_trainable_params)

    proto = cnndsl.compile_model(model, seed=0)
    weights = with_random_statistics(proto)
    state = {k: tuple(v.shape) for k, v in network.state_dict().items() if not k.endswith(BUFFERS_NOT_WEIGHTS)}
    assert state == {k: v.shape for k, v in weights.items()}
    network.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    network.eval()

    for initializer in proto.graph.initializer:
        initializer.CopyFrom(onnx.numpy_helper.from_array(weights[initializer.name], initializer.name))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = np.random.default_rng(1).standard_normal((batch, *model.graph.input_shape), dtype=np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: feed})
    with torch.no_grad():
        actual = network(torch.from_numpy(feed))
    actual = actual if isinstance(actual, tuple) else (actual,)
    for want, got in zip(expected, actual, strict=True):
        got = got.numpy()
        assert got.shape == want.shape
        scale = max(float(np.abs(want).max()), 1e-6)
        assert float(np.abs(got - want).max()) / scale <= 1e-4


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_representative_specs(name: str) -> None:
    compare(cnndsl.check_file(str(SPECS / f"{name}.cnn")))


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.cnn")), ids=lambda path: path.stem)
def test_every_spec(spec: Path) -> None:
    model = cnndsl.check_file(str(spec))
    assert_one_class_per_block(model, pytorch_source(model))
    compare(model)


@pytest.mark.skipif(shutil.which("ruff") is None and not Path(sys.prefix, "bin", "ruff").exists(), reason="no ruff")
def test_generated_source_passes_ruff(tmp_path: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.prefix, "bin", "ruff"))
    for name in REPRESENTATIVE:
        (tmp_path / f"{name}.py").write_text(pytorch_source(cnndsl.check_file(str(SPECS / f"{name}.cnn"))))
    config = ["--no-cache", "--config", str(SPECS.parent / "pyproject.toml")]  # the project's rules
    for command in (["check", *config], ["format", "--check", "--diff", *config]):
        result = subprocess.run([ruff, *command, str(tmp_path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def _class_source(source: str, name: str) -> str:
    start = re.search(rf"^class {name}\(", source, re.MULTILINE).start()  # type: ignore[union-attr]
    end = source.find("\nclass ", start + 1)
    return source[start : end if end != -1 else len(source)]


def test_a_block_is_one_class_with_its_parameters() -> None:
    """ResNet-50's residual unit is one class built from its parameters (the projection under
    `if project:`), and its `stage` block a class whose loop builds the units, the first with the
    stage's stride and projection; the model's equivalence is checked above."""
    source = pytorch_source(cnndsl.check(SPECS / "resnet50.cnn"))
    assert source.count("class Unit") == 1 and source.count("class Stage") == 1
    unit = _class_source(source, "Unit")
    assert "        self,\n        in_channels: int,\n        c: int,\n        expansion: int = 1,\n" in unit
    assert "nn.Conv2d(c * width_per_group // 64 * groups, expansion * c, kernel_size=1, bias=False)" in unit
    assert "if project:" in unit and "if self.downsample is not None:" in unit
    stage = _class_source(source, "Stage")
    assert "class Stage(nn.Sequential):" in stage and "        for i in range(n):\n" in stage
    assert "in_channels if i == 0 else expansion * c," in stage and "stride=stride if i == 0 else 1," in stage
    assert "self.layer1 = Stage(64, 64, 3, expansion=4)" in source
    assert "self.layer2 = Stage(256, 128, 4, expansion=4, stride=2)" in source


# The families whose blocks' calls differ in structure (an `if` over a parameter, a conditional
# residual, a repeat of another count, a per-axis kernel, a computed default, an if/else).
STRUCTURED = [
    "efficientnet_b0",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mnasnet0_5",
    "shufflenet_v2_x0_5",
    "densenet121",
    "inception_v3",
    "inception_bn",
    "inception_resnet_v2",
    "darknet53",
    "convnext_tiny",
]


def assert_one_class_per_block(model: cnndsl.CheckedModel, source: str) -> None:
    """Every block the spec calls is at most one class (none where it is inlined or has no
    module), never one class per distinct body."""
    assert "one class per distinct body" not in source
    kinds = {scope.kind for node in model.graph.nodes for scope in node.scopes if scope.definition is not None}
    classes = re.findall(r"^class (\w+)\(", source, re.MULTILINE)[:-1]  # the last is the model's own
    for kind in kinds:
        stem = "".join(word[:1].upper() + word[1:] for word in kind.split("_"))
        assert len([name for name in classes if re.fullmatch(rf"{stem}\d*", name)]) <= 1, kind


@pytest.mark.parametrize("name", STRUCTURED)
def test_every_block_is_one_class(name: str) -> None:
    model = cnndsl.check_file(str(SPECS / f"{name}.cnn"))
    assert_one_class_per_block(model, pytorch_source(model))


def test_conditional_parts_are_if_statements() -> None:
    """EfficientNet's MBConv: the expansion only where `ratio != 1`, appended to the block's list;
    the residual sum only where the stride is 1 and the width kept, an if/else in forward."""
    mbconv = _class_source(pytorch_source(cnndsl.check(SPECS / "efficientnet_b0.cnn")), "Mbconv")
    assert (
        "        if ratio != 1:\n            block_layers.append(Cbs(in_channels, in_channels * ratio, eps=eps))\n"
        in mbconv
    )
    assert "self.block = nn.Sequential(*block_layers)" in mbconv
    assert "        if self.stride == 1 and self.in_channels == self.c:\n" in mbconv and "        else:\n" in mbconv
    unit = _class_source(pytorch_source(cnndsl.check(SPECS / "shufflenet_v2_x0_5.cnn")), "Unit")
    assert "        if self.stride > 1:\n" in unit and "x[:, 0 : self.cout // 2]" in unit


def test_named_repeat_is_a_loop_and_widths_follow_the_parameters() -> None:
    source = pytorch_source(cnndsl.check(SPECS / "densenet121.cnn"))
    block = _class_source(source, "Denseblock")
    assert "class Denseblock(nn.Sequential):" in block
    assert (
        'self.add_module(f"denselayer{i + 1}", Denselayer(in_channels + i * growth, growth, bn_size=bn_size))' in block
    )
    assert "self.transition1 = Transition(init + b1 * growth)" in source
    assert "self.conv2 = nn.Conv2d(bn_size * growth, growth, kernel_size=3, padding=1, bias=False)" in source


def _state_shapes(module: Any) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def test_a_block_class_builds_another_member_of_its_family() -> None:
    """The classes take the spec's parameters as a person would: EfficientNet-B0's file builds
    B2's features from B2's multipliers, DenseNet-121's builds DenseNet-161's (same parameter names
    and shapes as the files generated for those specs)."""
    pairs = [
        ("efficientnet_b0", "efficientnet_b2", "Efficientnet", (3, 1.1, 1.2)),
        ("densenet121", "densenet161", "Densenet", (3, 48, 6, 12, 36, 24, 96)),
    ]
    for small, large, block, arguments in pairs:
        built = getattr(load_module(pytorch_source(cnndsl.check(SPECS / f"{small}.cnn")), small), block)(*arguments)
        reference = root_class(load_module(pytorch_source(cnndsl.check(SPECS / f"{large}.cnn")), large))()
        assert _state_shapes(built) == _state_shapes(reference.features)


def test_an_if_else_over_a_parameter_is_one_class(tmp_path: Path) -> None:
    """ResNet's unit called both as a basic block and as a bottleneck (`if (expansion == 1)`):
    one class whose __init__ and forward branch on the parameter; outputs equal ONNX Runtime's."""
    spec = tmp_path / "mixed.cnn"
    spec.write_text(
        f'use "{(SPECS / "lib" / "resnet.cnn").as_posix()}"\n'
        "input 3x32x32\n"
        "conv1: conv 3x3 16 pad 1 nobias -> bn1: bn -> relu\n"
        "  -> layer1: unit 16 -> layer2: unit 8 expansion 4 stride 2 project 1 -> layer3: unit 32 stride 2 project 1\n"
        "  -> pool avg global -> flatten -> fc: fc 10\n"
    )
    model = cnndsl.check_file(str(spec))
    source = pytorch_source(model)
    assert_one_class_per_block(model, source)
    unit = _class_source(source, "Unit")
    assert "        if expansion == 1:\n" in unit and "        if self.expansion == 1:\n" in unit
    compare(model)


def test_googlenet_inception_is_one_class_called_nine_times() -> None:
    source = pytorch_source(cnndsl.check(SPECS / "googlenet.cnn"))
    assert source.count("class Inception") == 1 and source.count("class Basic") == 1
    assert source.count(" = Inception(") == 9
    assert "self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)" in source
    assert "self.branch1 = Basic(in_channels, c1)" in _class_source(source, "Inception")
