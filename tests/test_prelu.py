"""prelu computes PyTorch's nn.PReLU, per channel and shared, on flat vectors and 1D, 2D and 3D
maps, with torch's parameter shapes so that its state_dict loads unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")

SHAPES = [(5,), (5, 7), (5, 4, 3), (5, 3, 2, 4)]


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_prelu_matches_torch(shape, shared, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(len(shape))
    prelu = torch.nn.PReLU(1 if shared else shape[0])
    with torch.no_grad():
        prelu.weight.uniform_(-1.0, 1.0)  # distinct slopes, some negative: a misplaced one shows
    np.savez(tmp_path / "w.npz", **{f"act.{k}": v.numpy() for k, v in prelu.state_dict().items()})
    model = cnndsl.check_text(f"input {'x'.join(map(str, shape))}\nact: prelu{' shared' if shared else ''}\n")
    proto = cnndsl.compile_model(model, weights=tmp_path / "w.npz")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    expected = prelu(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("layer", "slopes", "initial"), [("prelu", 64, 0.25), ("prelu shared init 0.1", 1, 0.1)])
def test_parameters_are_torchs(layer, slopes, initial):
    """weight (C,) or (1,), trainable, starting at torch's 0.25 or the given value."""
    numpy_helper = pytest.importorskip("onnx.numpy_helper")
    model = cnndsl.check_text(f"input 3x32x32\nconv 3 64 -> act: {layer}\n")
    (node,) = [n for n in model.layers if n.name == "act"]
    assert (model.stats[node].trainable, model.stats[node].non_trainable) == (slopes, 0)
    (weight,) = [t for t in cnndsl.compile_model(model).graph.initializer if t.name == "act.weight"]
    np.testing.assert_array_equal(numpy_helper.to_array(weight), np.full(slopes, initial, dtype=np.float32))
