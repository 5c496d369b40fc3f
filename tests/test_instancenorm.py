"""instancenorm computes PyTorch's InstanceNorm1d/2d/3d: each sample's channel normalised over its
own positions (biased variance), then, with `affine`, scaled and shifted per channel."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(3, 10), (3, 5, 6), (3, 2, 3, 4)])
def test_instancenorm_matches_pytorch(shape, affine, tmp_path):
    text = f"input {'x'.join(map(str, shape))}\nnorm: instancenorm{' affine' if affine else ''} eps 1e-3\n"
    model = cnndsl.check_text(text)
    rng = np.random.default_rng(len(shape))
    scale = rng.standard_normal(3).astype(np.float32) if affine else np.ones(3, np.float32)
    shift = rng.standard_normal(3).astype(np.float32) if affine else np.zeros(3, np.float32)
    weights = None
    if affine:
        np.savez(tmp_path / "w.npz", **{"norm.weight": scale, "norm.bias": shift})
        weights = tmp_path / "w.npz"
    assert model.total_params == (6 if affine else 0)
    proto = cnndsl.compile_model(model, weights=weights)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = (rng.standard_normal((2, *shape)) * 2 + 3).astype(np.float32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    axes = tuple(range(2, x.ndim))
    xd = x.astype(np.float64)
    normalised = (xd - xd.mean(axis=axes, keepdims=True)) / np.sqrt(xd.var(axis=axes, keepdims=True) + 1e-3)
    per_channel = (1, 3, *([1] * (x.ndim - 2)))
    expected = normalised * scale.reshape(per_channel) + shift.reshape(per_channel)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_a_flat_vector_is_E403():
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text("input 16\ninstancenorm\n")
    assert failure.value.diagnostics[0].code == "E403"
