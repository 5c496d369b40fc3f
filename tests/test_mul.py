"""mul: element-wise products with broadcasting, as a squeeze-and-excitation gate uses them."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")

SQUEEZE_EXCITE = """
input 16x8x8
block se(c, r) {
  gate = pool avg global -> conv 1 (c / r) relu -> conv 1 c hardsigmoid
  mul in gate
}
stem: conv 3 16 pad 1 -> excite: se 16 4
"""


def test_a_gate_scales_every_position():
    model = cnndsl.check_text(SQUEEZE_EXCITE)
    shapes = {node.name: model.shapes[node] for node in model.layers}
    assert shapes["excite.mul1"] == (16, 8, 8) and shapes["excite.conv2"] == (16, 1, 1)
    proto = cnndsl.compile_model(model)
    names = [node.name for node in model.layers]
    for name in ("stem", "excite.conv2"):  # expose the map and the gate beside the product
        proto.graph.output.append(cnndsl_output(name))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 16, 8, 8)).astype(np.float32)
    product, feature_map, gate = session.run([names[-1], "stem", "excite.conv2"], {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(product, feature_map * gate, rtol=1e-6)


def cnndsl_output(name: str):
    import onnx

    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("input 8x4x4\ng = pool avg global\nmul in g\n", (8, 4, 4)),
        ("input 8x4x4\ng = pool avg global\nmul g in\n", (8, 4, 4)),  # either side may be the gate
        ("input 8x4x4\ng = pool avg global\nc = conv 1 1\nmul c in g\n", (8, 4, 4)),
        ("input 8x5\ng = pool max global\nmul in g\n", (8, 5)),
        ("input 8\nmul in in\n", (8,)),
    ],
)
def test_broadcast_shapes(text, result):
    model = cnndsl.check_text(text)
    assert model.shapes[model.layers[-1]] == result


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input 16x8x8\ng = pool avg global -> conv 1 8\nmul in g\n", "the channels differ (16 and 8)"),
        ("input 4x8x8\ng = pool 2\nmul in g\n", "spatial axis 1 differ (8 and 4)"),
        ("input 4x8x8\nf = flatten\nmul in f\n", "their ranks differ"),
    ],
)
def test_shapes_that_do_not_broadcast_are_E409(text, message):
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E409" and message in diagnostic.message
