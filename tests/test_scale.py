"""`scale F`: every value times a constant, with no parameter (Inception-ResNet's residual scaling)."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


def run(text: str, x: np.ndarray) -> np.ndarray:
    proto = cnndsl.compile_model(cnndsl.check_text(text))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return np.asarray(out)


@pytest.mark.parametrize("shape", [(5,), (3, 7), (4, 3, 3), (2, 2, 3, 3)])
def test_scale_multiplies_every_value(shape):
    x = np.random.default_rng(0).standard_normal((2, *shape), dtype=np.float32)
    text = f"input {'x'.join(map(str, shape))}\nscale 0.17 -> scale -2\n"
    np.testing.assert_allclose(run(text, x), x * np.float32(0.17) * np.float32(-2), rtol=1e-6)


def test_scale_has_no_parameters_and_no_macs():
    model = cnndsl.check_text("input 8x4x4\nscale 0.1\n")
    assert (model.trainable_params, model.total_params, model.total_macs) == (0, 0, 0)
    proto = cnndsl.compile_model(model)
    assert list(proto.graph.initializer) == []


def test_a_scaled_residual_branch():
    """Inception-ResNet's form: the branch scaled, then added to the input."""
    text = "input 2x3x3\nresidual { conv 1x1 2 weights [[[[1]] [[0]]] [[[0]] [[1]]]] -> scale 0.2 } -> relu\n"
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 3), dtype=np.float32)
    np.testing.assert_allclose(run(text, x), np.maximum(x * np.float32(1.2), 0), rtol=1e-6)
