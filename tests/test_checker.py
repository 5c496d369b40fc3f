"""The shape checker, the counts and the lint, against the seeds' worked examples and brute force.

out = floor((n + p_begin + p_end - d*(k-1) - 1) / s) + 1 per spatial axis; with ceil rounding the
last window must start inside the input or the begin padding (PyTorch, ONNX Runtime).
"""

from __future__ import annotations

import math
import pathlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl import CnnError
from cnndsl.layers.activation import FUNCTIONS
from cnndsl.layers.geometry import AxisGeometry
from cnndsl.rules import ALL_RULES

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DOCS = ROOT / "docs" / "language.md"


def check(text: str) -> cnndsl.CheckedModel:
    return cnndsl.check_text(text)


def shapes(text: str) -> list[tuple[int, ...]]:
    """Output shape of every layer, in order (batch axis excluded)."""
    model = check(text)
    return [model.shapes[node] for node in model.layers]


def last(text: str) -> tuple[int, ...]:
    return shapes(text)[-1]


def layer(text: str, index: int = -1):
    model = check(text)
    node = model.layers[index]
    return model, node


def codes(text: str) -> list[str]:
    return sorted(w.code for w in cnndsl.check_text(text, rules=ALL_RULES).warnings)  # opt-in W103 too


def error_codes(text: str) -> list[str]:
    with pytest.raises(CnnError) as failure:
        check(text)
    return [d.code for d in failure.value.diagnostics]


# --- the seeds' worked examples (002) -------------------------------------------------------------


@pytest.mark.parametrize(
    "conv, expected",
    [
        ("conv 3 1 pad 2", 11),  # P=2, S=1
        ("conv 3 1", 7),  # P=0, S=1
        ("conv 3/2 1 pad 1", 5),  # P=1, S=2
    ],
)
def test_seed_1d_examples(conv, expected):
    assert last(f"input 1x9\n{conv}") == (1, expected)


def test_flux_model2_shapes_and_400_features():
    model = cnndsl.check_file(SPECS / "mnist_cnn.cnn")
    spatial = [model.shapes[node] for node in model.layers]
    assert spatial[:5] == [(8, 24, 24), (8, 12, 12), (16, 10, 10), (16, 5, 5), (400,)]
    assert model.layers[-1].layer.features == 10
    assert [model.stats[node].trainable for node in model.layers if model.stats[node].trainable] == [208, 1_168, 4_010]
    assert model.trainable_params == 5_386


def test_flux_model1_parameters():
    model = cnndsl.check_file(SPECS / "mnist_mlp.cnn")
    assert [model.stats[n].trainable for n in model.layers] == [784 * 200 + 200, 200 * 100 + 100, 100 * 10 + 10]
    assert model.trainable_params == 178_110


# --- padding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, conv, expected, begin, end",
    [
        (10, "conv 3/2 1 pad same", 5, 0, 1),  # total 1: the odd pixel goes to the end (SAME_UPPER)
        (9, "conv 3/2 1 pad same", 5, 1, 1),
        (8, "conv 4 1 pad same", 8, 1, 2),  # even kernel: total 3 -> 1 before, 2 after
        (8, "conv 2 1 pad same", 8, 0, 1),
        (7, "conv 1/2 1 pad same", 4, 0, 0),
        (8, "conv 3 1 pad same dilation 2", 8, 2, 2),
        (5, "conv 7/3 1 pad same", 2, 2, 3),  # total (2-1)*3 + 7 - 5 = 5
    ],
)
def test_same_padding_is_onnx_same_upper(n, conv, expected, begin, end):
    model, node = layer(f"input 1x{n}\n{conv}")
    assert model.shapes[node] == (1, expected)
    (axis,) = node.layer._geometry((1, n))
    assert (axis.pad_begin, axis.pad_end) == (begin, end)
    assert expected == -(-n // axis.stride)


def test_same_padding_2d_per_axis_stride():
    model, node = layer("input 3x15x16\nconv 3x4/2x1 8 pad same")
    assert model.shapes[node] == (8, 8, 16)
    h, w = node.layer._geometry((3, 15, 16))
    assert (h.pad_begin, h.pad_end, w.pad_begin, w.pad_end) == (1, 1, 1, 2)


def test_valid_padding_is_no_padding():
    assert last("input 1x9\nconv 3 1 pad valid") == (1, 7)


def test_asymmetric_padding_begin_end():
    model, node = layer("input 1x9\nconv 3/2 1 pad 0,1")
    assert model.shapes[node] == (1, 4)  # floor((9 + 0 + 1 - 2 - 1) / 2) + 1
    (axis,) = node.layer._geometry((1, 9))
    assert (axis.pad_begin, axis.pad_end) == (0, 1)
    assert last("input 1x8x8\nconv 3 1 pad 0x1,1x2") == (1, 7, 9)


def test_per_axis_padding():
    assert last("input 1x8x8\nconv 3 1 pad 1x2") == (1, 8, 10)
    assert last("input 1x4x8x8\nconv 3 1 pad 1x0x2") == (1, 4, 6, 10)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular", "constant", "mirror", "nearest", "wrap"])
def test_padding_modes_keep_the_shape(mode):
    model, node = layer(f"input 2x8x8\nconv 3x3 4 pad 1 mode {mode}")
    assert model.shapes[node] == (4, 8, 8)
    synonyms = {"constant": "zeros", "mirror": "reflect", "nearest": "replicate", "wrap": "circular"}
    assert node.layer.mode == synonyms.get(mode, mode)


def test_reflect_padding_needs_a_larger_input():
    assert error_codes("input 1x2x2\nconv 3x3 1 pad 2 mode reflect") == ["E302"]


def test_negative_padding_is_an_error():
    assert "E302" in error_codes("input 1x9\nconv 3 1 pad -1")


# --- dilation, stride, kernels -------------------------------------------------------------------


def test_dilation():
    assert last("input 1x9\nconv 3 1 dilation 2") == (1, 5)  # 9 - 2*(3-1) - 1 + 1
    assert last("input 1x9x9\nconv 3 1 dilation 2x1") == (1, 5, 7)
    assert last("input 1x9\nconv 3 1 dilation 4") == (1, 1)
    assert error_codes("input 1x9\nconv 3 1 dilation 5") == ["E401"]
    assert "E302" in error_codes("input 1x9\nconv 3 1 dilation 0")


def test_non_square_kernel_and_stride():
    assert last("input 3x8x8\nconv 5x3/2x1 6") == (6, 2, 6)


def test_stride_zero_is_an_error():
    assert "E302" in error_codes("input 1x9\nconv 3/0 1")


def test_collapsing_size_reports_the_formula():
    with pytest.raises(CnnError) as failure:
        check("input 3x4x4\nconv 5x5 8")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E401"
    assert "input is 3x4x4" in diagnostic.primary.text  # the shape from the previous layer
    assert "floor((4 + 0 + 0 - (5-1) - 1) / 1) + 1 = 0" in " ".join(diagnostic.notes)


@pytest.mark.parametrize(
    "text, shape, params",
    [
        ("input 2x16000\nconv 80/4 8", (8, 3981), 8 * 2 * 80 + 8),
        ("input 3x32x32\nconv 5 8", (8, 28, 28), 8 * 3 * 25 + 8),
        ("input 3x16x112x112\nconv 3 64 pad 1", (64, 16, 112, 112), 64 * 3 * 27 + 64),
        ("input 3x16x112x112\nconv 3x7x7/1x2x2 64 pad 1x3x3 nobias", (64, 16, 56, 56), 64 * 3 * 147),
    ],
)
def test_one_number_kernel_follows_the_input_rank(text, shape, params):
    model, node = layer(text)
    assert model.shapes[node] == shape
    assert model.stats[node].trainable == params
    weights = params - (0 if "nobias" in text else shape[0])
    assert model.stats[node].macs == weights * math.prod(shape[1:])


def test_kernel_rank_mismatch():
    assert error_codes("input 3x32x32\nconv 3x3x3 8") == ["E403"]


# --- groups ---------------------------------------------------------------------------------------


def test_groups_divide_the_weights():
    model, node = layer("input 96x27x27\nconv 5x5 256 pad 2 groups 2")
    assert model.stats[node].trainable == 256 * 48 * 25 + 256  # AlexNet 2012 conv2
    assert model.stats[node].macs == 256 * 48 * 25 * 27 * 27


def test_depthwise_convolution():
    model, node = layer("input 32x16x16\nconv 3x3 32 pad 1 groups 32 nobias")
    assert model.shapes[node] == (32, 16, 16)
    assert model.stats[node].trainable == 32 * 9


def test_groups_must_divide_channels():
    assert error_codes("input 4x8x8\nconv 3x3 9 groups 2") == ["E302"]  # output channels
    assert error_codes("input 3x8x8\nconv 3x3 4 groups 2") == ["E404"]  # input channels


# --- pooling ----------------------------------------------------------------------------------------


def test_pool_alone_is_max_and_stride_defaults_to_the_window():
    model, node = layer("input 4x8x8\npool 2")
    assert node.layer.op == "max" and node.kind == "maxpool"
    assert model.shapes[node] == (4, 4, 4)
    assert last("input 4x9x9\npool 3/2") == (4, 4, 4)
    assert last("input 4x8x8\npool 2/1") == (4, 7, 7)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("input 1x5x5\npool 2/2 pad 1 ceil", (1, 3, 3)),  # ceil would give 4; the 4th would start in the end padding
        ("input 1x5x5\npool 2/2 pad 1", (1, 3, 3)),
        ("input 1x7x7\npool 2 ceil", (1, 4, 4)),
        ("input 1x7x7\npool 2", (1, 3, 3)),
        ("input 1x13x13\npool 3/2 ceil", (1, 6, 6)),  # exact: ceil changes nothing
        ("input 1x14x14\npool 3/2 ceil", (1, 7, 7)),
        ("input 1x14x14\npool 3/2", (1, 6, 6)),
        ("input 1x32x32\npool 3/2 ceil", (1, 16, 16)),  # NiN's Caffe pooling
        ("input 1x6\npool 3/3 pad 1 ceil", (1, 3)),  # start 6 >= 6 + 1? no: 3 windows
    ],
)
def test_ceil_mode(text, expected):
    assert last(text) == expected


def test_ceil_mode_last_window_rule():
    # 5x5, kernel 2, stride 2, pad 1: ceil((5+2-2)/2)+1 = 4, but the 4th window would start at
    # padded index 6 >= 5 + 1, entirely in the end padding, so it is dropped: 3x3.
    axis = AxisGeometry(size=5, kernel=2, stride=2, dilation=1, pad_begin=1, pad_end=1, ceil=True)
    assert -(-axis.reach // axis.stride) + 1 == 4
    assert axis.output() == 3


def test_average_pooling_forms():
    assert last("input 3x12x12\npool 3/2 avg pad 1 exclude_pad") == (3, 6, 6)
    assert check("input 3x12x12\navgpool 2").layers[0].layer.op == "avg"
    assert error_codes("input 3x12x12\npool 2 exclude_pad") == ["E202"]  # max pooling
    assert error_codes("input 3x12x12\nmaxpool 2 avg") == ["E202"]


def test_pooling_padding_at_most_half_the_window():
    assert error_codes("input 1x8x8\npool 2 pad 2") == ["E302"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("input 256x13x13\npool avg adaptive 13", (256, 13, 13)),
        ("input 512x14x14\npool avg adaptive 7x7", (512, 7, 7)),
        ("input 512x7x7\npool avg adaptive 7x7", (512, 7, 7)),  # torchvision VGG at 224: an identity
        ("input 3x12\npool avg adaptive 4", (3, 4)),
        ("input 3x8x12x12\npool avg adaptive 1x3x3", (3, 1, 3, 3)),
        ("input 3x8x12x12\npool avg adaptive 2", (3, 2, 2, 2)),
    ],
)
def test_adaptive_average_pooling(text, expected):
    assert last(text) == expected


def test_adaptive_pooling_needs_exact_windows_and_avg():
    assert error_codes("input 3x13x13\npool avg adaptive 6x6") == ["E407"]
    assert error_codes("input 3x12x12\npool adaptive 6x6") == ["E202"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("input 64x17\npool global", (64, 1)),
        ("input 64x7x7\npool avg global", (64, 1, 1)),
        ("input 64x4x7x7\npool max global", (64, 1, 1, 1)),
    ],
)
def test_global_pooling(text, expected):
    assert last(text) == expected


def test_pooling_needs_a_window_or_a_form():
    assert error_codes("input 3x8x8\npool") == ["E203"]
    assert error_codes("input 3x8x8\npool 2 global") == ["E202"]


# --- ranks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "input 2x16000\nconv 80/4 32 -> pool 4 -> conv 3 64 pad 1 -> pool global -> flatten -> fc 2",
            [(32, 3981), (32, 995), (64, 995), (64, 1), (64,), (2,)],
        ),
        ("input 3x32x32\nconv 3x3 8 pad 1 -> pool 2 -> flatten -> fc 10", [(8, 32, 32), (8, 16, 16), (2048,), (10,)]),
        (
            "input 3x16x112x112\nconv 3x3x3 64 pad 1 -> pool 1x2x2 -> conv 3 128 pad 1 -> pool 2",
            [(64, 16, 112, 112), (64, 16, 56, 56), (128, 16, 56, 56), (128, 8, 28, 28)],
        ),
    ],
)
def test_ranks(text, expected):
    assert shapes(text) == expected


def test_flat_input():
    assert shapes("input 784\nfc 200 relu -> fc 10") == [(200,), (10,)]


def test_fc_needs_flatten():
    assert error_codes("input 3x8x8\nfc 10") == ["E402"]


# --- activations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(FUNCTIONS))
def test_activation_as_a_layer(word):
    model, node = layer(f"input 4x6x6\n{word}")
    assert node.kind == word
    assert model.shapes[node] == (4, 6, 6)
    assert model.total_params == 0 and model.total_macs == 0


@pytest.mark.parametrize("word", sorted(FUNCTIONS))
def test_activation_as_a_suffix(word):
    conv_model, conv = layer(f"input 4x6x6\nconv 3x3 8 {word}")
    assert conv.layer.activation == word
    assert conv_model.shapes[conv] == (8, 4, 4)
    assert conv_model.stats[conv].trainable == 8 * 4 * 9 + 8
    assert word in conv.layer.describe()
    fc_model, fc = layer(f"input 36\nfc 10 {word}")
    assert fc.layer.activation == word and fc_model.stats[fc].trainable == 370


def test_activation_numbers():
    model = check("input 36\nfc 10 leakyrelu 0.2 -> fc 10 elu 0.5 -> leakyrelu -> elu 2 -> leakyrelu 0.3")
    values = [getattr(n.layer, "activation_value", None) or getattr(n.layer, "value", None) for n in model.layers]
    assert values == [0.2, 0.5, 0.01, 2.0, 0.3]
    assert error_codes("input 36\nfc 10 relu 0.5") == ["E202"]
    assert error_codes("input 36\nsigmoid 2") == ["E202"]


# --- normalisation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, channels",
    [
        ("input 16x8x8\nbn", 16),
        ("input 32x100\nbn", 32),
        ("input 8x4x4x4\nbatchnorm eps 1e-3", 8),
        ("input 100\nbn", 100),
    ],
)
def test_batch_norm_parameters(text, channels):
    model, node = layer(text)
    assert model.stats[node].trainable == 2 * channels  # scale and shift
    assert model.stats[node].non_trainable == 2 * channels  # running mean and variance
    assert model.trainable_params == 2 * channels and model.total_params == 4 * channels
    assert model.stats[node].macs == 0


def test_lrn_attributes_and_defaults():
    _, node = layer("input 96x27x27\nlrn 5 alpha 1e-4 beta 0.75 k 2")
    assert (node.layer.size, node.layer.alpha, node.layer.beta, node.layer.k) == (5, 1e-4, 0.75, 2.0)
    _, node = layer("input 96x27x27\nlrn 5")
    assert (node.layer.alpha, node.layer.beta, node.layer.k) == (1e-4, 0.75, 1.0)


def test_dropout_range():
    assert layer("input 10\ndropout")[1].layer.p == 0.5
    assert error_codes("input 10\ndropout 1") == ["E302"]
    assert error_codes("input 10\ndropout -0.1") == ["E302"]


# --- MACs follow torchvision: conv and fc only, bias excluded ------------------------------------


def test_macs_convention():
    model = check("input 3x8x8\nconv 3x3 4 pad 1 -> bn -> relu -> pool 2 -> flatten -> fc 10")
    assert [model.stats[n].macs for n in model.layers] == [4 * 3 * 9 * 64, 0, 0, 0, 0, 64 * 10]


# --- lint ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # W101: the floor leaves input rows unread
        ("input 3x32x32\nconv 3x3/2 8", ["W101"]),
        ("input 3x32x32\nconv 3x3/2 8 pad 1", []),  # the end padding covers the last row
        ("input 3x7x7\npool 2", ["W101"]),
        ("input 3x7x7\npool 2 ceil", []),
        ("input 64x56x56\nconv 1x1/2 128", []),  # a 1x1/2 projection skips by design
        ("input 3x224x224\nconv 7x7/2 64 pad 3 -> pool 3/2 pad 1", []),  # ResNet's stem
        ("input 3x227x227\nconv 11x11/4 96 -> pool 3/2", []),  # AlexNet's
        # W102: dropout between convolutions
        ("input 3x32x32\nconv 3x3 8 -> dropout 0.5 -> conv 3x3 8", ["W102"]),
        ("input 3x32x32\nconv 3x3 8 -> dropout 0.5 -> pool 2 -> conv 3x3 8", ["W102"]),
        ("input 3x32x32\nconv 3x3 8 -> dropout 0.5 -> flatten -> fc 10", []),
        ("input 3x32x32\nconv 3x3 8 -> flatten -> dropout 0.5 -> fc 10", []),
        # W103: one fc layer holds most of a large network
        ("input 3x32x32\nconv 3x3 8 -> flatten -> fc 1000 -> fc 10", ["W103"]),
        ("input 1x32x32\nconv 5 6 -> avgpool 2 -> conv 5 16 -> avgpool 2 -> flatten -> fc 120 -> fc 10", []),
        (
            "input 3x32x32\nconv 3 64 pad 1 -> pool 2 -> conv 3 128 pad 1 -> pool 2 -> conv 3 256 pad 1"
            " -> pool 2 -> conv 3 512 pad 1 -> pool global -> flatten -> fc 10",
            [],
        ),  # the widest conv
        # W104: activation after softmax
        ("input 20\nfc 10 -> softmax -> relu", ["W104"]),
        ("input 20\nfc 10 softmax -> sigmoid", ["W104"]),
        ("input 20\nfc 10 softmax", []),
        ("input 20\nfc 10 relu -> fc 10 -> softmax", []),
        # W105: conv bias cancelled by batch normalisation
        ("input 3x32x32\nconv 3x3 8 pad 1 -> bn -> relu", ["W105"]),
        ("input 3x32x32\nconv 3x3 8 pad 1 nobias -> bn -> relu", []),
        ("input 3x32x32\nconv 3x3 8 pad 1 relu -> bn", []),
        ("input 3x32x32\nconv 3x3 8 pad 1 -> relu -> bn", []),
    ],
)
def test_lint(text, expected):
    assert codes(text) == expected


def test_lint_reports_a_block_line_once():
    model = check("input 3x32x32\nblock unit(c) { conv 3x3 c pad 1 -> bn -> relu }\nunit 8 -> unit 16 -> unit 32")
    (w105,) = model.warnings
    assert w105.code == "W105" and "expands to 3 layers" in " ".join(w105.notes)


# Warnings each spec in specs/ produces, on purpose; a spec not listed must produce none.
SPEC_WARNINGS = {
    # fc6 over the flattened feature map holds most parameters: the textbook case for W103
    "alexnet": ["W103"],
    "alexnet2012": ["W103"],
    "vgg11": ["W103"],
    "vgg13": ["W103"],
    "vgg16": ["W103"],
    "vgg19": ["W103"],
    # torchvision keeps conv biases before batch norm (and counts them)
    "vgg11_bn": ["W103", "W105"],
    "vgg13_bn": ["W103", "W105"],
    "vgg16_bn": ["W103", "W105"],
    "vgg19_bn": ["W103", "W105"],
    # torchaudio's M5: biases before batch norm, and two poolings that drop the last samples
    "audio1d": ["W101", "W105"],
    # Network in Network puts dropout between mlpconv layers, as the paper does
    "nin": ["W102", "W102"],
}


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.cnn")), ids=lambda p: p.stem)
def test_spec_warnings(spec):
    model = cnndsl.check_file(spec, rules=ALL_RULES)  # W103 is opt-in: test_rules checks the defaults
    assert sorted(w.code for w in model.warnings) == SPEC_WARNINGS.get(spec.stem, []), [
        f"{w.code} {w.message}" for w in model.warnings
    ]


# --- the formula against brute force ------------------------------------------------------------------


def brute_force(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int:
    """Count windows by sliding one over the padded axis. Ceil rounding lets the last window hang
    over the end by less than a stride, unless it would start in the end padding."""
    padded, span = n + pb + pe, d * (k - 1) + 1
    overhang = s - 1 if ceil else 0
    starts = [start for start in range(0, padded + overhang, s) if start + span <= padded + overhang]
    if ceil:
        starts = [start for start in starts if start < n + pb]
    return len(starts)


axis_params = st.tuples(
    st.integers(1, 40), st.integers(1, 7), st.integers(1, 5), st.integers(1, 3), st.integers(0, 6), st.integers(0, 6)
)


@settings(max_examples=600, deadline=None)
@given(axis_params, st.booleans())
def test_formula_matches_brute_force(values, ceil):
    n, k, s, d, pb, pe = values
    if ceil and max(pb, pe) > k // 2:
        return  # ceil rounding is for pooling, whose padding is at most half the window (E302)
    axis = AxisGeometry(n, k, s, d, pb, pe, ceil)
    # A size of zero or less is no window at all (E401 in the checker).
    assert max(axis.output(), 0) == brute_force(n, k, s, d, pb, pe, ceil)
    if not ceil:
        assert axis.output() == (n + pb + pe - d * (k - 1) - 1) // s + 1


@settings(max_examples=300, deadline=None)
@given(axis_params)
def test_unused_rows_match_brute_force(values):
    n, k, s, d, pb, pe = values
    axis = AxisGeometry(n, k, s, d, pb, pe)
    span = d * (k - 1) + 1
    if n + pb + pe < span or span < s:
        return
    read = set()
    for i in range(axis.output()):
        read.update(range(i * s - pb, i * s - pb + span))
    last_real = max(r for r in read if r < n) if any(0 <= r < n for r in read) else -1
    assert axis.unused() == n - 1 - last_real


@settings(max_examples=150, deadline=None)
@given(axis_params, st.booleans(), st.booleans())
def test_checker_applies_the_formula(values, ceil, pooling):
    """The same property through the language, in 1D and 2D."""
    n, k, s, d, pb, pe = values
    expected = brute_force(n, k, s, d, pb, pe, ceil)
    if pooling:
        if d != 1 or max(pb, pe) > k // 2 or n + pb + pe < k:
            return
        expected = brute_force(n, k, s, 1, pb, pe, ceil)
        text = f"pool {k}/{s} pad {pb},{pe}" + (" ceil" if ceil else "")
    else:
        if ceil or n + pb + pe < d * (k - 1) + 1:
            return
        text = f"conv {k}/{s} 2 pad {pb},{pe} dilation {d}"
    assert last(f"input 1x{n}\n{text}") == (1 if pooling else 2, expected)
    assert (
        last(
            f"input 1x{n}x3\n"
            + text.replace(f"{k}/{s}", f"{k}x1/{s}x1")
            .replace(f"pad {pb},{pe}", f"pad {pb}x0,{pe}x0")
            .replace(f"dilation {d}", f"dilation {d}x1")
        )[1]
        == expected
    )


@pytest.mark.parametrize(
    "n, k, s, pb, pe",
    [
        (5, 2, 2, 1, 1),
        (7, 2, 2, 0, 0),
        (14, 3, 2, 0, 0),
        (6, 3, 3, 1, 1),
        (10, 3, 2, 1, 0),
        (11, 4, 3, 2, 1),
        (32, 3, 2, 0, 0),
        (9, 5, 4, 2, 2),
    ],
)
def test_ceil_mode_matches_onnx_runtime(n, k, s, pb, pe):
    """ONNX Runtime's MaxPool is the ground truth for the ceil rule."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np
    from onnx import TensorProto, helper

    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k], strides=[s], pads=[pb, pe], ceil_mode=1)
    graph = helper.make_graph(
        [node],
        "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": np.zeros((1, 1, n), np.float32)})
    assert last(f"input 1x{n}\npool {k}/{s} pad {pb},{pe} ceil") == (1, y.shape[-1])
    del onnx


# --- the examples of docs/language.md -------------------------------------------------------------


def doc_examples() -> list[tuple[int, str]]:
    if not DOCS.exists():
        return []
    text = DOCS.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(1))
        for m in re.finditer(r"^```cnn\n(.*?)^```", text, flags=re.M | re.S)
    ]


def test_docs_have_examples():
    assert DOCS.exists(), f"{DOCS} is missing"
    examples = doc_examples()
    assert len(examples) >= 20
    assert sum(1 for _, code in examples if re.search(r"^input\b", code, re.M)) >= 15


@pytest.mark.parametrize("line, code", doc_examples(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_doc_example_checks(line, code):
    """Every complete spec (one with an input declaration) in the docs checks without errors.
    `use` paths resolve against specs/, as if the example were a file there."""
    if not re.search(r"^input\b", code, re.M):
        pytest.skip("a fragment, not a complete spec")
    try:
        cnndsl.check_text(code, path=str(SPECS / f"docs_example_line{line}.cnn"))
    except CnnError as failure:
        pytest.fail(f"docs/language.md:{line}: " + "; ".join(f"{d.code} {d.message}" for d in failure.diagnostics))


def test_docs_cover_every_layer_word_and_attribute():
    from cnndsl.layers import REGISTRY
    from cnndsl.resolve import COMBINATORS

    text = DOCS.read_text(encoding="utf-8")
    missing = [word for word in REGISTRY if f"`{word}" not in text]
    for cls in set(REGISTRY.values()):
        for arg in cls.signature:
            if arg.positional or arg.name.startswith("activation"):
                continue
            words = arg.words or (arg.name.rstrip("_"),)
            missing += [f"{cls.kind}.{w}" for w in words if f"`{w}" not in text]
    missing += [f"combinator {c}" for c in [*COMBINATORS, "shortcut", "else", "as"] if f"{c} " not in text]
    assert not missing, f"docs/language.md does not mention: {missing}"


def test_unsaved_texts_are_read_instead_of_the_files_on_disk(tmp_path):
    # an editor's open buffers: the library as typed, not as saved
    library = tmp_path / "blocks.cnn"
    library.write_text("block pair(c) { conv 3x3 c pad 1 -> relu }\n")
    spec = cnndsl.reader.source_from_text(str(tmp_path / "net.cnn"), 'use "blocks.cnn"\ninput 3x8x8\npair 4\n')
    assert cnndsl.check_source(spec).trainable_params == 4 * 3 * 9 + 4
    edited = {str(library): "block pair(c) { conv 3x3 c pad 1 -> relu -> conv 1x1 c }\n"}
    assert cnndsl.check_source(spec, unsaved=edited).trainable_params == 4 * 3 * 9 + 4 + 4 * 4 + 4
    with pytest.raises(cnndsl.CnnError) as raised:
        cnndsl.check_source(spec, unsaved={str(library): "block pair(c) { rleu }\n"})
    assert raised.value.diagnostics[0].code == "E201"
