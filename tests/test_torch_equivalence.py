"""The benchmark's name map (benchmarks/torch_models.py) gives the models whose inference it times
(`--trained-like`) the same weights in both: ONNX Runtime's output must match PyTorch's in eval mode.

Every spec against torchvision's own models, without a map, is tests/test_torchvision_weights.py.
Skipped where torch is not installed (the optional `reference` extra).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import cnndsl

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
from benchmarks.torch_models import build, cnndsl_weights, randomise_batch_norm  # noqa: E402  (needs torch)

BENCHMARK_SPECS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "specs"


@pytest.mark.parametrize("name", ["resnet50", "tiny"])  # what benchmarks/run.py times
def test_benchmark_weights_give_the_same_outputs(name, spec_dir, tmp_path):
    torch.manual_seed(0)
    reference = build(name).eval()
    randomise_batch_norm(reference)
    weights = tmp_path / f"{name}.npz"
    np.savez(weights, **cnndsl_weights(reference, name))

    spec = spec_dir / f"{name}.cnn"
    model = cnndsl.check_file(spec if spec.exists() else BENCHMARK_SPECS / f"{name}.cnn")
    proto = cnndsl.compile_model(model, weights=str(weights))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape), dtype=np.float32)
    (ours,) = session.run(None, {"input": x})
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x)).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
