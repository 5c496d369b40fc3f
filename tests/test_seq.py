"""`seq { }` numbers layers as PyTorch's nn.Sequential numbers modules, so a spec carries
torchvision's module paths (`features.3.block.0.0.weight`); `residual when (COND)` adds its input
only where the condition holds; a shortcut's layers are named beside the body's."""

from __future__ import annotations

import pytest

import cnndsl


def names(text: str) -> list[str]:
    return [node.name for node in cnndsl.check_text(text).layers]


def codes(text: str) -> list[str]:
    try:
        model = cnndsl.check_text(text)
    except cnndsl.CnnError as failure:
        return [d.code for d in failure.diagnostics]
    return [d.code for d in model.diagnostics]


def test_positions_follow_nn_sequential_with_activation_suffixes_as_modules():
    # torchvision's AlexNet.features: Conv2d 0, ReLU 1, MaxPool2d 2, Conv2d 3...
    text = "input 3x64x64\nfeatures: seq { conv 3x3 8 relu -> pool 2 -> conv 3x3 8 -> relu }"
    assert names(text) == ["features.0", "features.2", "features.3", "features.4"]


def test_block_instances_take_one_position_and_an_unlabelled_seq_names_in_its_scope():
    text = """input 3x16x16
block cbn(c) { seq { conv 3x3 c pad 1 nobias -> bn -> relu } }
features: seq { cbn 8 -> cbn 8 }
"""
    assert names(text) == [f"features.{i}.{j}" for i in range(2) for j in range(3)]


def test_if_and_unlabelled_repeat_continue_the_numbering():
    text = """input 3x16x16
block cbn(c) { seq { conv 1 c nobias -> bn } }
features: seq {
    cbn 8
    repeat 3 as i { if (i != 1) { cbn 8 } }
    cbn 8
}
"""
    assert names(text) == [f"features.{i}.{j}" for i in range(4) for j in range(2)]


def test_a_labelled_repeat_inside_a_seq_keeps_its_own_prefix():
    text = "input 3x8x8\nfeatures: seq { relu -> stage: repeat 2 { relu } -> relu }"
    assert names(text) == ["features.0", "features.stage.0.relu1", "features.stage.1.relu1", "features.1"]


def test_a_nested_seq_takes_a_position_and_an_integer_label_sets_the_next():
    # ConvNeXt's block: Conv2d 0, Permute 1, LayerNorm 2, Linear 3, GELU 4, Linear 5, Permute 6.
    text = """input 8x8x8
layers: seq { conv 7x7 8 pad 3 groups 8 -> 2: layernorm -> conv 1 32 gelu -> conv 1 8 -> seq { relu -> relu } }
"""
    assert names(text) == ["layers.0", "layers.2", "layers.3", "layers.5", "layers.6.0", "layers.6.1"]


def test_a_name_label_inside_a_seq_takes_no_position():
    assert names("input 3x8x8\nf: seq { relu -> act: relu -> relu }") == ["f.0", "f.act", "f.1"]


def test_residual_inside_a_seq_numbers_its_body_and_its_sum():
    text = "input 3x8x8\nf: seq { relu -> residual { relu } -> relu }"
    assert names(text) == ["f.0", "f.1", "f.2", "f.3"]


def test_a_position_taken_twice_is_e210():
    assert codes("input 3x8x8\nf: seq { relu -> 0: relu }") == ["E210"]


def test_seq_takes_no_arguments():
    assert codes("input 3x8x8\nseq 2 { relu }") == ["E301"]


def test_shortcut_layers_are_named_beside_the_body():
    text = """input 8x8x8
residual { conv 3x3 8 pad 1 } shortcut { downsample: seq { conv 1 8 nobias -> bn } }
"""
    assert names(text) == ["conv1", "downsample.0", "downsample.1", "add1"]


@pytest.mark.parametrize("condition, summed", [("(1 == 1)", True), ("(2 < 1)", False)])
def test_residual_when_adds_the_input_only_where_the_condition_holds(condition, summed):
    text = f"input 8x8x8\nresidual when {condition} {{ conv 3x3 8 pad 1 }} shortcut {{ relu }}"
    assert names(text) == (["conv1", "relu1", "add1"] if summed else ["conv1"])


def test_residual_when_reads_block_parameters():
    text = """input 8x8x8
block unit(c, stride=1) { residual when (stride == 1) { conv 3x3/stride c pad 1 } }
unit 8 -> unit 16 stride 2
"""
    model = cnndsl.check_text(text)
    assert [n.name for n in model.layers] == ["unit1.conv1", "unit1.add1", "unit2.conv1"]
    assert model.outputs == [("unit2.conv1", (16, 4, 4))]


@pytest.mark.parametrize("items", ["when", "if (1)", "when (1) (2)", "(1)"])
def test_residual_with_other_arguments_is_e301(items):
    assert codes(f"input 8x8x8\nresidual {items} {{ relu }}") == ["E301"]


def test_block_may_label_a_layer_as_torchvision_names_its_modules():
    text = """input 3x8x8
block inverted(c) { block: seq { conv 1 c nobias -> bn } }
features: seq { inverted 8 }
"""
    assert names(text) == ["features.0.block.0", "features.0.block.1"]


def test_repeat_names_its_iterations_from_a_start_after_a_stem():
    text = """input 8x8x8
block layer(g) { new = conv 1 g
  concat in new }
block denseblock(n) { repeat n as i named denselayer from 1 { layer (4 * i) } }
denseblock1: denseblock 2 -> stage: repeat 2 from 5 { relu }
"""
    model = cnndsl.check_text(text)
    assert [n.name for n in model.layers] == [
        "denseblock1.denselayer1.conv1",
        "denseblock1.denselayer1.concat1",
        "denseblock1.denselayer2.conv1",  # the counter counts from 1 too: 8 channels here
        "denseblock1.denselayer2.concat1",
        "stage.5.relu1",
        "stage.6.relu1",
    ]
    assert model.outputs[0][1] == (8 + 4 + 8, 8, 8)


@pytest.mark.parametrize(
    "header",
    ["repeat 2 named", "repeat 2 from", "repeat 2 as i as j", "repeat 2 named 3", "repeat 2 by 3", "repeat"],
)
def test_repeat_with_words_it_does_not_take_is_e301(header):
    assert codes(f"input 8x8x8\n{header} {{ relu }}") == ["E301"]


def test_repeat_start_must_be_a_non_negative_integer():
    assert codes("input 8x8x8\nrepeat 2 from (0 - 1) { relu }") == ["E302"]
