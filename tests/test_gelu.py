"""gelu and gelu tanh compute PyTorch's GELU (approximate='none' and 'tanh') in both ONNX forms: the
Gelu operator from opset 20, the expression before it."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("opset", [13, 19, 20, None])
@pytest.mark.parametrize(("layer", "approximate"), [("gelu", "none"), ("gelu tanh", "tanh")])
@pytest.mark.parametrize("shape", [(6,), (6, 9), (6, 5, 7), (6, 3, 4, 5)])
def test_gelu_matches_torch(shape, layer, approximate, opset):
    torch = pytest.importorskip("torch")
    proto = cnndsl.compile_model(cnndsl.check_text(f"input {'x'.join(map(str, shape))}\n{layer}\n"), opset=opset)
    ops = [node.op_type for node in proto.graph.node]
    assert ("Gelu" in ops) == (opset is None or opset >= 20)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(len(shape)).standard_normal((2, *shape)) * 3).astype(np.float32)
    expected = torch.nn.GELU(approximate=approximate)(torch.from_numpy(x)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_forms_differ():
    """The tanh approximation is not the exact form: at x = 1 they differ by about 1.6e-4."""
    x = np.full((1, 1), 1.0, dtype=np.float32)
    results = []
    for layer in ("gelu", "gelu tanh"):
        proto = cnndsl.compile_model(cnndsl.check_text(f"input 1\n{layer}\n"))
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        results.append(float(session.run(None, {session.get_inputs()[0].name: x})[0][0, 0]))
    np.testing.assert_allclose(results, [0.8413447, 0.8411920], rtol=0, atol=1e-6)


def test_gelu_tanh_is_described():
    model = cnndsl.check_text("input 4x8x8\ngelu tanh -> gelu\n")
    assert [node.layer.describe() for node in model.layers] == ["tanh", ""]
    assert model.lowest_opset == 13


@pytest.mark.parametrize("layer", ["relu tanh", "leakyrelu 0.1 tanh"])
def test_only_gelu_has_a_tanh_form(layer):
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(f"input 4x8x8\n{layer}\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E202" and "has no tanh form; only gelu does" in diagnostic.message
