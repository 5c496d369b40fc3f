"""crop keeps the middle of a tensor at another's spatial size, as U-Net's skip connections do."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize(
    ("shape", "target", "kept"),
    [
        ((4, 9, 12), "pool 2", (slice(2, 6), slice(3, 9))),  # odd difference: the extra row at the end
        ((3, 10), "conv 5 2", (slice(2, 8),)),
        ((2, 6, 6, 6), "conv 3 1", (slice(1, 5), slice(1, 5), slice(1, 5))),
    ],
)
def test_crop_keeps_the_middle(shape, target, kept):
    text = f"input {'x'.join(map(str, shape))}\nsmall = {target}\ncrop in small\n"
    proto = cnndsl.compile_model(cnndsl.check_text(text))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    (got,) = session.run(["crop1"], {session.get_inputs()[0].name: x})
    np.testing.assert_array_equal(got, x[(slice(None), slice(None), *kept)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input 4x8x8\nsmall = pool 2\ncrop small in\n", "spatial axis 1 would grow from 4 to 8"),
        ("input 4x8x8\nflat = flatten\ncrop in flat\n", "their ranks differ"),
        ("input 4x8x8\nsmall = pool 2\ncrop in small small\n", "crop takes two tensors"),
    ],
)
def test_bad_crops_are_E410(text, message):
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E410" and message in diagnostic.message
