"""Receptive fields, measured: the input gradient of one output value is nonzero exactly on the
field the analysis reports (docs/analysis.md, "Receptive fields").

Each spec is compiled to ONNX and run by a small evaluator written here with torch's functional
ops (independent of cnndsl's own geometry: it reads the emitted attributes and lets torch apply
them), in float64, on a positive input, with positive weights (scaled by the fan-in so that deep
networks neither overflow nor underflow) and positive batch-norm scales, so that no sum cancels.
The evaluator keeps every layer's connectivity and changes only what would hide a dependency
from a gradient: a pointwise activation is the identity (a saturated sigmoid or a dead ReLU has a
zero gradient where the value still depends on the input), and max pooling is average pooling
over the same windows (the gradient of a maximum reaches its argmax only, but the maximum
depends on the whole window). The gradient of the values at one position (a generic positive
combination of its channels) with respect to the input is then nonzero exactly where they depend
on the input; its bounding box per spatial axis must equal `receptive_field(node, at=...).region`.

Cheap specs run by default; the big ones (VGG, ResNet-101/152, EfficientNet-B1..B7, ...) are
marked slow. AlexNet's 195, VGG16's 212 and ResNet-50's 427 are measured on an input enlarged
until a field fits inside it whole.
"""

from __future__ import annotations

import json
import pathlib
import re
from fractions import Fraction
from typing import Any

import pytest

import cnndsl
from cnndsl.cli import main

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
F = torch.nn.functional
from onnx import numpy_helper  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DOCS = ROOT / "docs" / "analysis.md"

# --- an ONNX evaluator in torch, for the operators cnndsl emits ---------------------------------

POINTWISE = {
    "Relu",
    "Clip",
    "LeakyRelu",
    "Elu",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Mish",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "PRelu",
    "Identity",
}


def _attributes(node: Any) -> dict[str, Any]:
    """The node's attributes, strings decoded."""
    values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def _weights(proto: Any, generator: Any) -> dict[str, Any]:
    """Every initializer as a float64 tensor; the weights of convolutions and fully connected
    layers positive and scaled by the fan-in, biases small and positive, normalisations neutral."""
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in proto.graph.initializer}
    for node in proto.graph.node:
        inputs = list(node.input)
        if node.op_type in ("Conv", "ConvTranspose", "Gemm"):
            weight = values[inputs[1]]
            fan_in = weight[0].numel() if node.op_type != "ConvTranspose" else weight.shape[0] * weight[0, 0].numel()
            values[inputs[1]] = (0.5 + torch.rand(weight.shape, generator=generator, dtype=torch.float64)) / fan_in
            if len(inputs) > 2 and inputs[2]:
                values[inputs[2]] = torch.full(values[inputs[2]].shape, 0.01, dtype=torch.float64)
        elif node.op_type == "BatchNormalization":
            for name, fill in zip(inputs[1:5], (1.0, 0.01, 0.0, 1.0), strict=True):
                values[name] = torch.full(values[name].shape, fill, dtype=torch.float64)
        elif node.op_type in ("LayerNormalization", "GroupNormalization", "InstanceNormalization"):
            for name, fill in zip(inputs[1:3], (1.0, 0.01), strict=False):
                if name in values:
                    values[name] = torch.full(values[name].shape, fill, dtype=torch.float64)
        elif node.op_type in ("Mul", "Add"):  # a layer scale: positive
            for name in inputs:
                if name in values and values[name].is_floating_point():
                    values[name] = torch.full(values[name].shape, 0.5, dtype=torch.float64)
    return {k: v.double() if v.is_floating_point() else v for k, v in values.items()}


def _pool_pads(x: Any, pads: list[int], rank: int, value: float = 0.0) -> tuple[Any, list[int]]:
    """Symmetric padding for torch's pooling, explicit F.pad for the asymmetric rest."""
    begin, end = pads[:rank], pads[rank:]
    if begin == end:
        return x, begin
    flat = [p for b, e in zip(reversed(begin), reversed(end), strict=True) for p in (b, e)]
    return F.pad(x, flat, value=value), [0] * rank


def _crop_to(y: Any, shape: tuple[int, ...] | None) -> Any:
    if shape is None:
        return y
    assert all(a >= b for a, b in zip(y.shape[2:], shape[2:], strict=True)), (y.shape, shape)
    return y[(slice(None), slice(None), *(slice(0, n) for n in shape[2:]))]


def evaluate(proto: Any, x: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Every tensor of the graph, by name."""
    shapes = {
        v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
        for v in [*proto.graph.value_info, *proto.graph.output]
    }
    env = dict(values)
    env[proto.graph.input[0].name] = x
    for node in proto.graph.node:
        op, a = node.op_type, _attributes(node)
        ins = [env[name] if name else None for name in node.input]
        rank = ins[0].dim() - 2 if ins and ins[0] is not None and ins[0].dim() >= 2 else 0
        out_shape = shapes.get(node.output[0])
        if op in POINTWISE:
            y = ins[0]
        elif op == "Conv":
            pads = a.get("pads", [0] * 2 * rank)
            x0, padding = _pool_pads(ins[0], pads, rank)
            conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
            y = conv(
                x0,
                ins[1],
                ins[2] if len(ins) > 2 else None,
                a.get("strides", 1),
                padding,
                a.get("dilations", 1),
                a.get("group", 1),
            )
        elif op == "ConvTranspose":
            conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
            pads = a.get("pads", [0] * 2 * rank)
            y = conv(
                ins[0],
                ins[1],
                ins[2] if len(ins) > 2 else None,
                a.get("strides", 1),
                0,
                a.get("output_padding", 0),
                a.get("group", 1),
                a.get("dilations", 1),
            )
            y = y[
                (
                    slice(None),
                    slice(None),
                    *(slice(b, n - e) for b, e, n in zip(pads[:rank], pads[rank:], y.shape[2:], strict=True)),
                )
            ]
        elif op in ("MaxPool", "AveragePool"):  # both averaged: see the module's docstring
            pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[rank - 1]
            x0, padding = _pool_pads(ins[0], a.get("pads", [0] * 2 * rank), rank)
            y = _crop_to(
                pool(x0, a["kernel_shape"], a.get("strides", 1), padding, bool(a.get("ceil_mode", 0))), out_shape
            )
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            y = ins[0].mean(dim=tuple(range(2, ins[0].dim())), keepdim=True)
        elif op == "BatchNormalization":
            x0, scale, shift, mean, var = ins
            view = (1, -1, *[1] * rank)
            y = (x0 - mean.view(view)) / torch.sqrt(var.view(view) + a.get("epsilon", 1e-5)) * scale.view(
                view
            ) + shift.view(view)
        elif op == "LayerNormalization":
            y = F.layer_norm(
                ins[0], ins[0].shape[-1:], ins[1], ins[2] if len(ins) > 2 else None, a.get("epsilon", 1e-5)
            )
        elif op == "GroupNormalization":
            y = F.group_norm(ins[0], a["num_groups"], ins[1], ins[2], a.get("epsilon", 1e-5))
        elif op == "InstanceNormalization":
            y = F.instance_norm(ins[0], weight=ins[1], bias=ins[2], eps=a.get("epsilon", 1e-5))
        elif op == "LRN":
            y = F.local_response_norm(ins[0], a["size"], a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0))
        elif op == "Softmax":
            y = torch.softmax(ins[0], dim=a.get("axis", -1))
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Concat":
            y = torch.cat(ins, dim=a["axis"])
        elif op == "Flatten":
            y = ins[0].flatten(a.get("axis", 1))
        elif op == "Gemm":
            w = ins[1].T if a.get("transB", 0) else ins[1]
            y = ins[0] @ w + (ins[2] if len(ins) > 2 else 0)
        elif op == "Reshape":
            target = [int(v) for v in ins[1]]
            y = ins[0].reshape([ins[0].shape[i] if v == 0 else v for i, v in enumerate(target)])
        elif op == "Transpose":
            y = ins[0].permute(a["perm"])
        elif op == "Constant":
            y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            y = y.double() if y.is_floating_point() else y
        elif op == "Slice":
            starts, ends = ins[1].tolist(), ins[2].tolist()
            axes = ins[3].tolist() if len(ins) > 3 else list(range(len(starts)))
            index = [slice(None)] * ins[0].dim()
            for axis, start, end in zip(axes, starts, ends, strict=True):
                index[axis] = slice(start, min(end, ins[0].shape[axis]))
            y = ins[0][tuple(index)]
        elif op == "Pad":
            pads = ins[1].tolist()
            r = ins[0].dim()
            flat = [p for b, e in zip(reversed(pads[:r]), reversed(pads[r:]), strict=True) for p in (b, e)]
            flat = flat[: 2 * rank]
            modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}
            y = F.pad(ins[0], flat, mode=modes[a.get("mode", "constant")])
        elif op == "Resize":
            mode, transform = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
            if mode == "nearest":
                assert transform == "asymmetric"
                y = F.interpolate(ins[0], size=out_shape[2:], mode="nearest")
            else:
                assert transform == "half_pixel"
                y = F.interpolate(
                    ins[0], size=out_shape[2:], mode=("linear", "bilinear", "trilinear")[rank - 1], align_corners=False
                )
        else:
            raise NotImplementedError(f"the test's evaluator has no {op}")
        if out_shape is not None and out_shape and all(out_shape):
            assert tuple(y.shape[1:]) == tuple(out_shape[1:]), (node.name, op, tuple(y.shape), out_shape)
        env[node.output[0]] = y
    return env


class Measured:
    """One spec, compiled and evaluated once; the gradient of any value of any layer's output."""

    def __init__(self, model: cnndsl.CheckedModel, seed: int = 0):
        self.model = model
        self.proto = cnndsl.compile_model(model)
        generator = torch.Generator().manual_seed(seed)
        values = _weights(self.proto, generator)
        shape = (1, *model.input_shape)
        self.x = (0.5 + torch.rand(shape, generator=generator, dtype=torch.float64)).requires_grad_(True)
        self.env = evaluate(self.proto, self.x, values)

    def region(self, node: Any, at: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
        """The bounding box, per spatial axis of the input, of where the gradient of channel 0 of
        `node`'s output at `at` (a weighted sum of its channels) is nonzero."""
        y = self.env[node.name][(0, slice(None), *at)]
        # Every channel, each with its own positive weight: a field is a position's, over its
        # channels (a concatenation's first channels see the first input only), and a plain sum
        # could cancel (a softmax's, or a layer norm's over the channels, is constant).
        weights = 0.5 + torch.rand(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        value = (y * weights).sum()
        (gradient,) = torch.autograd.grad(value, self.x, retain_graph=True, allow_unused=True)
        if gradient is None:
            return None
        nonzero = gradient[0].ne(0).any(dim=0)  # over the channels
        if not bool(nonzero.any()):
            return None
        result = []
        for axis in range(nonzero.dim()):
            others = tuple(d for d in range(nonzero.dim()) if d != axis)
            line = nonzero.any(dim=others) if others else nonzero
            where = torch.nonzero(line).flatten().tolist()
            result.append((where[0], where[-1]))
        return tuple(result)


def _spatial_nodes(model: cnndsl.CheckedModel) -> list[Any]:
    """Layers with an output of their own (not dropout) and spatial axes."""
    return [n for n in model.layers if not n.layer.training_only and len(model.shapes[n]) > 1]


def _positions(model: cnndsl.CheckedModel) -> list[tuple[Any, tuple[int, ...]]]:
    """Where to measure: the centre and the first position of the last feature map, the centre of
    a layer a third of the way in, and the output's value when it is a flat vector."""
    chosen = []
    feature_map = model.last_feature_map()
    if feature_map is not None and feature_map.layer is not None:
        extents = model.shapes[feature_map][1:]
        chosen += [(feature_map, tuple(n // 2 for n in extents)), (feature_map, tuple(0 for _ in extents))]
    spatial = _spatial_nodes(model)
    if spatial:
        inner = spatial[len(spatial) // 3]
        chosen.append((inner, tuple(n // 2 for n in model.shapes[inner][1:])))
    output = model.graph.outputs[0][1]
    if len(model.shapes[output]) == 1 and output.layer is not None:
        chosen.append((output, ()))
    return chosen


# --- every spec ------------------------------------------------------------------------------

# Measured by default (a few seconds each in float64 on two cores); every other spec is slow.
DEFAULT = {
    "alexnet",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "googlenet",
    "densenet121",
    "squeezenet1_1",
    "shufflenet_v2_x0_5",
    "lenet5",
    "mnist_cnn",
    "nin",
    "localization",
    "audio1d",
    "video3d",
}


def _spec_params() -> list[Any]:
    params = []
    for spec in sorted(SPECS.glob("*.cnn")):
        marks = [] if spec.stem in DEFAULT else [pytest.mark.slow]
        params.append(pytest.param(spec, id=spec.stem, marks=marks))
    return params


@pytest.mark.parametrize("spec", _spec_params())
def test_reported_field_is_the_measured_gradient_extent(spec):
    model = cnndsl.check_file(spec)
    if len(model.input_shape) < 2:
        assert model.receptive_field().axes == ()
        return
    measured = Measured(model)
    for node, at in _positions(model):
        field = model.receptive_field(node, at=at)
        assert field.region == measured.region(node, at), f"{spec.stem}: {node.name} at {at}"


# --- the classic numbers, each measured whole --------------------------------------------------


def _enlarged(stem: str, extent: int) -> cnndsl.CheckedModel:
    """The spec with a larger square input (its network unchanged), so that a field fits inside."""
    path = SPECS / f"{stem}.cnn"
    text = re.sub(r"^input 3x\d+x\d+$", f"input 3x{extent}x{extent}", path.read_text(), count=1, flags=re.M)
    return cnndsl.check_text(text, str(path))


@pytest.mark.parametrize(
    ("stem", "name", "size", "extent"),
    [
        ("alexnet", "features.12", 195, 415),  # the last pool: 12x12 here, adaptive pooling to 6 halves it
        pytest.param("vgg16", "features.30", 212, 448, marks=pytest.mark.slow),
        ("resnet50", "layer4.2.relu3", 427, 544),
    ],
)
def test_classic_fields_are_measured_whole(stem, name, size, extent):
    """At the spec's own input the field is reported (the same at any input size); measured on an
    input large enough to hold it, the centre value's gradient spans exactly `size` positions."""
    reported = cnndsl.check_file(SPECS / f"{stem}.cnn")
    assert reported.receptive_field(name).size == (size, size)
    assert reported.last_feature_map().name in (name, "avgpool")
    model = _enlarged(stem, extent)
    node = next(n for n in model.graph.nodes if n.name == name)
    at = tuple(n // 2 for n in model.shapes[node][1:])
    field = model.receptive_field(name, at=at)
    assert field.size == (size, size)
    assert field.unclipped is not None and all(a >= 0 and b < extent for a, b in field.unclipped)
    assert all(b - a + 1 == size for a, b in field.region)
    assert Measured(model).region(node, at) == field.region


def test_vgg16_field_is_212_at_its_own_input():
    """VGG16's last pool: 212 wide, and the centre field fits inside 224 (measured in the slow set)."""
    model = cnndsl.check_file(SPECS / "vgg16.cnn")
    field = model.receptive_field(model.last_feature_map(), at=(3, 3))
    assert field.size == (212, 212)
    assert field.region == ((6, 217), (6, 217)) == field.unclipped


# --- each kind, by its declaration, measured -----------------------------------------------------


def _measure_all(text: str, positions: int = 6) -> cnndsl.CheckedModel:
    """Check `text`, then measure every layer at several positions (both ends, the middle, and
    spread between): the region must be the reported one."""
    model = cnndsl.check_text(text)
    measured = Measured(model)
    for node in _spatial_nodes(model):
        extents = model.shapes[node][1:]
        picks = {tuple(0 for _ in extents), tuple(n - 1 for n in extents), tuple(n // 2 for n in extents)}
        picks |= {tuple((i * 7 + 3 * k) % n for k, n in enumerate(extents)) for i in range(positions)}
        for at in sorted(picks):
            assert model.receptive_field(node, at=at).region == measured.region(node, at), f"{node.name} at {at}"
    return model


def rf(model: cnndsl.CheckedModel, name: str) -> Any:
    return model.receptive_field(name)


def test_convolution_padding_stride_dilation():
    model = _measure_all(
        "input 1x32x32\n"
        "a: conv 3 2 pad 1 -> b: conv 3/2 2 -> c: conv 3 2 dilation 2 pad 2 -> d: conv 2x3/1x2 2 pad 0,1\n"
    )
    assert rf(model, "a").size == (3, 3) and rf(model, "a").start == (-1, -1)
    assert rf(model, "b").size == (5, 5) and rf(model, "b").jump == (2, 2)
    assert rf(model, "c").size == (5 + 4 * 2, 5 + 4 * 2)  # dilation 2: a 5-wide kernel at jump 2
    d = rf(model, "d")
    assert d.size == (13 + 1 * 2, 13 + 2 * 2) and d.jump == (2, 4)


def test_dilated_taps_straddling_the_border_are_not_a_hull():
    """A 3-tap window dilated 9 on an 8-wide map: in the middle only the centre tap is real."""
    model = _measure_all("input 1x10\na: conv 3 1 -> b: conv 3 1 dilation 9 pad 9\n")
    b = model.receptive_field("b", at=(4,))
    assert b.unclipped == ((-5, 15),) and b.region == ((4, 6),)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_read_real_rows(mode):
    model = _measure_all(f"input 1x12x9\na: conv 3 2 pad 2 mode {mode} -> b: conv 5/2 2 pad 2 mode {mode}\n")
    first = model.receptive_field("b", at=(0, 0))
    assert first.unclipped[0][0] < 0 and first.region[0][0] == 0


def test_pooling_ceil_global_and_adaptive():
    model = _measure_all(
        "input 2x23x23\n"
        "a: pool 3/2 ceil -> b: avgpool 3/2 pad 1 ceil exclude_pad -> c: pool avg adaptive 3 -> d: pool avg global\n"
    )
    assert rf(model, "a").size == (3, 3)
    assert rf(model, "b").size == (7, 7) and rf(model, "b").jump == (4, 4)
    assert rf(model, "c").size == (7 + 4, 7 + 4)  # windows of 6 / 3 = 2 at jump 4
    assert rf(model, "d").is_global and rf(model, "d").whole_from == "d"


def test_transposed_convolution():
    model = _measure_all(
        "input 1x12x12\n"
        "a: conv 3/2 2 pad 1 -> b: convtranspose 3/2 2 pad 1 output_padding 1 -> c: convtranspose 2/2 2\n"
        "-> d: upconv 3/3 2 dilation 2 -> e: upconv 5/2 2 pad 2\n"
    )
    b = rf(model, "b")
    assert b.jump == (1, 1) and b.size == (5, 5)  # two neighbours of a at jump 2, each 3 wide
    assert rf(model, "c").jump == (Fraction(1, 2), Fraction(1, 2))


def test_transposed_convolution_with_gaps():
    """A 2-tap kernel at stride 3 leaves every third output reading nothing: only its bias."""
    model = cnndsl.check_text("input 1x6\na: conv 3 1 pad 1 -> b: convtranspose 2/3 1\n")
    assert model.receptive_field("b", at=(2,)).region is None
    assert model.receptive_field("b", at=(3,)).region == ((0, 2),)
    _measure_all("input 1x6\na: conv 3 1 pad 1 -> b: convtranspose 2/3 1 -> c: conv 3 1 pad 1\n")


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsampling_and_resizing(mode):
    model = _measure_all(
        "input 2x21x14\n"
        "A = a: conv 3/2 2 pad 1\n"
        "B = A -> b: conv 3/2 2 pad 1\n"
        f"D = B -> c: upsample 2 {mode} -> d: conv 3 2 pad 1\n"
        f"E = e: resize_{mode} B in\n"
        f"f: resize_{mode} D A\n"
        "g: add E in\n"
    )
    if mode == "nearest":
        assert rf(model, "c").size == rf(model, "b").size  # each value copies one of b's
    assert rf(model, "c").jump == (2, 2)


def test_upsampling_by_three_skips_zero_weights():
    """Linear upsampling by 3: every third position samples exactly one input position."""
    model = _measure_all("input 1x9\na: upsample 3 linear -> b: upsample 3 linear\n")
    assert model.receptive_field("a", at=(4,)).region == ((1, 1),)
    assert model.receptive_field("a", at=(5,)).region == ((1, 2),)


def test_resizing_between_sizes_with_no_common_factor():
    """Each resize's positions repeat only after its output size: in a chain their periods would
    multiply, so past a bound the fields of the tensor's own positions are listed instead."""
    sizes = [41, 37, 31, 29, 23, 19]
    lines = ["input 1x43", "x0 = conv 3 1"]
    lines += [f"r{i} = x0 -> conv {41 - n + 1} 1" for i, n in enumerate(sizes[1:], 1)]
    previous = "x0"
    for i in range(1, len(sizes)):
        lines += [f"u{i} = resize_nearest {previous} r{i}", f"v{i} = u{i} -> conv 3 1 pad 1"]
        previous = f"v{i}"
    model = _measure_all("\n".join([*lines, f"output {previous}"]) + "\n", positions=3)
    assert model.receptive_field().jump == (Fraction(41, 19),)


def test_a_billion_positions_cost_no_more_than_eight():
    """Fields are listed for at most MOST_LISTED positions per axis (then marked approximate, '~'),
    and a position's region keeps contiguous runs as ranges: a billion-wide axis is fast."""
    model = cnndsl.check_text(
        "input 1x999999937\nA = conv 9 1\nB = A -> conv 3/2 1 pad 1\n"
        "G = A -> pool avg global\nR = resize_nearest B A\nu: mul R G\n"
    )
    resized = model.receptive_field("resize_nearest1")
    assert resized.approximate and resized.text().startswith("~")
    assert model.receptive_field("u", at=(5,)).region == ((0, 999999936),)
    assert not model.receptive_field("conv2").approximate


def test_crop_reads_the_middle_of_its_first_tensor_only():
    model = _measure_all("input 1x20x20\nA = a: conv 3 2\nB = A -> b: conv 5/2 2\nc: crop A B\n")
    c = rf(model, "c")
    assert c.size == (3, 3) and c.start == ((18 - 7) // 2,) * 2  # b is 7 wide, cropped from 18
    assert not c.paths_differ  # b gives a size only


def test_a_small_unet():
    """U-Net's pattern (specs/unet.cnn is measured in the slow set): valid convolutions, pooling,
    2x2/2 transposed convolutions, the encoder's map cropped to the decoder's and concatenated."""
    model = _measure_all(
        "input 1x68x68\n"
        "E1 = conv 3 2 relu -> conv 3 2 relu\n"
        "E2 = E1 -> pool 2 -> conv 3 4 relu -> conv 3 4 relu\n"
        "B = E2 -> pool 2 -> conv 3 8 relu -> conv 3 8 relu\n"
        "U2 = B -> convtranspose 2/2 4\n"
        "U1 = crop E2 U2 -> concat U2 -> conv 3 4 relu -> conv 3 4 relu -> convtranspose 2/2 2\n"
        "out = crop E1 U1 -> concat U1 -> conv 3 2 relu -> conv 3 2 relu -> conv 1 2\n"
        "output out\n",
        positions=4,
    )
    out = model.receptive_field()
    assert out.paths_differ and out.smallest == (9, 9)  # the first skip: four 3x3 convolutions
    assert out.jump == (1, 1)


def test_merges_take_the_largest_field_and_say_so():
    model = _measure_all(
        "input 2x16x16\n"
        "X = x: conv 3 2 pad 1\n"
        "Y = X -> conv 5 2 pad 2\n"
        "Z = X -> conv 1x7 2 pad 0x3\n"
        "a: add X Y\n"
        "c: concat X Z\n"
        "m: mul Y Z\n"
    )
    a = rf(model, "a")
    assert a.size == (7, 7) and a.smallest == (3, 3) and a.paths_differ
    c = rf(model, "c")
    assert c.size == (3, 9) and c.smallest == (3, 3) and c.paths_differ
    assert rf(model, "m").size == (7, 9)
    assert not rf(model, "x").paths_differ


def test_a_gate_from_global_pooling_makes_the_field_global():
    model = _measure_all(
        "input 4x9x9\nx = conv 3 4 pad 1\ng = x -> pool avg global -> conv 1 4 sigmoid\nout: mul x g\n"
    )
    out = rf(model, "out")
    assert out.is_global and out.smallest == (3, 3) and out.paths_differ
    assert out.text() == "global (3x3 narrowest)"


def test_normalisation_over_space_is_global_over_channels_is_not():
    model = _measure_all("input 4x8x8\na: conv 3 4 pad 1 -> b: layernorm -> c: instancenorm -> d: groupnorm 2\n")
    assert rf(model, "b").size == (3, 3)
    assert rf(model, "c").is_global and rf(model, "c").whole_from == "c"


def test_one_and_three_dimensional_inputs():
    model = _measure_all("input 2x40\na: conv 5/2 2 pad 2 -> b: pool 2 -> c: conv 3 2 dilation 3\n")
    assert rf(model, "c").size == (5 + 2 + 2 * 3 * 4,)  # the pool adds 1 at jump 2, the conv 2 * 3 at 4
    model = _measure_all("input 1x6x10x10\na: conv 3x1x1 2 pad 1x0x0 -> b: conv 1x3x3/1x2x2 2 pad 0x1x1\n")
    assert rf(model, "b").size == (3, 3, 3)


def test_every_kind_declares_a_field_that_is_measured():
    """Every registered kind's examples, three in a row, as the layer contract builds them."""
    from tests.test_layer_contract import CASES, spec

    for case in CASES:
        kind, example, rank = case.values
        if rank == 0:
            continue
        _measure_all(spec(kind, example, rank, 3), positions=2)


# --- the API and the summary ------------------------------------------------------------------


def test_receptive_field_api():
    model = cnndsl.check_file(SPECS / "alexnet.cnn")
    out = model.receptive_field()
    assert out.is_global and out.whole_from == "flatten1" and out.text() == "global"
    feature_map = model.last_feature_map()
    assert feature_map.name == "avgpool"
    field = model.receptive_field("features.12")
    assert field == model.receptive_field(model.graph.nodes[8]) and field.size == (195, 195)
    assert field.jump == (32, 32) and field.start == (-66, -66) and field.axes[0].centre == 31
    assert model.receptive_field("input").size == (1, 1)
    with pytest.raises(KeyError, match="no layer or output named 'nope'"):
        model.receptive_field("nope")
    with pytest.raises(ValueError, match="at must be a position"):
        model.receptive_field("features.12", at=(6, 0))
    with pytest.raises(TypeError):
        model.receptive_field(3)
    flat = cnndsl.check_file(SPECS / "mnist_mlp.cnn")
    assert flat.receptive_field().axes == () and flat.receptive_field().text() == "-"
    assert flat.last_feature_map() is None


def test_checking_computes_no_field():
    model = cnndsl.check_file(SPECS / "resnet18.cnn")
    assert "_receptive_fields" not in vars(model)
    model.receptive_field()
    assert "_receptive_fields" in vars(model)


def test_summary_columns(capsys):
    assert main(["summary", str(SPECS / "alexnet.cnn"), "--columns", "name,rf,jump,start"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[2].split() == ["Layer", "Receptive", "field", "Jump", "Start"]
    assert re.search(r"^features\.12 +195x195 +32 +-66$", out, re.M)
    assert "Receptive field of classifier.6: global (from flatten1)" in out
    assert "  last feature map avgpool: 195x195, jump 32, start -66" in out


def test_summary_default_columns_are_unchanged(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["summary", "specs/resnet18.cnn"]) == 0
    default = capsys.readouterr().out
    assert main(["summary", "specs/resnet18.cnn", "--columns", "default"]) == 0
    assert capsys.readouterr().out == default
    assert default == (ROOT / "tests" / "golden" / "resnet18.txt").read_text()


def test_summary_folded_row_shows_its_last_layer(capsys):
    assert main(["summary", str(SPECS / "resnet50.cnn"), "--depth", "1", "--columns", "name,rf"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^layer4 +427x427$", out, re.M)
    assert "narrowest path 11x11" in out


@pytest.mark.parametrize("bad", ["nope", "", ",", "rf,bogus"])
def test_summary_unknown_column_is_a_usage_error(bad, capsys):
    assert main(["summary", str(SPECS / "alexnet.cnn"), "--columns", bad]) == 2
    err = capsys.readouterr().err
    assert "--columns" in err and "Traceback" not in err


def test_summary_json_carries_the_fields(capsys):
    assert main(["summary", "--json", str(SPECS / "resnet50.cnn"), "--depth", "1", "--batch", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["batch"] == 4
    layer4 = next(layer for layer in data["layers"] if layer["name"] == "layer4")
    assert layer4["rf"]["size"] == [427, 427] and layer4["rf"]["smallest"] == [11, 11]
    assert layer4["rf"]["paths_differ"] is True and layer4["rf"]["jump"] == [32, 32]
    fc = data["receptive_field"]["fc"]
    assert fc["global"] == [True, True] and fc["global_from"] == "avgpool"
    assert fc["last_feature_map"]["name"] == "layer4.2.relu3" and fc["last_feature_map"]["size"] == [427, 427]


# --- the table in docs/analysis.md ------------------------------------------------------------


def field_table() -> str:
    """The per-spec table docs/analysis.md shows, from the code."""
    lines = [
        "| Spec | Input | Last feature map | Field | Jump | Narrowest path | Output |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in sorted(SPECS.glob("*.cnn")):
        model = cnndsl.check_file(spec)
        if len(model.input_shape) < 2:
            continue
        node = model.last_feature_map()
        field = model.receptive_field(node)
        jump = "-" if field.is_global else "x".join(str(j) for j in field.jump)
        narrow = "x".join(map(str, field.smallest)) if field.paths_differ else "="
        out = model.receptive_field()
        size = "global" if field.is_global else field.text()
        lines.append(
            f"| {spec.stem} | {'x'.join(map(str, model.input_shape))} | {node.name} "
            f"({'x'.join(map(str, model.shapes[node][1:]))}) | {size} | {jump} | {narrow} | {out.text()} |"
        )
    return "\n".join(lines) + "\n"


def test_docs_example_is_what_summary_prints(capsys, monkeypatch):
    text = DOCS.read_text()
    command = "cnndsl summary specs/resnet18.cnn --depth 1 --columns name,shape,rf,jump,start"
    assert command in text
    shown = text.split(command, 1)[1].split("```\n\n```\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    assert main(command.split()[1:]) == 0
    assert capsys.readouterr().out == shown


def test_docs_python_example_prints_what_it_says(capsys, monkeypatch):
    """The "In Python" example: each print's output is the comment under it."""
    section = DOCS.read_text().split("### In Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    expected = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "docs/analysis.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == expected


def test_docs_table_is_generated_from_the_code():
    text = DOCS.read_text()
    begin, end = "<!-- receptive-field table: begin -->\n", "<!-- receptive-field table: end -->"
    assert begin in text and end in text, "docs/analysis.md has lost the table's markers"
    shown = text[text.index(begin) + len(begin) : text.index(end)]
    assert shown == field_table(), "regenerate with: python -m tests.test_receptive_field"


if __name__ == "__main__":  # rewrite the table in docs/analysis.md
    text = DOCS.read_text()
    begin, end = "<!-- receptive-field table: begin -->\n", "<!-- receptive-field table: end -->"
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    DOCS.write_text(head + begin + field_table() + end + tail)
    print(f"wrote {DOCS}")
