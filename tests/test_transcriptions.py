"""Specs without a library model to compare with, against independent PyTorch transcriptions of their
sources: YOLOv3 from Darknet's cfg/yolov3.cfg, as a list of cfg sections run the way Darknet runs
them (convolutional, shortcut, route, upsample, yolo), and BN-Inception from the table of Ioffe &
Szegedy 2015, Figure 5, one row per module.

Neither transcription shares names or blocks with the spec: the transcription's parameters are
saved under the spec's names by position (both list them in the order the layers are made), each
pair's shapes asserted equal first, then the spec is compiled with them. Batch-norm statistics and
affine terms are randomised (benchmarks/torchvision_models.randomise_identity_terms); ONNX Runtime's
outputs at batch 2 must match the transcription's within the same relative tolerance as
torchvision's models, YOLOv3's three detection maps one by one.

Skipped without torch. The default run checks the counts and the shapes; the outputs are slow
(`pytest -m slow`).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import cnndsl
from cnndsl.onnx import compile_file, plan

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
from torch import nn  # noqa: E402

from benchmarks import torchvision_models as tv  # noqa: E402  (needs torch)
from tests.test_torchvision_weights import BATCH, TOLERANCE, max_relative_error  # noqa: E402

# --- YOLOv3 from Darknet's cfg ----------------------------------------------------------------


def yolov3_cfg(classes: int = 80) -> list[dict[str, object]]:
    """cfg/yolov3.cfg's sections after [net], in order: what Darknet's layer indices count."""
    layers: list[dict[str, object]] = []

    def conv(filters: int, size: int, stride: int = 1, bn: bool = True) -> None:
        layers.append({"type": "convolutional", "filters": filters, "size": size, "stride": stride, "bn": bn})

    conv(32, 3)
    for filters, blocks in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        conv(filters, 3, 2)
        for _ in range(blocks):
            conv(filters // 2, 1)
            conv(filters, 3)
            layers.append({"type": "shortcut", "from": -3})
    out = 3 * (classes + 5)
    for width, skip in ((512, None), (256, 61), (128, 36)):
        if skip is not None:
            layers.append({"type": "route", "layers": [-4]})
            conv(width, 1)
            layers.append({"type": "upsample", "stride": 2})
            layers.append({"type": "route", "layers": [-1, skip]})
        for _ in range(3):
            conv(width, 1)
            conv(2 * width, 3)
        conv(out, 1, bn=False)
        layers.append({"type": "yolo"})
    return layers


class Darknet(nn.Module):
    """Darknet's forward over the cfg: every layer's output kept, routes and shortcuts by index;
    convolutions pad size // 2 (pad=1), batch-normalised ones have no bias and a leaky relu (0.1),
    the others are linear. [yolo] returns its input: decoding is post-processing."""

    def __init__(self, cfg: list[dict[str, object]]) -> None:
        super().__init__()
        self.cfg = cfg
        self.module_list = nn.ModuleList()
        channels = [3]
        for index, layer in enumerate(cfg):
            kind, block = layer["type"], nn.Sequential()
            c = channels[-1]
            if kind == "convolutional":
                size, stride, bn, filters = layer["size"], layer["stride"], layer["bn"], layer["filters"]
                assert isinstance(size, int) and isinstance(stride, int) and isinstance(filters, int)
                block.add_module(f"conv_{index}", nn.Conv2d(c, filters, size, stride, size // 2, bias=not bn))
                if bn:
                    block.add_module(f"batch_norm_{index}", nn.BatchNorm2d(filters))
                    block.add_module(f"leaky_{index}", nn.LeakyReLU(0.1))
                c = filters
            elif kind == "route":
                routed = layer["layers"]
                assert isinstance(routed, list)
                c = sum(channels[1:][r if r >= 0 else index + r] for r in routed)
            self.module_list.append(block)
            channels.append(c)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = []
        detections = []
        for index, (layer, module) in enumerate(zip(self.cfg, self.module_list, strict=True)):
            kind = layer["type"]
            if kind == "convolutional":
                x = module(x)
            elif kind == "shortcut":
                offset = layer["from"]
                assert isinstance(offset, int)
                x = outputs[-1] + outputs[index + offset]
            elif kind == "route":
                routed = layer["layers"]
                assert isinstance(routed, list)
                x = torch.cat([outputs[r if r >= 0 else index + r] for r in routed], 1)
            elif kind == "upsample":
                x = nn.functional.interpolate(x, scale_factor=layer["stride"], mode="nearest")
            elif kind == "yolo":
                detections.append(x)
            outputs.append(x)
        return detections


# --- BN-Inception from the paper's table -------------------------------------------------------

# Ioffe & Szegedy 2015, Figure 5: per module, #1x1, #3x3 reduce, #3x3, double #3x3 reduce,
# double #3x3, pooling and its projection (0: none, the stride-2 modules pass the pooled input
# through), stride. The table's pool projections of 4c and 4d (128) would make 608 channels where
# its output column has 576: 96, as in TF-slim's inception_v2 and the released Caffe model.
BN_INCEPTION_TABLE = [
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 96, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 96, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
]


def conv_bn_relu(cin: int, cout: int, size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, size, stride, size // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c1: int, r3: int, c3: int, rd: int, cd: int, pool: str, proj: int, stride: int):
        super().__init__()
        self.one = conv_bn_relu(cin, c1, 1) if c1 else None
        self.three = nn.Sequential(conv_bn_relu(cin, r3, 1), conv_bn_relu(r3, c3, 3, stride))
        self.double3x3 = nn.Sequential(
            conv_bn_relu(cin, rd, 1), conv_bn_relu(rd, cd, 3), conv_bn_relu(cd, cd, 3, stride)
        )
        pooling = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        self.pool = pooling(3, stride, 1) if stride == 1 else nn.MaxPool2d(3, 2, ceil_mode=True)
        self.proj = conv_bn_relu(cin, proj, 1) if proj else None
        self.channels = c1 + c3 + cd + (proj or cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x)
        parts = [self.one(x)] if self.one is not None else []
        parts += [self.three(x), self.double3x3(x), self.proj(pooled) if self.proj is not None else pooled]
        return torch.cat(parts, 1)


class BNInception(nn.Module):
    """Figure 5 top to bottom: 7x7/2 convolution, 3x3/2 max pool, 1x1 64 and 3x3 192, 3x3/2 max
    pool, the ten modules, 7x7 average pool, a 1000-way linear layer; batch norm after every
    convolution. Max pools round up (Caffe's), which the 7x7 map sizes of the table need."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            conv_bn_relu(3, 64, 7, 2),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            conv_bn_relu(64, 64, 1),
            conv_bn_relu(64, 192, 3),
            nn.MaxPool2d(3, 2, ceil_mode=True),
        ]
        channels = 192
        for _, *row in BN_INCEPTION_TABLE:
            module = InceptionModule(channels, *row)  # type: ignore[arg-type]
            layers.append(module)
            channels = module.channels
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        out: torch.Tensor = self.fc(torch.flatten(x, 1))
        return out


# --- the checks --------------------------------------------------------------------------------

TRANSCRIPTIONS = {"yolov3": lambda: Darknet(yolov3_cfg()), "inception_bn": BNInception}


def transcription(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = TRANSCRIPTIONS[name]()
    tv.randomise_identity_terms(model)
    return model.eval()


def arrays_under_the_specs_names(model: cnndsl.CheckedModel, reference: nn.Module) -> dict[str, np.ndarray]:
    """The transcription's state_dict, by position, under the spec's parameter names."""
    theirs = [(k, v) for k, v in reference.state_dict().items() if not k.endswith(".num_batches_tracked")]
    ours = plan(model).weights
    assert len(ours) == len(theirs)
    arrays = {}
    for weight, (key, value) in zip(ours, theirs, strict=True):
        assert tuple(weight.shape) == tuple(value.shape), (weight.name, key)
        assert weight.name.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1], (weight.name, key)
        arrays[weight.name] = value.numpy()
    return arrays


@pytest.mark.parametrize("name", sorted(TRANSCRIPTIONS))
def test_the_spec_has_the_transcriptions_parameters(name, spec_dir):
    model = cnndsl.check_file(spec_dir / f"{name}.cnn")
    reference = transcription(name)
    arrays_under_the_specs_names(model, reference)
    assert model.trainable_params == tv.trainable_params(reference)


def test_yolov3_has_three_heads_of_255_channels(spec_dir):
    model = cnndsl.check_file(spec_dir / "yolov3.cnn")
    assert [shape for _, shape in model.outputs] == [(255, 13, 13), (255, 26, 26), (255, 52, 52)]
    assert model.trainable_params == 61_949_149  # ultralytics' yolov3 summary


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRANSCRIPTIONS))
def test_the_spec_gives_the_transcriptions_outputs(name, spec_dir, tmp_path: pathlib.Path):
    model = cnndsl.check_file(spec_dir / f"{name}.cnn")
    reference = transcription(name)
    weights = tmp_path / "weights.npz"
    np.savez(weights, **arrays_under_the_specs_names(model, reference))
    output = tmp_path / f"{name}.onnx"
    compile_file(model, output, weights=weights)
    assert model.total_macs == tv.macs(reference, model.input_shape)

    x = np.random.default_rng(0).standard_normal((BATCH, *model.input_shape), dtype=np.float32)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    ours = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x))
    theirs = [t.numpy() for t in (theirs if isinstance(theirs, list) else [theirs])]
    assert len(ours) == len(theirs)
    for mine, its in zip(ours, theirs, strict=True):  # YOLOv3's three maps one by one
        assert mine.shape == its.shape
        assert max_relative_error(mine, its) <= TOLERANCE
