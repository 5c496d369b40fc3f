"""The activations whose ONNX form is not a single operator of the same definition compute
PyTorch's functions, at every opset they are emitted at (hardswish and mish have two forms), over
values from -100 to 100, where naive formulas overflow."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


def relu6(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, 0), 6)


def softplus(x: np.ndarray) -> np.ndarray:
    """PyTorch's: log(1 + exp(x)), and x itself above its threshold of 20."""
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


PYTORCH = {
    "hardsigmoid": lambda x: relu6(x + 3) / 6,
    "hardswish": lambda x: x * relu6(x + 3) / 6,
    "relu6": relu6,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "softplus": softplus,
    "mish": lambda x: x * np.tanh(softplus(x)),
}


@pytest.mark.parametrize("opset", [13, 14, 17, 18, None])
@pytest.mark.parametrize("function", sorted(PYTORCH))
def test_activation_matches_pytorch(function, opset):
    proto = cnndsl.compile_model(cnndsl.check_text(f"input 3x40\n{function}\n"), opset=opset)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.concatenate([np.linspace(-8, 8, 180), np.linspace(-100, 100, 60)]).astype(np.float32).reshape(2, 3, 40)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, PYTORCH[function](x.astype(np.float64)), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("function", "older", "newer"),
    [("hardswish", ["HardSigmoid", "Mul"], ["HardSwish"]), ("mish", ["Softplus", "Tanh", "Mul"], ["Mish"])],
)
def test_the_operator_is_used_where_it_exists(function, older, newer):
    from cnndsl.layers.activation import FUNCTIONS, HARD_SWISH_OPSET, MISH_OPSET

    first = {"hardswish": HARD_SWISH_OPSET, "mish": MISH_OPSET}[function]
    assert FUNCTIONS[function].onnx_op == newer[0]
    model = cnndsl.check_text(f"input 3x8x8\nconv 3 4 {function}\n")
    ops = {
        opset: [n.op_type for n in cnndsl.compile_model(model, opset=opset).graph.node] for opset in (first - 1, first)
    }
    assert ops == {first - 1: ["Conv", *older], first: ["Conv", *newer]}
