"""groupnorm computes PyTorch's nn.GroupNorm in both of its ONNX forms: the arithmetic (InstanceNormalization
over the channels viewed as G rows, then a per-channel scale and shift) before opset 21, and the
GroupNormalization operator, whose scale and bias are per channel only from 21."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("opset", [13, 18, 20, 21, None])
@pytest.mark.parametrize(
    ("shape", "groups"), [((6,), 3), ((6, 9), 2), ((6, 5, 7), 3), ((6, 3, 4, 5), 6), ((6, 4, 4), 1)]
)
def test_groupnorm_matches_torch(shape, groups, opset, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(len(shape))
    norm = torch.nn.GroupNorm(groups, shape[0], eps=1e-3)
    with torch.no_grad():  # a scale and shift per channel that differ: a per-group one would show
        norm.weight.normal_()
        norm.bias.normal_()
    np.savez(tmp_path / "w.npz", **{f"gn.{k}": v.numpy() for k, v in norm.state_dict().items()})
    model = cnndsl.check_text(f"input {'x'.join(map(str, shape))}\ngn: groupnorm {groups} eps 1e-3\n")
    proto = cnndsl.compile_model(model, opset=opset, weights=tmp_path / "w.npz")
    ops = {node.op_type for node in proto.graph.node}
    assert ("GroupNormalization" in ops) == (opset is None or opset >= 21)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(0).standard_normal((2, *shape)) * 3 + 1).astype(np.float32)
    expected = norm(torch.from_numpy(x)).detach().numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [13, None])
def test_noaffine_is_torchs_affine_false(opset):
    torch = pytest.importorskip("torch")
    model = cnndsl.check_text("input 8x5x5\ngroupnorm 4 noaffine\n")
    assert model.total_params == 0
    proto = cnndsl.compile_model(model, opset=opset)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((2, 8, 5, 5)).astype(np.float32)
    expected = torch.nn.GroupNorm(4, 8, affine=False)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], expected, rtol=1e-4, atol=1e-5)


def test_parameters_are_torchs():
    model = cnndsl.check_text("input 3x32x32\nconv 3 64 -> gn: groupnorm 32\n")
    (node,) = [n for n in model.layers if n.name == "gn"]
    assert (model.stats[node].trainable, model.stats[node].non_trainable) == (128, 0)
    initializers = {t.name: tuple(t.dims) for t in cnndsl.compile_model(model).graph.initializer}
    assert initializers["gn.weight"] == initializers["gn.bias"] == (64,)


def test_groups_that_do_not_divide_the_channels_are_E404():
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text("input 3x32x32\nconv 3 48 -> groupnorm 32\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E404"
    assert "groupnorm groups must divide the channels: 48 channels cannot be split into 32 groups" in diagnostic.message
