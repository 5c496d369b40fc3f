"""FLOPs (docs/analysis.md, "FLOPs"): the per-kind conventions worked out by hand, the totals in
the Python API and JSON, and the MACs they start from."""

from __future__ import annotations

import pathlib

import pytest

import cnndsl

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"


def layer_flops(text: str) -> list[int]:
    model = cnndsl.check_text(text)
    return [model.layer_flops[node] for node in model.layers]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 2 per multiply-accumulate (4*3*9 per position, 64 positions), a bias add and a relu per output value
        ("input 3x8x8\nconv 3x3 4 pad 1 relu\n", [2 * 4 * 3 * 9 * 64 + 256 + 256]),
        ("input 3x8x8\nconv 3x3 4 pad 1 nobias\n", [2 * 4 * 3 * 9 * 64]),
        ("input 16\nfc 10 softmax\n", [2 * 160 + 10 + 3 * 10]),
        ("input 16\nfc 10 nobias\n", [320]),
        # max: window - 1 comparisons per output value; avg: window - 1 adds and a division
        ("input 4x8x8\npool 2\n", [3 * 64]),
        ("input 4x8x8\navgpool 2\n", [4 * 64]),
        ("input 4x8x8\npool avg global\n", [64 * 4]),
        ("input 4x8x8\nbn\n", [2 * 256]),
        ("input 4x8x8\ngelu tanh -> gelu -> sigmoid -> identity\n", [9 * 256, 5 * 256, 4 * 256, 0]),
        ("input 4x8x8\nlayerscale -> prelu\n", [256, 2 * 256]),
        # 5 per value, 2 more for the scale and shift, 4 per row (here a row per position)
        ("input 4x8x8\nlayernorm\n", [7 * 256 + 4 * 64]),
        ("input 4x8x8\ngroupnorm 2 noaffine\n", [5 * 256 + 4 * 2]),
        ("input 4x8x8\nlrn 3\n", [7 * 256]),
        ("input 4x4x4\nupsample 2 linear -> upsample 2\n", [3 * 3 * 4 * 8 * 8, 0]),
        ("input 4x8x8\nx = relu\nadd in x x\n", [256, 2 * 256]),
        ("input 4x8x8\nx = relu\nconcat in x -> flatten -> dropout\n", [256, 0, 0, 0]),
    ],
)
def test_flops_per_kind(text, expected):
    assert layer_flops(text) == expected


def test_totals_in_the_api_and_json():
    model = cnndsl.check_file(SPECS / "resnet18.cnn")
    data = model.to_dict()
    assert data["total_flops"] == model.total_flops == sum(layer["flops"] for layer in data["layers"])
    # Beyond the multiply-accumulates: biases, batch norms, relus, pooling and the residual adds.
    assert 2 * model.total_macs < model.total_flops < 2.02 * model.total_macs


def test_flops_are_computed_when_asked_for():
    model = cnndsl.check_file(SPECS / "resnet18.cnn")
    assert "layer_flops" not in vars(model)
    assert model.total_flops > 0 and "layer_flops" in vars(model)
