"""Every spec that reproduces a timm model (benchmarks/timm_models.py), against timm's own model with
the same weights, as tests/test_torchvision_weights.py does for torchvision's.

timm's model is built with `pretrained=False` and trained-like batch-norm statistics, its
`state_dict()` saved unchanged under timm's keys and loaded into the spec with `--weights`. The
default run checks that the names and shapes agree and the trainable parameters; the slow run
(`pytest -m slow`) also compares MACs and the ONNX Runtime output at batch 2, within the same
relative tolerance as torchvision's.

Skipped where torch, torchvision or timm is not installed (the `reference` extra; .ci/run installs it).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import cnndsl
from cnndsl.onnx import compile_file, plan

torch = pytest.importorskip("torch")
for _module in ("torchvision", "timm"):  # importing either needs a workaround: timm_models.timm()
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} is not installed", allow_module_level=True)
ort = pytest.importorskip("onnxruntime")
from benchmarks import timm_models as tm  # noqa: E402  (needs torch)
from benchmarks import torchvision_models as tv  # noqa: E402
from tests.test_torchvision_weights import assert_same_outputs  # noqa: E402

NAMES = sorted(tm.REFERENCES)


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_has_timms_parameters_by_name(name, spec_dir):
    """Every array of timm's state_dict is a parameter of the spec, under the same name and shape,
    and the other way round (num_batches_tracked aside): the state_dict loads by name."""
    model = cnndsl.check_file(spec_dir / f"{name}.cnn")
    assert model.input_shape == tm.REFERENCES[name].input_shape
    reference = tm.build(name)
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items() if not k.endswith(".num_batches_tracked")}
    ours = {weight.name: tuple(weight.shape) for weight in plan(model).weights}
    assert sorted(set(ours) - set(theirs)) == [], "names only in the spec"
    assert sorted(set(theirs) - set(ours)) == [], "names only in timm's state_dict"
    assert {k: s for k, s in ours.items() if theirs[k] != s} == {}, "shapes that differ"
    assert model.trainable_params == tv.trainable_params(reference)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_timm_weights_give_timms_outputs(name, spec_dir, tmp_path):
    model = cnndsl.check_file(spec_dir / f"{name}.cnn")
    reference = tm.build(name)
    weights = tmp_path / "timm.npz"
    np.savez(weights, **tv.state_dict_arrays(reference))
    output = tmp_path / f"{name}.onnx"
    compile_file(model, output, weights=weights)
    assert model.total_macs == tv.macs(reference, model.input_shape)

    assert_same_outputs(output, model, reference)
