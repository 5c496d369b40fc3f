"""ConvNeXt's block parts: layer scale (a learnt per-channel factor, torchvision's (C, 1, 1) tensor)
and stochastic depth (an identity at inference, so not emitted)."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")

BLOCK = """
input 8x7x7
block cnblock(c) {
  conv 7 c pad 3 groups c -> layernorm eps 1e-6 -> conv 1 (4 * c) gelu -> conv 1 c
    -> scale: layerscale -> droppath 0.1 -> add in
}
stage: cnblock 8
"""


def test_a_convnext_block_checks_runs_and_scales(tmp_path):
    model = cnndsl.check_text(BLOCK)
    assert not model.warnings  # a conv before droppath is not "dropout between convolutions"
    (scale,) = [node for node in model.layers if node.name == "stage.scale"]
    assert model.stats[scale].trainable == 8
    proto = cnndsl.compile_model(model)
    ops = [node.op_type for node in proto.graph.node]
    assert "Dropout" not in ops and ops.count("Mul") == 1
    initializers = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    assert initializers["stage.scale.weight"] == (8, 1, 1)  # torchvision's layer_scale shape


@pytest.mark.parametrize("shape", [(8,), (8, 5), (8, 3, 4), (8, 2, 3, 4)])
def test_layerscale_multiplies_each_channel(shape, tmp_path):
    model = cnndsl.check_text(f"input {'x'.join(map(str, shape))}\ns: layerscale\n")
    factors = np.random.default_rng(0).standard_normal((8, *[1] * (len(shape) - 1))).astype(np.float32)
    np.savez(tmp_path / "w.npz", **{"s.weight": factors})
    proto = cnndsl.compile_model(model, weights=tmp_path / "w.npz")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_array_equal(got, x * factors[None])


def test_layerscale_starts_at_its_value():
    proto = cnndsl.compile_model(cnndsl.check_text("input 4x2x2\ns: layerscale\nt: layerscale 0.5\n"))
    values = {t.name: set(np.frombuffer(t.raw_data, np.float32).tolist()) for t in proto.graph.initializer}
    assert values == {"s.weight": {np.float32(1e-6).item()}, "t.weight": {0.5}}
