"""`cnndsl export --to pytorch`: the generated module is the compiled ONNX model, in PyTorch.

For each spec: the module's trainable and non-trainable counts are the checker's, its state_dict
keys and shapes are the ONNX initializers (batch norm's `num_batches_tracked` aside, which
`--weights` ignores), and with the ONNX model's weights loaded its eval-mode outputs are ONNX
Runtime's (relative error at most 1e-4, with random batch-norm statistics so that they matter).
The generated source passes `ruff check` and `ruff format --check`. The default run covers a spec
of each family, every layer kind among them; the whole of specs/ is the slow sweep.
"""

from __future__ import annotations

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
    compare(cnndsl.check_file(str(spec)))


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
    start = source.index(f"class {name}(nn.Module):")
    end = source.find("\nclass ", start + 1)
    return source[start : end if end != -1 else len(source)]


def test_a_block_is_one_class_with_its_parameters() -> None:
    """ResNet-50's residual unit is one class built from its parameters (the projection under
    `if project:`), called with each unit's arguments; the model's equivalence is checked above."""
    source = pytorch_source(cnndsl.check(SPECS / "resnet50.cnn"))
    assert source.count("class Unit") == 1
    unit = _class_source(source, "Unit")
    assert "        self,\n        in_channels: int,\n        c: int,\n        expansion: int = 1,\n" in unit
    assert "nn.Conv2d(c, expansion * c, kernel_size=1, bias=False)" in unit
    assert "if project:" in unit and "if self.downsample is not None:" in unit
    assert "Unit(64, 64, expansion=4, project=1), Unit(256, 64, expansion=4)" in source
    assert "Unit(256, 128, expansion=4, stride=2, project=1)" in source


def test_googlenet_inception_is_one_class_called_nine_times() -> None:
    source = pytorch_source(cnndsl.check(SPECS / "googlenet.cnn"))
    assert source.count("class Inception") == 1 and source.count("class Basic") == 1
    assert source.count(" = Inception(") == 9
    assert "self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)" in source
    assert "self.branch1 = Basic(in_channels, c1)" in _class_source(source, "Inception")
