"""layernorm computes PyTorch's layer normalisation over the channels (nn.LayerNorm(C) on vectors,
ConvNeXt's LayerNorm2d on maps) in both of its ONNX forms: the arithmetic before opset 17, the
LayerNormalization operator from 17."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def reference(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, eps: float) -> np.ndarray:
    """Per sample and position, normalise the C values (axis 1), then scale and shift per channel."""
    mean = x.mean(axis=1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    per_channel = (1, -1, *([1] * (x.ndim - 2)))
    return (x - mean) / np.sqrt(variance + eps) * scale.reshape(per_channel) + shift.reshape(per_channel)


@pytest.mark.parametrize("opset", [13, 16, 17, None])
@pytest.mark.parametrize("shape", [(6,), (6, 9), (6, 5, 7), (6, 3, 4, 5)])
def test_layernorm_matches_pytorch(shape, opset, tmp_path):
    model = cnndsl.check_text(f"input {'x'.join(map(str, shape))}\nnorm: layernorm eps 1e-6\n")
    rng = np.random.default_rng(len(shape))
    scale, shift = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    np.savez(tmp_path / "w.npz", **{"norm.weight": scale, "norm.bias": shift})
    proto = cnndsl.compile_model(model, opset=opset, weights=tmp_path / "w.npz")
    ops = {node.op_type for node in proto.graph.node}
    assert ("LayerNormalization" in ops) == (opset is None or opset >= 17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = (rng.standard_normal((2, *shape)) * 3 + 1).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, reference(x.astype(np.float64), scale, shift, 1e-6), rtol=1e-4, atol=1e-5)


def test_parameters_are_torchvisions():
    """weight and bias of shape (C,), as torchvision's LayerNorm2d state_dict holds them."""
    model = cnndsl.check_text("input 96x56x56\nconv 4/4 96 -> ln: layernorm eps 1e-6\n")
    (node,) = [n for n in model.layers if n.name == "ln"]
    assert model.stats[node].trainable == 192 and model.stats[node].non_trainable == 0
    initializers = {t.name: tuple(t.dims) for t in cnndsl.compile_model(model).graph.initializer}
    assert initializers["ln.weight"] == initializers["ln.bias"] == (96,)
