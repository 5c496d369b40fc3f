"""Every spec that reproduces a torchvision model, against torchvision's own model with the same weights.

torchvision's model is built with `weights=None` and trained-like statistics (benchmarks/
torchvision_models.py), its `state_dict()` saved unchanged under torchvision's keys, and loaded
into our spec with `--weights`. At batch 2 the ONNX Runtime output must match torchvision's in eval
mode within a max relative error of 1e-4, max|ours - theirs| / max|theirs|: relative to the output's
scale, which random weights and statistics make arbitrary. Trainable parameters and MACs (convolutions
and linear layers, biases excluded) must equal torchvision's.

Skipped where torch or torchvision is not installed (the `torch` extra; .ci/run installs it). The
largest models are marked slow (`pytest -m slow`).
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import cnndsl
from cnndsl.diagnostics import CnnError
from cnndsl.onnx import compile_file, plan

torch = pytest.importorskip("torch")
if importlib.util.find_spec("torchvision") is None:  # importing it needs a workaround: tv.torchvision()
    pytest.skip("torchvision is not installed", allow_module_level=True)
ort = pytest.importorskip("onnxruntime")
from benchmarks import torchvision_models as tv  # noqa: E402  (needs torch)

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOLERANCE = 1e-4
BATCH = 2
SHOWN = 40  # lines of each kind in a failure's key diff
# More than about 10 s each on a 2-core machine (building, saving, compiling and running twice): the
# large classics and the families' larger members; each family's smallest runs by default.
_LARGE_FAMILIES = ("vgg", "resnext101", "wide_resnet", "densenet", "efficientnet_b", "convnext_", "fcn_", "deeplab")
SLOW = {name for name in tv.REFERENCES if name.startswith(_LARGE_FAMILIES)} - {
    "efficientnet_b0",
    "convnext_tiny",
    "densenet121",
} | {
    "alexnet",
    "inception_v3",
    "resnet101",
    "resnet152",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
}


def max_relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


def assert_same_outputs(compiled: pathlib.Path, model: cnndsl.CheckedModel, reference: torch.nn.Module) -> None:
    """The compiled model through ONNX Runtime and the reference in eval mode, on one batch of BATCH
    random inputs: the same shape, and within TOLERANCE."""
    x = np.random.default_rng(0).standard_normal((BATCH, *model.input_shape), dtype=np.float32)
    session = ort.InferenceSession(str(compiled), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x)).numpy()
    assert ours.shape == theirs.shape
    assert max_relative_error(ours, theirs) <= TOLERANCE


def weights_mismatch(failure: CnnError, model: cnndsl.CheckedModel, keys: list[str], name: str) -> str:
    """Why torchvision's state_dict does not load: the names only we have and those only torchvision
    has (side by side, each in its model's order, so that a renamed layer shows as a pair), then what the loader
    says about arrays whose names match (shapes, types)."""
    ours = [weight.name for weight in plan(model).weights]
    only_ours = [name for name in ours if name not in keys]
    only_theirs = [key for key in keys if key not in ours and not key.endswith(".num_batches_tracked")]
    lines = [
        f"specs/{name}.cnn does not load torchvision's {tv.REFERENCES[name].constructor} state_dict:",
        f"{len(only_ours)} parameter names only in the spec, {len(only_theirs)} keys only in torchvision's"
        " (a bare layer scale 'L' loads as 'L.weight'; num_batches_tracked is ignored):",
    ]
    width = max((len(n) for n in only_ours[:SHOWN]), default=0)
    for index in range(min(SHOWN, max(len(only_ours), len(only_theirs)))):
        left = only_ours[index] if index < len(only_ours) else ""
        right = only_theirs[index] if index < len(only_theirs) else ""
        lines.append(f"  {left:<{width}}  |  {right}")
    misfits = [d for d in failure.diagnostics if "has no array" not in d.message and "not a parameter" not in d.message]
    if misfits:
        lines.append(f"{len(misfits)} arrays that do not fit:")
        lines += [f"  {d.message}" for d in misfits[:SHOWN]]
    return "\n".join(lines)


def test_every_spec_that_names_a_torchvision_model_is_compared_with_it():
    """docs/zoo.md's reference column names the torchvision model a spec reproduces; each one is here."""
    named = {}
    for line in (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 7 and cells[1].startswith("`") and re.fullmatch(r"`\w+`", cells[7]):
            named[cells[1].strip("`").removesuffix(".cnn")] = cells[7].strip("`")
    assert len(named) > 40
    assert {spec: tv.REFERENCES[spec].constructor for spec in named if spec in tv.REFERENCES} == named
    assert sorted(named) == sorted(tv.REFERENCES)


def _case(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name


@pytest.mark.parametrize("name", [_case(name) for name in sorted(tv.REFERENCES)])
def test_torchvision_weights_give_torchvisions_outputs(name, spec_dir, tmp_path):
    spec = spec_dir / f"{name}.cnn"
    assert spec.exists(), f"no spec {spec.name} for torchvision's {tv.REFERENCES[name].constructor}"
    model = cnndsl.check_file(spec)
    reference = tv.build(name)
    weights = tmp_path / "torchvision.npz"
    arrays = tv.state_dict_arrays(reference)
    np.savez(weights, **arrays)
    output = tmp_path / f"{name}.onnx"
    mismatch = None
    try:
        compile_file(model, output, weights=weights)
    except CnnError as failure:
        mismatch = weights_mismatch(failure, model, list(arrays), name)
    if mismatch:  # outside the except block, so that pytest does not print the whole CnnError too
        pytest.fail(mismatch, pytrace=False)

    assert model.trainable_params == tv.trainable_params(reference)
    assert model.total_macs == tv.macs(reference, model.input_shape)

    assert_same_outputs(output, model, reference)


def test_the_cli_loads_a_state_dict(spec_dir, tmp_path):
    """`cnndsl compile SPEC --weights STATE_DICT.npz`, as the user runs it, gives torchvision's output."""
    reference = tv.build("resnet18")
    weights = tmp_path / "resnet18.npz"
    np.savez(weights, **tv.state_dict_arrays(reference))
    output = tmp_path / "resnet18.onnx"
    spec = spec_dir / "resnet18.cnn"
    done = subprocess.run(
        [sys.executable, "-m", "cnndsl", "compile", str(spec), "--weights", str(weights), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224), dtype=np.float32)
    (ours,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        assert max_relative_error(ours, reference(torch.from_numpy(x)).numpy()) <= TOLERANCE
