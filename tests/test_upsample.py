"""upsample computes what PyTorch's nn.Upsample computes (nearest, and linear/bilinear/trilinear
with align_corners=False), checked against PyTorch's sampling rule written out in numpy, and
against torch itself when it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


def linear_along(x: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """PyTorch's align_corners=False: source = (i + 0.5) / factor - 0.5, clamped at 0."""
    n = x.shape[axis]
    source = np.maximum((np.arange(n * factor) + 0.5) / factor - 0.5, 0)
    low = np.floor(source).astype(int)
    weight = (source - low).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    return np.take(x, low, axis) * (1 - weight) + np.take(x, np.minimum(low + 1, n - 1), axis) * weight


def run(text: str, x: np.ndarray) -> np.ndarray:
    proto = cnndsl.compile_model(cnndsl.check_text(text))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_upsample_matches_pytorchs_rule(rank, mode):
    factors = [2, 3, 2][:rank]
    shape = (3, *[5] * rank)
    x = np.random.default_rng(rank).standard_normal((2, *shape)).astype(np.float32)
    text = f"input {'x'.join(map(str, shape))}\nupsample {'x'.join(map(str, factors))} {mode}\n"
    expected = x.astype(np.float64)
    for axis, factor in enumerate(factors, start=2):
        expected = np.repeat(expected, factor, axis) if mode == "nearest" else linear_along(expected, axis, factor)
    np.testing.assert_allclose(run(text, x), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("mode", "torch_mode"), [("nearest", "nearest"), ("linear", "bilinear")])
def test_upsample_matches_torch(mode, torch_mode):
    torch = pytest.importorskip("torch", reason="torch is an optional extra")
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7)).astype(np.float32)
    upsample = torch.nn.Upsample(
        scale_factor=(2, 3), mode=torch_mode, **({} if mode == "nearest" else {"align_corners": False})
    )
    expected = upsample(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run(f"input 3x6x7\nupsample 2x3 {mode}\n", x), expected, rtol=0, atol=1e-5)
