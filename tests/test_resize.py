"""resize_nearest and resize_linear compute what PyTorch's F.interpolate(a, size=b's spatial size)
computes, for sizes that are no integer multiple of the input's, up and down, in 1D, 2D and 3D (the
nearest mode's floor(i * in / out) and linear's align_corners=False sampling), and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")

TORCH_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resized(mode: str, source: tuple[int, ...], target: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The tensor `resize_MODE src dst` resizes, of spatial size `source`, and the result, where the
    input is as large as both per axis and valid convolutions cut `src` and `dst` out of it."""
    largest = tuple(max(a, b) for a, b in zip(source, target, strict=True))

    def cut_to(size: tuple[int, ...]) -> str:
        return "in -> conv " + "x".join(str(n - s + 1) for n, s in zip(largest, size, strict=True)) + " 3"

    text = (
        f"input {'x'.join(map(str, (2, *largest)))}\nsrc = {cut_to(source)}\ndst = {cut_to(target)}\n"
        f"up = resize_{mode} src dst\noutput src, up\n"
    )
    proto = cnndsl.compile_model(cnndsl.check_text(text))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(len(source)).standard_normal((2, 2, *largest)).astype(np.float32)
    src, up = session.run(["src", "up"], {session.get_inputs()[0].name: x})
    assert up.shape == (2, 3, *target)
    return src, up


SIZES = [
    ((7,), (100,)),
    ((97,), (49,)),
    ((5, 7), (11, 13)),
    ((6, 6), (9, 9)),  # 3/2: sampling points that fall exactly on input pixels
    ((7, 9), (3, 4)),
    ((33, 65), (129, 257)),  # DeepLab's output stride 8 back to the input's 257 - 1
    ((3, 5, 4), (7, 6, 9)),
]


@pytest.mark.parametrize(("source", "target"), SIZES)
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_is_torch_interpolate_to_a_size(mode, source, target):
    torch = pytest.importorskip("torch")
    src, got = resized(mode, source, target)
    options = {"mode": "nearest"} if mode == "nearest" else {"mode": TORCH_LINEAR[len(source)], "align_corners": False}
    expected = torch.nn.functional.interpolate(torch.from_numpy(src), size=target, **options).numpy()
    if mode == "nearest":  # a copy of input values: exactly
        np.testing.assert_array_equal(got, expected)
    else:
        # Both compute the sampling positions in float32, rounded differently (ONNX Runtime divides
        # by out/in, PyTorch multiplies by in/out): at a position ~100 they differ by ~1e-5 pixel.
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_deeplab_head_returns_to_the_input_size():
    model = cnndsl.check_text("input 3x513x513\nin -> conv 3/2 8 pad 1 -> conv 3/4 21 pad 1 -> resize_linear in\n")
    assert model.shapes[model.layers[-1]] == (21, 513, 513)
    assert model.layers[-1].layer is not None and model.layers[-1].layer.describe() == "linear"


@pytest.mark.parametrize("kind", ["resize_nearest", "resize_linear"])
def test_resize_needs_opset_18(kind):
    model = cnndsl.check_text(f"input 4x8x8\nsmall = pool 2\n{kind} small in\n")
    assert model.lowest_opset == 18
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.compile_model(model, opset=17)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E504" and "opset 18" in diagnostic.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input 4x8x8\nflat = flatten\nresize_linear in flat\n", "their ranks differ"),
        ("input 4x8x8\nline = conv 8x1 4 -> pool avg global\nresize_nearest line in -> flatten\n", None),
        ("input 4x8x8\nsmall = pool 2\nresize_nearest in small small\n", "resize_nearest takes two tensors"),
        ("input 4x8\nflat = flatten\nresize_nearest flat flat\n", "a resize needs spatial axes"),
    ],
)
def test_bad_resizes_are_E412(text, message):
    if message is None:  # same rank, any sizes: fine
        cnndsl.check_text(text)
        return
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E412" and message in diagnostic.message, diagnostic.message
