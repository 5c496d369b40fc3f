"""The memory analysis (docs/analysis.md, "Memory"): figures worked out by hand on a small spec,
the arguments' errors, one definition of the inference peak shared with `run`, and the tensors
kept for the backward pass against PyTorch's autograd on the zoo (benchmarks/saved_tensors.py)."""

from __future__ import annotations

import json

import pytest

import cnndsl
from cnndsl.analysis.memory import peak_activation_values

SMALL = """input 3x8x8
conv 3x3 4 pad 1 relu -> bn -> pool 2 -> flatten -> dropout -> fc 10
"""


@pytest.fixture(scope="module")
def small() -> cnndsl.CheckedModel:
    return cnndsl.check_text(SMALL)


def test_per_layer_output_and_weight_bytes(small):
    layers = {layer.name: layer for layer in small.memory(batch=3).layers}
    conv, bn, fc = (
        next(layer for name, layer in layers.items() if name.startswith(kind)) for kind in ("conv", "bn", "fc")
    )
    assert conv.output_bytes == 3 * 4 * 4 * 8 * 8
    assert conv.weight_bytes == 4 * (4 * 3 * 3 * 3 + 4)
    assert bn.weight_bytes == 4 * (4 * 4)  # scale, shift, running mean and variance
    assert fc.output_bytes == 3 * 4 * 10 and fc.weight_bytes == 4 * (64 * 10 + 10)


def test_inference_peak_walks_the_layers_in_emission_order(small):
    inference = small.memory(batch=2)
    # While bn runs, the conv's output (256 values a sample) and bn's (256) are alive; the input
    # (192) was freed after the conv, its last consumer.
    assert inference.activations == 2 * 4 * 512
    assert inference.peak_layer is not None and inference.peak_layer.startswith("bn")
    assert inference.weights == 4 * small.total_params and inference.gradients == inference.optimizer_state == 0
    assert inference.total == inference.weights + inference.activations


def test_training_memory_counts_weights_gradients_optimizer_state_and_kept_tensors(small):
    trainable, fixed = 112 + 8 + 650, 8
    # Per sample: the input (conv), the conv's output (its relu; bn keeps the same tensor), bn's
    # output (max pooling), the dropout mask and dropout's output (fc); the pooling's 64 indices
    # as int64; bn's mean and inverse deviation per channel once, whatever the batch.
    kept = 2 * (4 * (192 + 256 + 256 + 64 + 64) + 8 * 64) + 4 * 8
    for optimizer, states in (("sgd", 0), ("momentum", 1), ("adam", 2)):
        training = small.memory(batch=2, training=True, optimizer=optimizer)
        assert training.weights == 4 * (trainable + fixed)
        assert training.gradients == 4 * trainable
        assert training.optimizer_state == 4 * trainable * states
        assert training.activations == kept == sum(layer.kept_bytes for layer in training.layers)
        assert training.total == training.weights + training.gradients + training.optimizer_state + kept
    assert small.memory(training=True).optimizer == "adam"


def test_layers_that_need_no_gradient_keep_nothing():
    # Pooling the input and activating it: nothing upstream learns, so autograd records nothing.
    model = cnndsl.check_text("input 3x8x8\npool 2 -> relu -> conv 3x3 4\n")
    kept = [layer.kept_bytes for layer in model.memory(batch=1, training=True).layers]
    assert kept == [0, 0, 4 * 3 * 4 * 4]


def test_a_view_is_its_input_storage():
    # The split's half is a view: the conv after it keeps the whole input's storage, as torch.chunk.
    model = cnndsl.check_text("input 8x4x4\nconv 1 8 -> split 2 part 1 -> conv 1 4\n")
    assert model.memory(training=True).activations == 4 * (8 * 16 + 8 * 16)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"batch": 0}, ValueError, "batch must be at least 1, got 0"),
        ({"batch": True}, TypeError, "batch must be an int, got bool"),
        ({"batch": 1.5}, TypeError, "batch must be an int, got float"),
        ({"training": "yes"}, TypeError, "training must be True or False, got str"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of sgd, momentum, adam; got 'rmsprop'"),
    ],
)
def test_bad_arguments_say_what_is_wrong(small, arguments, error, message):
    with pytest.raises(error, match=message):
        small.memory(**arguments)


def test_run_uses_the_same_peak_without_the_input(small):
    from cnndsl.runtime.memory import peak_activation_values as run_peak

    values, at = run_peak(small)
    assert (values, at) == peak_activation_values(small.graph, small.shapes, count_input=False)
    assert values == 512 and at is not None and at.name.startswith("bn")


def test_check_does_not_compute_flops_or_memory(small):
    model = cnndsl.check_text(SMALL)
    assert "layer_flops" not in vars(model)


# PyTorch's autograd on the zoo: a cheap subset by default, every reference in the slow run.
CHEAP = ["squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x1_0"]


def _references() -> list[str]:
    torchvision_models = pytest.importorskip("benchmarks.torchvision_models")
    return list(torchvision_models.REFERENCES)


def _assert_kept_tensors_match_autograd(spec: str) -> None:
    pytest.importorskip("torch")
    from benchmarks import saved_tensors

    comparison = saved_tensors.compare(spec)
    assert abs(comparison.ratio - 1) <= 0.05, f"{spec}: ours {comparison.ours:,} B, PyTorch {comparison.pytorch:,} B"


@pytest.mark.parametrize("spec", CHEAP)
def test_kept_tensors_match_pytorch_autograd(spec):
    _assert_kept_tensors_match_autograd(spec)


@pytest.mark.slow
def test_kept_tensors_match_pytorch_autograd_on_every_reference():
    for spec in _references():
        if spec not in CHEAP:
            _assert_kept_tensors_match_autograd(spec)


def test_summary_columns_and_memory_totals(small):
    from cnndsl.diagnostics import byte_size
    from cnndsl.summary import render, summary_dict

    out = render(small, names=["name", "out_bytes", "weight_bytes"], batch=2, optimizer="sgd")
    training = small.memory(batch=2, training=True, optimizer="sgd")
    assert "Inference memory (batch 2, float32): 7.0 KiB = weights 3.0 KiB + the most activations alive at once" in out
    assert f"Training memory (batch 2, sgd): {byte_size(training.total)} = weights" in out
    data = json.loads(json.dumps(summary_dict(small, batch=2, optimizer="momentum")))
    assert data["memory"]["training"] == small.memory(batch=2, training=True, optimizer="momentum").to_dict()
    assert data["memory"]["inference"] == small.memory(batch=2).to_dict()
    by_name = {layer.name: layer for layer in small.memory(batch=2).layers}
    for layer in data["layers"]:
        assert layer["out_bytes"] == by_name[layer["name"]].output_bytes
        assert layer["weight_bytes"] == by_name[layer["name"]].weight_bytes
        assert layer["flops"] == small.layer_flops[next(n for n in small.layers if n.name == layer["name"])]
