"""The activations whose ONNX form is not a single operator of the same definition compute
PyTorch's functions, at every opset they are emitted at (hardswish has two forms)."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


def relu6(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, 0), 6)


PYTORCH = {
    "hardsigmoid": lambda x: relu6(x + 3) / 6,
    "hardswish": lambda x: x * relu6(x + 3) / 6,
    "relu6": relu6,
}


@pytest.mark.parametrize("opset", [13, 14, None])
@pytest.mark.parametrize("function", sorted(PYTORCH))
def test_activation_matches_pytorch(function, opset):
    proto = cnndsl.compile_model(cnndsl.check_text(f"input 3x40\n{function}\n"), opset=opset)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.linspace(-8, 8, 2 * 3 * 40, dtype=np.float32).reshape(2, 3, 40)  # both knees and beyond
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, PYTORCH[function](x.astype(np.float64)), rtol=0, atol=1e-6)


def test_hardswish_uses_the_operator_where_it_exists():
    model = cnndsl.check_text("input 3x8x8\nconv 3 4 hardswish\n")
    ops = {opset: [n.op_type for n in cnndsl.compile_model(model, opset=opset).graph.node] for opset in (13, 14)}
    assert ops == {13: ["Conv", "HardSigmoid", "Mul"], 14: ["Conv", "HardSwish"]}
