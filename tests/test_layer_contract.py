"""The layer contract, checked for every registered kind: a kind is tested the moment it is registered.

For every kind, every example it declares and every input rank it takes, a one-layer and a
three-layer model are built, checked, compiled at the lowest opset the layer needs and at the
default one, validated by the ONNX checker (full), and run in ONNX Runtime with every tensor
exposed: each tensor's shape must be the checker's, and the initializers must be exactly the
declared parameters (names, shapes, counts, trainable split) and what the .npz loader reads.
Nothing here names a kind: cnndsl/layers/base.py says what a kind declares.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import cnndsl
from cnndsl.layers import REGISTRY, Layer
from cnndsl.layers.base import MIN_OPSET

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

KINDS = sorted(set(REGISTRY.values()), key=lambda kind: kind.kind)
CHANNELS, EXTENT, BATCH = 4, 8, 2
CASES = [
    pytest.param(kind, example, rank, id=f"{example.replace(' ', '_')}-rank{rank}")
    for kind in KINDS
    for example in kind.examples
    for rank in kind.ranks
]


def spec(kind: type[Layer], example: str, rank: int, layers: int) -> str:
    """`layers` (1 or 3) applications of the example to an input of 4 channels, extent 8."""
    shape = "x".join(map(str, (CHANNELS, *[EXTENT] * rank)))
    if kind.arity is None:  # a merge: of the input with itself, then of earlier results
        body = f"{example} in in" if layers == 1 else f"m = {example} in in\nm -> {example} in -> {example} m"
    else:
        body = " -> ".join([example] * layers)
    return f"input {shape}\n{body}\n"


def declared_weights(model: cnndsl.CheckedModel) -> dict[str, Any]:
    """Initializer name -> the declared Weight, for every layer."""
    declared = {}
    for node in model.layers:
        assert node.layer is not None
        for weight in node.layer.parameters([model.shapes[p] for p in node.inputs]):
            declared[f"{node.name}.{weight.name}"] = weight
    return declared


def run_every_tensor(proto: Any, model: cnndsl.CheckedModel) -> dict[str, tuple[int, ...]]:
    """Shapes ONNX Runtime gives every layer's tensor (a training-only layer makes none of its own)."""
    expose = [
        node.name
        for node in model.layers
        if node.layer is not None and not node.layer.training_only
        if node.name not in {o.name for o in proto.graph.output}
    ]
    for name in expose:
        proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = np.random.default_rng(0).standard_normal((BATCH, *model.input_shape), dtype=np.float32)
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: feed})
    for name, value in zip(names, values, strict=True):
        assert np.isfinite(value).all() or name not in expose, f"{name} has non-finite values"
    return {name: tuple(value.shape) for name, value in zip(names, values, strict=True)}


def test_every_kind_declares_its_contract():
    for kind in KINDS:
        assert kind.examples, f"{kind.__name__} declares no examples: the conformance test cannot build it"
        assert kind.summary, f"{kind.__name__} has no summary"
        assert set(kind.ranks) <= {0, 1, 2, 3} and kind.ranks, f"{kind.__name__}: ranks {kind.ranks}"
        # Counts derive from the one declaration of the weights: no kind counts them again.
        assert kind.params is Layer.params, f"{kind.__name__} overrides params(); declare parameters() instead"
        words = {example.split()[0] for example in kind.examples}
        assert words <= set(kind.spellings()), f"{kind.__name__}: examples use {words - set(kind.spellings())}"


@pytest.mark.parametrize(("kind", "example", "rank"), CASES)
def test_flops_and_kept_tensors_are_declared_consistently(kind: type[Layer], example: str, rank: int):
    """FLOPs count at least the multiply-accumulates twice; what a layer keeps for backward names
    real inputs and non-negative sizes; a view is no larger than what it views; the memory
    analysis runs at inference and while training with every optimizer."""
    model = cnndsl.check_text(spec(kind, example, rank, 3))
    for node in model.layers:
        assert node.layer is not None
        in_shapes, output = [model.shapes[p] for p in node.inputs], model.shapes[node]
        flops = node.layer.flops(in_shapes, output)
        assert isinstance(flops, int) and flops >= 2 * model.stats[node].macs, (node.name, flops)
        kept = node.layer.kept_for_backward(in_shapes, output)
        assert all(0 <= i < len(in_shapes) for i in kept.inputs), (node.name, kept)
        assert min(kept.values, kept.index_values, kept.fixed_values) >= 0, (node.name, kept)
        if node.layer.views_input:
            assert math.prod(output) <= math.prod(in_shapes[0]), f"{node.name} views more than its input"
    assert model.total_flops == sum(layer["flops"] for layer in model.to_dict()["layers"])
    largest_output = max(math.prod(model.shapes[node]) for node in model.graph.nodes)
    inference = model.memory(batch=BATCH)
    assert inference.activations >= 4 * BATCH * largest_output or any(n.layer.training_only for n in model.layers)
    for optimizer in ("sgd", "momentum", "adam"):
        training = model.memory(batch=BATCH, training=True, optimizer=optimizer)
        assert training.weights == 4 * model.total_params and training.gradients == 4 * model.trainable_params
        assert training.activations == sum(layer.kept_bytes for layer in training.layers) >= 0


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize(("kind", "example", "rank"), CASES)
def test_kind_checks_compiles_and_runs(kind: type[Layer], example: str, rank: int, layers: int):
    model = cnndsl.check_text(spec(kind, example, rank, layers))
    built = [node for node in model.layers if node.layer is not None]
    assert len(built) == layers and all(isinstance(node.layer, kind) for node in built)
    for node in built:
        shape = model.shapes[node]
        assert all(isinstance(extent, int) and extent >= 1 for extent in shape), (node.name, shape)
        assert node.layer.describe() is not None and node.layer.display_kind
    summary = model.to_dict()
    assert summary["total_params"] == model.total_params

    declared = declared_weights(model)
    trainable = sum(w.size for w in declared.values() if w.trainable)
    assert (trainable, sum(w.size for w in declared.values()) - trainable) == (
        model.trainable_params,
        model.non_trainable_params,
    )

    default_proto = cnndsl.compile_model(model)
    default = default_proto.opset_import[0].version
    lowest = model.lowest_opset
    assert lowest <= default
    for opset in sorted({lowest, default}):
        proto = default_proto if opset == default else cnndsl.compile_model(model, opset=opset)
        onnx.checker.check_model(proto, full_check=True)
        initializers = {t.name: tuple(t.dims) for t in proto.graph.initializer}
        assert initializers == {name: w.shape for name, w in declared.items()}, "initializers != declaration"
        assert sum(math.prod(dims) for dims in initializers.values()) == model.total_params
        produced = run_every_tensor(proto, model)
        for node in built:
            if not node.layer.training_only:
                assert produced[node.name] == (BATCH, *model.shapes[node]), f"{node.name} at opset {opset}"
        for name, node in model.graph.outputs:
            assert produced[name] == (BATCH, *model.shapes[node])
    if lowest > MIN_OPSET:
        with pytest.raises(cnndsl.CnnError) as failure:
            cnndsl.compile_model(model, opset=lowest - 1)
        assert {d.code for d in failure.value.diagnostics} == {"E504"}


@pytest.mark.parametrize(("kind", "example", "rank"), CASES)
def test_declared_weights_are_what_the_npz_loader_reads(kind, example, rank, tmp_path):
    model = cnndsl.check_text(spec(kind, example, rank, 3))
    declared = declared_weights(model)
    if not declared:
        return
    rng = np.random.default_rng(1)
    arrays = {name: rng.standard_normal(w.shape).astype(np.float32) for name, w in declared.items()}
    path = tmp_path / "trained.npz"
    np.savez(path, **arrays)
    proto = cnndsl.compile_model(model, weights=path)
    loaded = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)

    first = next(iter(declared))
    np.savez(path, **{**arrays, first: np.zeros((*declared[first].shape, 2), np.float32)})
    with pytest.raises(cnndsl.CnnError) as wrong_shape:
        cnndsl.compile_model(model, weights=path)
    assert first in str(wrong_shape.value)
    np.savez(path, **{name: array for name, array in arrays.items() if name != first})
    with pytest.raises(cnndsl.CnnError) as missing:
        cnndsl.compile_model(model, weights=path)
    assert first in str(missing.value)


# Kinds `cnndsl export --to pytorch` has no form for, with the reason (none today).
NO_TORCH_FORM: dict[str, str] = {}


def test_every_kind_declares_its_pytorch_form():
    for kind in KINDS:
        assert hasattr(kind, "torch_code") or kind.kind in NO_TORCH_FORM, (
            f"{kind.__name__} declares no torch_code (layers/framework.py) and is not listed as unsupported"
        )


@pytest.mark.parametrize(("kind", "example", "rank"), [c for c in CASES if c.values[0].kind not in NO_TORCH_FORM])
def test_pytorch_export_computes_what_onnx_runtime_does(kind: type[Layer], example: str, rank: int):
    from tests.test_export_pytorch import compare  # needs torch; skipped without it

    for layers in (1, 3):
        compare(cnndsl.check_text(spec(kind, example, rank, layers)), batch=BATCH)


# Kinds `cnndsl export --to keras` has no form for, with the reason (none today).
NO_KERAS_FORM: dict[str, str] = {}


def test_every_kind_declares_its_keras_form():
    for kind in KINDS:
        assert hasattr(kind, "keras_code") != (kind.kind in NO_KERAS_FORM), (
            f"{kind.__name__}: declare keras_code (layers/framework.py) or list it in NO_KERAS_FORM, not both"
        )


KERAS_CASES = [c for c in CASES if c.values[0].kind not in NO_KERAS_FORM]


def _keras_case_is_quick(case: Any) -> bool:
    """Every example once, at rank 2 (or the kind's highest below it), one layer deep, in the default run."""
    kind, _, rank = case.values
    return rank == min(max(kind.ranks), 2)


@pytest.mark.parametrize(("kind", "example", "rank"), [c for c in KERAS_CASES if _keras_case_is_quick(c)])
def test_keras_export_computes_what_onnx_runtime_does(kind: type[Layer], example: str, rank: int, tmp_path):
    from tests.test_export_keras import compare  # needs keras; skipped without it

    compare(cnndsl.check_text(spec(kind, example, rank, 1)), tmp_path, batch=BATCH)


@pytest.mark.slow
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize(("kind", "example", "rank"), KERAS_CASES)
def test_keras_export_computes_what_onnx_runtime_does_at_every_rank(
    kind: type[Layer], example: str, rank: int, layers: int, tmp_path
):
    from tests.test_export_keras import compare

    compare(cnndsl.check_text(spec(kind, example, rank, layers)), tmp_path, batch=BATCH)
