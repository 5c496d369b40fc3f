"""Numbers through ONNX Runtime: literal kernels reproduce worked examples computed by hand, and
padding modes, pooling variants, grouped convolution, LRN and activations match numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cnndsl
from cnndsl import onnx as cnndsl_onnx

ort = pytest.importorskip("onnxruntime")


def run(spec: str, x, *, weights=None) -> np.ndarray:
    """Compile `spec`, run it on CPU for one sample `x` (no batch axis) and return sample 0's output."""
    model = cnndsl.check_text(spec)
    proto = cnndsl_onnx.compile_model(model, weights=weights)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = np.asarray(x, dtype=np.float32).reshape(1, *model.input_shape)
    (y,) = session.run(None, {"input": x})
    assert y.shape[1:] == model.outputs[0][1]  # the checker's shape
    return y[0]


def exact(got, want, tolerance=1e-6):
    np.testing.assert_allclose(got, np.asarray(want, dtype=np.float64), rtol=0, atol=tolerance)


def kernel_text(array: np.ndarray) -> str:
    if array.ndim == 0:
        return repr(float(array))
    return "[" + " ".join(kernel_text(a) for a in array) + "]"


def correlate(padded: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid cross-correlation (what ONNX Conv computes) of one channel, 1-D or 2-D."""
    out_shape = tuple(n - k + 1 for n, k in zip(padded.shape, kernel.shape, strict=True))
    out = np.zeros(out_shape)
    for index in np.ndindex(*out_shape):
        window = padded[tuple(slice(i, i + k) for i, k in zip(index, kernel.shape, strict=True))]
        out[index] = (window * kernel).sum()
    return out


# --- the seeds' moving average ------------------------------------------------------------------

X = [1, 2, 3, 1, 2, 3, 1, 2, 3]


def test_moving_average_with_padding_2():
    exact(run("input 1x9\nconv 3 1 weights [1 1 1] / 3 pad 2\n", X)[0], [1 / 3, 1, 2, 2, 2, 2, 2, 2, 2, 5 / 3, 1])


def test_moving_average_without_padding():
    exact(run("input 1x9\nconv 3 1 weights [1 1 1] / 3 pad 0\n", X)[0], [2] * 7)


def test_moving_average_with_stride_2_and_padding_1():
    exact(run("input 1x9\nconv 3/2 1 weights [1 1 1] / 3 pad 1\n", X)[0], [1, 2, 2, 2, 5 / 3])


def test_dilated_kernel_by_hand():
    # taps at i, i+2, i+4: 1+3+2, 2+1+3, 3+2+1, 1+3+2, 2+1+3
    exact(run("input 1x9\nconv 3 1 dilation 2 weights [1 1 1]\n", X)[0], [6, 6, 6, 6, 6])


# --- 2-D cases by hand ----------------------------------------------------------------------------

PICTURE = np.array(
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 2, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=np.float32
)


def test_max_pool_by_hand():
    x = [[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]]
    exact(run("input 1x4x4\npool 2\n", x)[0], [[5, 8], [9, 7]])
    # window 3, stride 1: the four 3x3 maxima
    exact(run("input 1x4x4\npool 3/1\n", x)[0], [[8, 8], [9, 8]])


def test_2x2_filter_over_the_5x5_picture():
    # sum of each 2x2 block of PICTURE, worked out by hand
    exact(
        run("input 1x5x5\nconv 2x2 1 weights [[1 1] [1 1]]\n", PICTURE)[0],
        [[1, 2, 2, 1], [2, 5, 5, 2], [2, 5, 5, 2], [1, 2, 2, 1]],
    )
    # a diagonal difference (top-left minus bottom-right)
    exact(
        run("input 1x5x5\nconv 2x2 1 weights [[1 0] [0 -1]]\n", PICTURE)[0],
        [[-1, -1, -1, 0], [-1, -1, 0, 1], [-1, 0, 1, 1], [0, 1, 1, 1]],
    )


def test_kirsch_east_filter_on_a_step_edge():
    step = np.tile([0, 0, 1, 1, 1], (5, 1))  # dark on the left, bright from column 2
    # kernel column sums -9, -6, 15: windows over columns (0,0,1), (0,1,1), (1,1,1)
    exact(run("input 1x5x5\nconv 3x3 1 weights [[-3 -3 5] [-3 0 5] [-3 -3 5]]\n", step)[0], [[15, 9, 0]] * 3)
    # the opposite (west) compass direction: column sums 15, -6, -9, so -9, -6-9, 0
    exact(run("input 1x5x5\nconv 3x3 1 weights [[5 -3 -3] [5 0 -3] [5 -3 -3]]\n", step)[0], [[-9, -15, 0]] * 3)


def test_multichannel_literal_kernel():
    # two output channels from two input channels: a sum and a difference, 1x1 kernels
    x = np.stack([PICTURE, np.ones((5, 5), np.float32)])
    y = run("input 2x5x5\nconv 1x1 2 weights [[[[1]] [[1]]] [[[1]] [[-1]]]]\n", x)
    exact(y[0], PICTURE + 1)
    exact(y[1], PICTURE - 1)


# --- padding modes against numpy.pad ------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,numpy_mode", [("zeros", "constant"), ("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]
)
def test_padding_modes_match_numpy_pad(mode, numpy_mode):
    rng = np.random.default_rng(5)
    kernel = rng.integers(-3, 4, (3, 3)).astype(np.float32)
    x = rng.integers(-5, 6, (6, 7)).astype(np.float32)
    got = run(f"input 1x6x7\nconv 3x3 1 pad 2 mode {mode} weights {kernel_text(kernel)}\n", x)[0]
    exact(got, correlate(np.pad(x, 2, mode=numpy_mode), kernel))
    # asymmetric begin,end padding in 1-D
    k1 = np.array([1, -2, 4], np.float32)
    x1 = np.arange(1, 8, dtype=np.float32) ** 2
    got = run(f"input 1x7\nconv 3 1 pad 1,2 mode {mode} weights {kernel_text(k1)}\n", x1)[0]
    exact(got, correlate(np.pad(x1, (1, 2), mode=numpy_mode), k1))


# --- pooling ------------------------------------------------------------------------------------


def test_ceil_mode_pooling():
    x = np.arange(25, dtype=np.float32).reshape(5, 5)
    # windows start at 0, 2, 4: the last covers only row/column 4
    exact(run("input 1x5x5\npool 2 ceil\n", x)[0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    exact(run("input 1x5x5\npool 2\n", x)[0], [[6, 8], [16, 18]])
    # with padding 1 the window that would start in the end padding is dropped: 3x3, not 4x4
    exact(run("input 1x5x5\npool 2 pad 1 ceil\n", x)[0], [[0, 2, 4], [10, 12, 14], [20, 22, 24]])
    # rows drop the window starting in the end padding, columns gain a partial window
    x = np.arange(30, dtype=np.float32).reshape(5, 6)
    padded = np.pad(x, ((1, 1), (0, 0)), constant_values=-np.inf)
    want = [[padded[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max() for j in range(3)] for i in range(3)]
    exact(run("input 1x5x6\npool 2 pad 1x0 ceil\n", x)[0], want)
    x = np.arange(25, dtype=np.float32).reshape(5, 5)
    got = run("input 1x5x5\npool avg 2 pad 1x0 ceil exclude_pad\n", x)[0]
    # rows (pad, 0), (1, 2), (3, 4) by columns (0, 1), (2, 3), (4), real pixels only
    exact(got, [[0.5, 2.5, 4], [8, 10, 11.5], [18, 20, 21.5]])
    # average with ceil: the partial windows divide by what they cover
    exact(run("input 1x5x5\npool avg 2 ceil\n", x)[0][2], [(20 + 21) / 2, (22 + 23) / 2, 24])


def test_average_pool_counts_padding_unless_excluded():
    ones = np.ones((3, 3), np.float32)
    exact(
        run("input 1x3x3\npool avg 3/1 pad 1\n", ones)[0],
        [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]],
    )
    exact(run("input 1x3x3\npool avg 3/1 pad 1 exclude_pad\n", ones)[0], np.ones((3, 3)))


def test_global_and_adaptive_average_pooling():
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    exact(run("input 1x4x4\npool avg global\n", x)[0], [[7.5]])
    exact(run("input 1x4x4\npool avg adaptive 2x2\n", x)[0], [[2.5, 4.5], [10.5, 12.5]])
    exact(run("input 1x4x4\npool max global\n", x)[0], [[15]])


# --- channels -------------------------------------------------------------------------------------


def test_grouped_convolution():
    x = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    # groups 2: output 0 sees input channels 0,1 (sum); output 1 sees channels 2,3 (difference)
    y = run("input 4x3\nconv 1 2 groups 2 weights [[[1] [1]] [[1] [-1]]]\n", x)
    exact(y[0], x[0] + x[1])
    exact(y[1], x[2] - x[3])


def test_depthwise_convolution():
    x = np.arange(3 * 5, dtype=np.float32).reshape(3, 5)
    y = run("input 3x5\nconv 3 3 groups 3 weights [[[1 0 -1]] [[0 1 0]] [[1 1 1]]]\n", x)
    exact(y[0], x[0, :-2] - x[0, 2:])
    exact(y[1], x[1, 1:-1])
    exact(y[2], x[2, :-2] + x[2, 1:-1] + x[2, 2:])


def test_lrn_matches_the_formula():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, 3)).astype(np.float32)
    size, alpha, beta, k = 3, 0.1, 0.75, 2.0
    got = run(f"input 5x3x3\nlrn {size} alpha {alpha} beta {beta} k {k}\n", x)
    want = np.empty_like(x, dtype=np.float64)
    for c in range(5):
        low, high = max(0, c - (size - 1) // 2), min(4, c + math.ceil((size - 1) / 2))
        square_sum = (x[low : high + 1].astype(np.float64) ** 2).sum(axis=0)
        want[c] = x[c] / (k + alpha / size * square_sum) ** beta
    exact(got, want, 1e-5)


def test_concat_and_residual_add():
    x = np.arange(2 * 4, dtype=np.float32).reshape(2, 4)
    spec = (
        "input 2x4\n"
        "a = conv 1 2 weights [[[1] [0]] [[0] [1]]]\n"  # identity
        "b = in -> conv 1 2 weights [[[2] [0]] [[0] [2]]]\n"  # doubling
        "c = concat a b\n"
        "d = add a b\n"
        "output c, d\n"
    )
    model = cnndsl.check_text(spec)
    proto = cnndsl_onnx.compile_model(model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    c, d = session.run(None, {"input": x[np.newaxis]})
    exact(c[0], np.concatenate([x, 2 * x]))
    exact(d[0], 3 * x)


# --- activations and normalisation -------------------------------------------------------------

VALUES = np.array([-3, -1, -0.5, 0, 0.5, 2, 7], np.float32)


@pytest.mark.parametrize(
    "word,formula",
    [
        ("relu", lambda v: np.maximum(v, 0)),
        ("relu6", lambda v: np.clip(v, 0, 6)),
        ("leakyrelu 0.2", lambda v: np.where(v > 0, v, 0.2 * v)),
        ("elu", lambda v: np.where(v > 0, v, np.expm1(v))),
        ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
        ("tanh", np.tanh),
        ("gelu", lambda v: v * 0.5 * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))),
        ("identity", lambda v: v),
    ],
)
def test_activations(word, formula):
    exact(run(f"input 1x7\n{word}\n", VALUES)[0], formula(VALUES.astype(np.float64)), 1e-6)


def test_softmax_is_over_channels():
    x = np.arange(3 * 2, dtype=np.float32).reshape(3, 2)
    e = np.exp(x - x.max(axis=0))
    exact(run("input 3x2\nsoftmax\n", x), e / e.sum(axis=0))


def test_batch_norm_uses_running_statistics(tmp_path):
    mean, var = np.array([1.0, -2.0], np.float32), np.array([4.0, 0.25], np.float32)
    scale, shift = np.array([2.0, 1.0], np.float32), np.array([0.5, 0.0], np.float32)
    np.savez(
        tmp_path / "bn.npz", **{"bn.weight": scale, "bn.bias": shift, "bn.running_mean": mean, "bn.running_var": var}
    )
    x = np.array([[3.0, 5.0], [-2.0, 0.0]], np.float32)
    got = run("input 2x2\nbn: bn eps 0.001\n", x, weights=tmp_path / "bn.npz")
    exact(got, scale[:, None] * (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-3) + shift[:, None], 1e-5)


def test_fully_connected_matches_pytorch_layout(tmp_path):
    weight = np.array([[1, 2, 3], [0, -1, 1]], np.float32)  # (out, in), as torch.nn.Linear stores it
    bias = np.array([0.5, -1], np.float32)
    np.savez(tmp_path / "fc.npz", **{"fc.weight": weight, "fc.bias": bias})
    exact(run("input 3\nfc: fc 2\n", [1, 1, 2], weights=tmp_path / "fc.npz"), [9.5, 0])
