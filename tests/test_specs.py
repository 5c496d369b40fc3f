"""The specs in specs/: published totals, golden summaries and the `summary --json` contract.

Every specs/*.cnn must have a row in PUBLISHED. Its golden summary (tests/golden/<stem>.txt) holds
the exact `cnndsl summary` text; after an intended change, regenerate the goldens with

    CNNDSL_UPDATE_GOLDEN=1 pytest tests/test_specs.py

and review the diff.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.summary import render

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = ROOT / "tests" / "golden"
SPEC_FILES = sorted(SPECS.glob("*.cnn"))

# spec stem: (trainable parameters, MACs or None), as published (or, where nothing is published,
# derived by hand in the spec's header). MACs follow torchvision: conv and fc only, bias excluded.
PUBLISHED: dict[str, tuple[int, int | None]] = {
    # the seeds' small networks
    "lenet5": (61_706, 416_520),
    "mnist_mlp": (178_110, 177_800),  # Flux model1
    "mnist_cnn": (5_386, 234_400),  # Flux model2 with its max pooling
    # AlexNet
    "alexnet": (61_100_840, 714_188_480),  # torchvision
    "alexnet2012": (60_965_224, 724_406_816),  # Krizhevsky et al. 2012 / Caffe bvlc_alexnet
    # VGG, torchvision
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "vgg11_bn": (132_868_840, 7_609_090_048),
    "vgg13_bn": (133_053_736, 11_308_466_176),
    "vgg16_bn": (138_365_992, 15_470_264_320),
    "vgg19_bn": (143_678_248, 19_632_062_464),
    # 1D and 3D
    "audio1d": (26_915, 1_880_256),  # torchaudio tutorial's M5 (26,915 published)
    "video3d": (1_190_725, 5_375_681_792),  # derived in the spec's header
    # graph networks: add a row with each new spec
    "resnet18": (11_689_512, 1_814_073_344),  # torchvision
    "resnet34": (21_797_672, 3_663_761_408),  # torchvision
    "resnet50": (25_557_032, 4_089_184_256),  # torchvision (v1.5)
    "resnet101": (44_549_160, 7_801_405_440),  # torchvision (v1.5)
    "resnet152": (60_192_808, 11_513_626_624),  # torchvision (v1.5)
    "resnext50_32x4d": (25_028_904, 4_230_479_872),  # torchvision: 25,028,904 params, 4.23 GFLOPS
    "resnext101_32x8d": (88_791_336, 16_414_015_488),  # torchvision: 88,791,336 params, 16.41 GFLOPS
    "resnext101_64x4d": (83_455_272, 15_460_270_080),  # torchvision: 83,455,272 params, 15.46 GFLOPS
    "wide_resnet50_2": (68_883_240, 11_398_021_120),  # torchvision: 68,883,240 params, 11.4 GFLOPS
    "wide_resnet101_2": (126_886_696, 22_753_050_624),  # torchvision: 126,886,696 params, 22.75 GFLOPS
    "googlenet": (6_624_904, 1_498_376_192),  # torchvision, without the aux classifiers
    "densenet121": (7_978_856, 2_834_161_664),  # torchvision: 7,978,856 params, 2.83 GFLOPS
    "densenet161": (28_681_000, 7_727_907_072),  # torchvision: 28,681,000 params, 7.73 GFLOPS
    "densenet169": (14_149_480, 3_359_843_328),  # torchvision: 14,149,480 params, 3.36 GFLOPS
    "densenet201": (20_013_928, 4_291_365_888),  # torchvision: 20,013,928 params, 4.29 GFLOPS
    "squeezenet1_0": (1_248_424, 818_924_576),  # torchvision: 1,248,424 params, 0.82 GFLOPS
    "squeezenet1_1": (1_235_496, 349_151_936),  # torchvision: 1,235,496 params, 0.35 GFLOPS
    "mobilenet_v2": (3_504_872, 300_774_272),  # torchvision: 3,504,872 params, 0.30 GFLOPS
    "mobilenet_v3_large": (5_483_032, 216_589_760),  # torchvision
    "mobilenet_v3_small": (2_542_856, 56_510_400),
    "mnasnet0_5": (2_218_512, 104_455_968),  # torchvision
    "mnasnet0_75": (3_170_208, 215_493_104),  # torchvision
    "mnasnet1_0": (4_383_312, 314_415_872),  # torchvision
    "mnasnet1_3": (6_282_256, 526_362_432),  # torchvision  # torchvision: 2,542,856 params, 0.06 GFLOPS
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448),  # torchvision: 1,366,792 params, 0.04 GFLOPS
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992),  # torchvision: 2,278,604 params, 0.14 GFLOPS
    "shufflenet_v2_x1_5": (3_503_624, 295_759_392),  # torchvision: 3,503,624 params, 0.30 GFLOPS
    "shufflenet_v2_x2_0": (7_393_996, 583_253_464),  # torchvision: 7,393,996 params, 0.58 GFLOPS
    "efficientnet_b0": (5_288_548, 385_814_752),  # torchvision
    "efficientnet_b1": (7_794_184, 686_802_832),  # torchvision at 240x240
    "efficientnet_b2": (9_109_994, 993_561_872),  # torchvision at 260x260
    "efficientnet_b3": (12_233_232, 1_827_141_392),  # torchvision at 300x300
    "efficientnet_b4": (19_341_616, 4_393_771_024),  # torchvision at 380x380
    "efficientnet_b5": (30_389_784, 10_266_384_752),  # torchvision at 456x456
    "efficientnet_b6": (43_040_704, 19_067_593_536),  # torchvision at 528x528
    "efficientnet_b7": (66_347_960, 37_745_884_192),  # torchvision at 600x600
    "convnext_tiny": (28_589_128, 4_455_531_264),  # torchvision
    "convnext_small": (50_223_688, 8_683_712_256),  # torchvision
    "convnext_base": (88_591_464, 15_354_729_472),  # torchvision
    "convnext_large": (197_767_336, 34_361_433_600),  # torchvision
    "unet": (31_030_658, 150_428_424_448),  # the paper's U-Net with biases (MACs derived)
    "inception_v3": (23_834_568, 5_713_216_096),  # torchvision at 299x299, without the aux head
    "inception_v4": (42_679_816, 12_253_974_624),  # timm at 299x299
    "inception_resnet_v2": (55_843_464, 13_155_794_016),  # timm at 299x299
    "darknet53": (41_609_928, 9_285_115_904),  # timm at 256x256
    "inception_bn": (11_194_984, 2_018_851_840),  # Ioffe & Szegedy 2015 Figure 5, by our transcription
    "yolov3": (61_949_149, 32_932_037_632),  # params: ultralytics yolov3 summary; MACs at 416x416
    "deeplabv3_resnet50": (39_638_869, 31_310_548_992),  # torchvision without the aux head (42,004,074 with)
    "deeplabv3_resnet101": (58_630_997, 46_159_433_728),  # torchvision without the aux head (60,996,202 with)
    "fcn_resnet50": (32_957_013, 26_484_498_432),  # torchvision without the aux head (35,322,218 with)
    "fcn_resnet101": (51_949_141, 41_333_383_168),  # torchvision without the aux head (54,314,346 with)
    "nin": (966_986, 222_486_528),  # NIN CIFAR-10 (Caffe model zoo), derived in the header
    "localization": (4_183, 233_200),  # the seeds' two-head localizer, derived in the header
}


def _spec_id(path: pathlib.Path) -> str:
    return path.stem


def _relative(path: pathlib.Path) -> str:
    """The spec's path as the summary shows it: relative to the repository root, '/'-separated."""
    return path.relative_to(ROOT).as_posix()


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_there_are_specs():
    assert SPEC_FILES, f"no specs found in {SPECS}"


@pytest.mark.parametrize("spec", SPEC_FILES, ids=_spec_id)
def test_published_totals(spec):
    assert spec.stem in PUBLISHED, (
        f"{spec.name} has no row in PUBLISHED (tests/test_specs.py); add "
        f"'{spec.stem}': (trainable parameters, MACs or None) with the published figures"
    )
    params, macs = PUBLISHED[spec.stem]
    model = cnndsl.check_file(spec)
    assert model.trainable_params == params, f"{spec.name}: {model.trainable_params:,} != {params:,}"
    if macs is not None:
        assert model.total_macs == macs, f"{spec.name}: {model.total_macs:,} MACs != {macs:,}"


def test_published_rows_have_specs():
    stems = {spec.stem for spec in SPEC_FILES}
    assert not set(PUBLISHED) - stems, f"rows without a spec: {sorted(set(PUBLISHED) - stems)}"


@pytest.mark.parametrize("spec", SPEC_FILES, ids=_spec_id)
def test_golden_summary(spec, at_root):
    text = render(cnndsl.check_file(_relative(spec))) + "\n"
    golden = GOLDEN / f"{spec.stem}.txt"
    if os.environ.get("CNNDSL_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        return
    if not golden.exists():
        pytest.fail(
            f"no golden summary {golden.relative_to(ROOT)}; create it with "
            f"CNNDSL_UPDATE_GOLDEN=1 pytest tests/test_specs.py -k {spec.stem} (and review it)"
        )
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, (
        f"`cnndsl summary {_relative(spec)}` changed; if intended, rerun with "
        f"CNNDSL_UPDATE_GOLDEN=1 and review the diff of {golden.relative_to(ROOT)}"
    )


def test_goldens_have_specs():
    stems = {spec.stem for spec in SPEC_FILES}
    stale = sorted(p.name for p in GOLDEN.glob("*.txt") if p.stem not in stems)
    assert not stale, f"golden summaries without a spec: {stale}"


def test_summary_cli_prints_the_golden_text(capsys, at_root):
    spec = SPECS / "lenet5.cnn"
    assert main(["summary", _relative(spec)]) == 0
    assert capsys.readouterr().out == (GOLDEN / "lenet5.txt").read_text(encoding="utf-8")


LAYER_KEYS = {"name", "kind", "line", "output_shape", "params", "macs"}
TOP_KEYS = {"total_params", "trainable_params", "non_trainable_params", "total_macs", "input", "outputs", "layers"}


@pytest.mark.parametrize("spec", SPEC_FILES, ids=_spec_id)
def test_summary_json(spec, capsys):
    assert main(["summary", "--json", str(spec)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data.keys() >= TOP_KEYS
    model = cnndsl.check_file(spec)
    assert data["total_params"] == model.total_params
    assert data["trainable_params"] == model.trainable_params
    assert data["non_trainable_params"] == model.non_trainable_params
    assert data["total_params"] == data["trainable_params"] + data["non_trainable_params"]
    assert data["total_macs"] == model.total_macs
    assert data["input"] == list(model.input_shape)
    assert data["outputs"] == [{"name": name, "shape": list(shape)} for name, shape in model.outputs]
    assert data["outputs"] and all(set(o) == {"name", "shape"} for o in data["outputs"])
    assert len(data["layers"]) == len(model.layers)
    for layer in data["layers"]:
        assert layer.keys() >= LAYER_KEYS, layer
        assert isinstance(layer["line"], int) and layer["line"] >= 1
        assert all(isinstance(v, int) and v >= 1 for v in layer["output_shape"])
    assert sum(layer["params"] for layer in data["layers"]) == data["total_params"]
    assert sum(layer["macs"] for layer in data["layers"]) == data["total_macs"]
    # The batch axis is implicit: the input shape is the declared one.
    declared = next(line for line in spec.read_text().splitlines() if line.startswith("input "))
    assert "x".join(map(str, data["input"])) == declared.split()[1]


def test_summary_json_layers_of_mnist_cnn(capsys):
    """The seeds' model2, row by row: 28 -> 24 -> 12 -> 10 -> 5, 400 features."""
    assert main(["summary", "--json", str(SPECS / "mnist_cnn.cnn")]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = [
        (layer["name"], layer["kind"], layer["line"], layer["output_shape"], layer["params"], layer["macs"])
        for layer in data["layers"]
    ]
    assert rows == [
        ("conv1", "conv", 9, [8, 24, 24], 208, 115_200),
        ("pool1", "maxpool", 9, [8, 12, 12], 0, 0),
        ("conv2", "conv", 10, [16, 10, 10], 1_168, 115_200),
        ("pool2", "maxpool", 10, [16, 5, 5], 0, 0),
        ("flatten1", "flatten", 11, [400], 0, 0),
        ("fc", "fc", 12, [10], 4_010, 4_000),
    ]
    assert data["input"] == [1, 28, 28]
    assert data["outputs"] == [{"name": "fc", "shape": [10]}]


def test_vgg16_bn_batch_norm_statistics_are_non_trainable():
    model = cnndsl.check_file(SPECS / "vgg16_bn.cnn")
    assert model.non_trainable_params == 2 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512)
    assert model.total_params == 138_365_992 + 8_448


def test_alexnet2012_uses_two_gpu_groups_and_lrn():
    model = cnndsl.check_file(SPECS / "alexnet2012.cnn")
    layers = {node.name: node for node in model.layers}
    assert [n for n, node in layers.items() if getattr(node.layer, "groups", 1) == 2] == ["conv2", "conv4", "conv5"]
    norm = layers["norm1"].layer
    assert (norm.size, norm.alpha, norm.beta, norm.k) == (5, 1e-4, 0.75, 2.0)
    assert model.shapes[layers["pool5"]] == (256, 6, 6)
