"""convtranspose computes PyTorch's ConvTranspose1d/2d with its shape formula, checked against the
definition (every input value scatters its kernel, stride apart) written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


def transposed(x, weight, bias, stride, pad, extra, dilation, groups):
    """PyTorch's definition for 1D or 2D inputs: scatter, then crop `pad` and keep `extra` rows."""
    batch, channels, *spatial = x.shape
    kernel = weight.shape[2:]
    out_per_group = weight.shape[1]
    full = [
        (n - 1) * s + d * (k - 1) + 1 + e
        for n, s, d, k, e in zip(spatial, stride, dilation, kernel, extra, strict=True)
    ]
    y = np.zeros((batch, out_per_group * groups, *full))
    per_group = channels // groups
    for c in range(channels):
        g = c // per_group
        for index in np.ndindex(*spatial):
            for tap in np.ndindex(*kernel):
                at = tuple(i * s + t * d for i, s, t, d in zip(index, stride, tap, dilation, strict=True))
                target = (slice(None), slice(g * out_per_group, (g + 1) * out_per_group), *at)
                y[target] += x[(slice(None), c, *index)][:, None] * weight[(c, slice(None), *tap)]
    crop = tuple(slice(p, size - p) for p, size in zip(pad, full, strict=True))
    return y[(slice(None), slice(None), *crop)] + bias.reshape(1, -1, *([1] * len(spatial)))


@pytest.mark.parametrize(
    ("shape", "layer", "stride", "pad", "extra", "dilation", "groups"),
    [
        ((4, 6), "convtranspose 3/2 6 pad 1 output_padding 1", (2,), (1,), (1,), (1,), 1),
        ((4, 5, 6), "convtranspose 2x2/2 3", (2, 2), (0, 0), (0, 0), (1, 1), 1),  # U-Net's up-convolution
        ((4, 5, 4), "convtranspose 3/2 6 pad 1 output_padding 1 groups 2", (2, 2), (1, 1), (1, 1), (1, 1), 2),
        ((2, 4, 4), "convtranspose 3x2 4 pad 2x0 dilation 2", (1, 1), (2, 0), (0, 0), (2, 2), 1),
    ],
)
def test_convtranspose_matches_pytorchs_definition(shape, layer, stride, pad, extra, dilation, groups, tmp_path):
    model = cnndsl.check_text(f"input {'x'.join(map(str, shape))}\nup: {layer}\n")
    (node,) = model.layers
    rng = np.random.default_rng(0)
    arrays = {
        f"up.{w.name}": rng.standard_normal(w.shape).astype(np.float32)
        for w in node.layer.parameters([model.input_shape])
    }
    np.savez(tmp_path / "w.npz", **arrays)
    proto = cnndsl.compile_model(model, weights=tmp_path / "w.npz")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    expected = transposed(
        x.astype(np.float64), arrays["up.weight"], arrays["up.bias"], stride, pad, extra, dilation, groups
    )
    assert got.shape[1:] == model.shapes[node] == expected.shape[1:]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_unet_up_convolution_counts():
    """U-Net's first up-convolution: 1024 -> 512 channels, 2x2/2, 28 -> 56, with bias."""
    model = cnndsl.check_text("input 1024x28x28\nconvtranspose 2x2/2 512\n")
    (node,) = model.layers
    assert model.shapes[node] == (512, 56, 56)
    assert model.total_params == 1024 * 512 * 4 + 512
    assert model.total_macs == 1024 * 28 * 28 * 512 * 4


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("input 4x8x8\nconvtranspose 3/2 4 output_padding 2\n", "E302", "output_padding 2 must be below"),
        ("input 4x1x1\nconvtranspose 1 4 pad 1\n", "E401", "the padding removes the whole output"),
        ("input 4x8x8\nconvtranspose 3 4 pad same\n", "E302", "pad same is not defined"),
        ("input 4\nconvtranspose 3 4\n", "E403", "needs a spatial input"),
        ("input 5x8x8\nconvtranspose 3 4 groups 2\n", "E404", "groups must divide the input channels"),
    ],
)
def test_bad_transposed_convolutions(text, code, message):
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == code and message in diagnostic.message
