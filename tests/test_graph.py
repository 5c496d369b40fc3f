"""Graph architectures: blocks, repeat, residual, concat, named tensors, several outputs, includes.

The graph specs (ResNet family, GoogLeNet, Inception-v3, NIN, the localization network) against
their published totals and names, `summary --depth` folding, and every graph diagnostic with a small
failing spec: its code, its line:col and, where two places are involved, both source locations.
"""

from __future__ import annotations

import pathlib
import time

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.summary import rows

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

# torchvision's figures: trainable parameters and MACs (conv and fc, bias excluded) at 224x224
# (299x299 for Inception-v3).
TORCHVISION = {
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
    "googlenet": (6_624_904, 1_498_376_192),
    "inception_v3": (23_834_568, 5_713_216_096),
}
GRAPH_SPECS = [*TORCHVISION, "nin", "localization"]


def model(stem: str) -> cnndsl.CheckedModel:
    return _cache.setdefault(stem, cnndsl.check_file(SPECS / f"{stem}.cnn"))


_cache: dict[str, cnndsl.CheckedModel] = {}


def layers(stem: str) -> dict[str, object]:
    return {node.name: node for node in model(stem).layers}


def strides(node) -> set[int]:
    stride = node.layer.window.stride
    return set(stride) if isinstance(stride, tuple) else {stride or 1}


# --- the specs --------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", TORCHVISION)
def test_torchvision_counts(stem):
    params, macs = TORCHVISION[stem]
    checked = model(stem)
    assert checked.trainable_params == params
    assert checked.total_macs == macs
    assert checked.outputs == [("fc", (1000,))]
    assert not checked.warnings


def test_resnet_family_shares_one_block_definition():
    for stem in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        text = (SPECS / f"{stem}.cnn").read_text()
        assert 'use "lib/resnet.cnn"' in text
        assert "block " not in text, f"{stem} defines its own blocks"
    assert len((SPECS / "resnet152.cnn").read_text().splitlines()) < 40
    lib = (SPECS / "lib" / "resnet.cnn").read_text()
    definitions = [line for line in lib.splitlines() if line.startswith("block ")]
    assert len(definitions) == 2  # the residual unit (basic or bottleneck) and the stage


def test_resnet50_is_v1_5_with_torchvision_names():
    nodes = layers("resnet50")
    assert "layer3.2.conv1" in nodes
    for stage, stride in (("layer1", 1), ("layer2", 2), ("layer3", 2), ("layer4", 2)):
        first = f"{stage}.0"
        # v1.5: the 1x1 reduction keeps the stride 1; the 3x3 convolution strides.
        assert nodes[f"{first}.conv1"].layer.window.extent == (1, 1)
        assert strides(nodes[f"{first}.conv1"]) == {1}
        assert strides(nodes[f"{first}.conv2"]) == {stride}
        assert strides(nodes[f"{first}.conv3"]) == {1}
        assert f"{first}.downsample.0" in nodes  # every stage's first unit projects
        assert f"{stage}.1.downsample.0" not in nodes
    assert [n for n in nodes if n.startswith("layer3.") and n.endswith(".conv3")] == [
        f"layer3.{i}.conv3" for i in range(6)
    ]
    shapes = model("resnet50").shapes
    assert shapes[nodes["layer4.2.relu3"]] == (2048, 7, 7)
    assert shapes[nodes["layer1.0.add1"]] == (256, 56, 56)


def test_resnet18_first_stage_has_identity_shortcuts():
    nodes = layers("resnet18")
    assert not [n for n in nodes if n.startswith("layer1.") and ".downsample." in n]
    assert "layer2.0.downsample.0" in nodes and "layer2.1.downsample.0" not in nodes
    assert len([n for n in nodes if n.endswith(".add1")]) == 8


def test_googlenet_follows_torchvision():
    nodes = layers("googlenet")
    shapes = model("googlenet").shapes
    assert "inception3a.branch2.1.conv" in nodes  # torchvision: branch2 = Sequential(BasicConv2d, BasicConv2d)
    assert [n.split(".")[1] for n in nodes if n.startswith("inception3a.branch") and n.endswith(".conv")] == [
        "branch1",
        "branch2",
        "branch2",
        "branch3",
        "branch3",
        "branch4",
    ]
    # branch3 uses a 3x3 convolution (the paper's 5x5 is not what torchvision builds)
    assert nodes["inception4e.branch3.1.conv"].layer.window.extent in (3, (3,), (3, 3))
    # BasicConv2d: no bias, batch norm with eps 0.001
    convs = [n for n in nodes.values() if n.kind == "conv"]
    bns = [n for n in nodes.values() if n.kind == "bn"]
    assert len(convs) == len(bns) == 57 and not any(c.layer.bias for c in convs)
    assert all(b.layer.eps == 0.001 for b in bns)
    # max pools round up: 112 -> 56 -> 28 -> 14 -> 7
    pools = [n for n in nodes.values() if n.kind == "maxpool"]
    assert all(p.layer.ceil for p in pools)
    assert [shapes[nodes[p]][1] for p in ("maxpool1", "maxpool2", "maxpool3", "maxpool4")] == [56, 28, 14, 7]
    assert shapes[nodes["inception3a.concat1"]] == (256, 28, 28)
    assert shapes[nodes["inception5b.concat1"]] == (1024, 7, 7)
    assert nodes["dropout"].layer.p == 0.2


def test_inception_v3_factorised_kernels():
    nodes = layers("inception_v3")
    shapes = model("inception_v3").shapes
    seven = nodes["Mixed_6b.branch7x7_2.conv"].layer
    assert seven.window.extent == (1, 7) and (seven.pad.begin, seven.pad.end) == ((0, 3), (0, 3))
    assert nodes["Mixed_6b.branch7x7_3.conv"].layer.window.extent == (7, 1)
    assert shapes[nodes["Mixed_5d.concat1"]] == (288, 35, 35)
    assert shapes[nodes["Mixed_6e.concat1"]] == (768, 17, 17)
    assert shapes[nodes["Mixed_7c.concat1"]] == (2048, 8, 8)
    # InceptionE: 1x3 and 3x1 side by side on each 3x3 branch, 320 + 768 + 768 + 192 channels
    assert shapes[nodes["Mixed_7b.branch3x3_2a.conv"]] == shapes[nodes["Mixed_7b.branch3x3_2b.conv"]] == (384, 8, 8)
    assert [n.split(".")[1] for n in nodes if n.startswith("Mixed_7b.branch") and n.endswith(".conv")] == [
        "branch1x1",
        "branch3x3_1",
        "branch3x3_2a",
        "branch3x3_2b",
        "branch3x3dbl_1",
        "branch3x3dbl_2",
        "branch3x3dbl_3a",
        "branch3x3dbl_3b",
        "branch_pool",
    ]
    # average-pool branches count the padding (torchvision's count_include_pad=True)
    avg = [n for n in nodes.values() if n.kind == "avgpool" and n.name.startswith("Mixed_")]
    assert len(avg) == 9 and not any(p.layer.exclude_pad for p in avg)
    assert all(b.layer.eps == 0.001 for b in nodes.values() if b.kind == "bn")


def test_nin_cifar10():
    checked = model("nin")
    nodes = layers("nin")
    assert checked.trainable_params == 966_986
    assert checked.total_macs == 222_486_528
    assert not any(n.kind == "fc" for n in nodes.values())
    one_by_one = [n for n in nodes.values() if n.kind == "conv" and n.layer.window.extent in ((1, 1),)]
    assert len(one_by_one) == 6  # two cccp layers per mlpconv
    assert checked.shapes[nodes["pool3"]] == (10, 1, 1)
    assert checked.outputs[0][1] == (10,)


def test_localization_has_two_heads_on_one_trunk():
    checked = model("localization")
    assert checked.outputs == [("probs", (3,)), ("box", (4,))]
    assert checked.trainable_params == 4_183
    nodes = layers("localization")
    assert nodes["classifier"].inputs == nodes["regressor"].inputs  # the shared trunk's features
    assert not checked.warnings


@pytest.mark.parametrize("stem", GRAPH_SPECS)
def test_cli_check_and_summary(stem, capsys):
    path = str(SPECS / f"{stem}.cnn")
    assert main(["check", "-q", path]) == 0
    assert main(["summary", path, "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert f"Trainable params: {model(stem).trainable_params:,}" in out


# --- summary --depth ------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", GRAPH_SPECS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_folding_keeps_the_totals(stem, depth):
    checked = model(stem)
    table = rows(checked, depth)
    assert sum(r.params for r in table) == checked.total_params
    assert sum(r.macs for r in table) == checked.total_macs
    assert len(table) <= len(rows(checked))
    assert len({r.name for r in table}) == len(table)


def test_resnet50_depth_1_and_2():
    checked = model("resnet50")
    top = rows(checked, 1)
    assert [r.name for r in top] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten1",
        "fc",
    ]
    layer3 = next(r for r in top if r.name == "layer3")
    assert (layer3.kind, layer3.shape) == ("stage", "1024x14x14")
    assert layer3.params == sum(checked.stats[n].params for n in checked.layers if n.name.startswith("layer3."))
    second = [r for r in rows(checked, 2) if r.name.startswith("layer3")]
    assert [r.name for r in second] == [f"layer3.{i}" for i in range(6)]
    assert {r.kind for r in second} == {"unit"}


def test_googlenet_depth_2_folds_branches():
    names = [r.name for r in rows(model("googlenet"), 2)]
    assert names[names.index("inception3a.branch1") : names.index("inception3a.branch1") + 5] == [
        "inception3a.branch1",
        "inception3a.branch2",
        "inception3a.branch3",
        "inception3a.branch4",
        "inception3a.concat1",
    ]


# --- the language: forms the specs rely on ----------------------------------------------------------


def test_concat_and_add_of_named_tensors():
    checked = cnndsl.check_text(
        "input 8x16x16\n"
        "a = in -> conv 1x1 4\n"
        "b = in -> conv 3x3 6 pad 1\n"
        "c = concat a b\n"
        "d = c -> conv 1x1 8\n"
        "add d in -> relu\n"
    )
    assert checked.outputs[0][1] == (8, 16, 16)
    assert [n.kind for n in checked.layers] == ["conv", "conv", "concat", "conv", "add", "relu"]


def test_fire_module_block_with_named_tensors():
    checked = cnndsl.check_text(
        "input 96x55x55\n"
        "block fire(s, e) {\n"
        "    squeeze = conv 1x1 s relu\n"
        "    left = squeeze -> conv 1x1 e relu\n"
        "    right = squeeze -> conv 3x3 e pad 1 relu\n"
        "    concat left right\n"
        "}\n"
        "fire2: fire 16 64 -> fire3: fire 16 64\n"
    )
    assert checked.outputs == [("fire3.concat1", (128, 55, 55))]
    assert checked.trainable_params == 2 * (96 * 16 + 16 + 16 * 64 + 64 + 16 * 64 * 9 + 64) - 96 * 16 + 128 * 16


def test_repeat_counter_and_arithmetic():
    checked = cnndsl.check_text(
        "input 3x8x8\n"
        "block unit(c, stride=1) { conv 3x3/stride 2*c pad 1 }\n"
        "layers: repeat 3 as i { unit (i + 1) stride (i == 0 ? 2 : 1) }\n"
    )
    assert [(n.name, checked.shapes[n]) for n in checked.layers] == [
        ("layers.0.conv1", (2, 4, 4)),
        ("layers.1.conv1", (4, 4, 4)),
        ("layers.2.conv1", (6, 4, 4)),
    ]


def test_diamond_include_defines_blocks_once(tmp_path):
    (tmp_path / "common.cnn").write_text("block cbr(c) { conv 3x3 c pad 1 -> bn -> relu }\n")
    (tmp_path / "left.cnn").write_text('use "common.cnn"\nblock l(c) { cbr c }\n')
    (tmp_path / "right.cnn").write_text('use "common.cnn"\nblock r(c) { cbr c }\n')
    main_spec = tmp_path / "main.cnn"
    main_spec.write_text('use "left.cnn"\nuse "right.cnn"\ninput 3x8x8\nl 4 -> r 4\n')
    assert cnndsl.check_file(main_spec).outputs[0][1] == (4, 8, 8)


# --- diagnostics --------------------------------------------------------------------------------------


def failure(text: str, code: str, path: str = "<text>") -> cnndsl.Diagnostic:
    with pytest.raises(cnndsl.CnnError) as raised:
        cnndsl.check_text(text, path=path)
    found = [d for d in raised.value.diagnostics if d.code == code]
    assert found, [f"{d.code} {d.message}" for d in raised.value.diagnostics]
    return found[0]


def warned(text: str, code: str) -> cnndsl.Diagnostic:
    found = [d for d in cnndsl.check_text(text).warnings if d.code == code]
    assert found
    return found[0]


def where(label) -> tuple[int, int]:
    return label.source.line_col(label.span.start)


def test_e405_concat_of_mismatched_spatial_sizes():
    d = failure("input 3x32x32\nconcat {\n    conv 3x3 8 pad 1\n    conv 3x3/2 8 pad 1\n}\n", "E405")
    assert d.location() == ("<text>", 2, 1)
    assert "8x32x32" in d.message and "8x16x16" in d.message
    assert [where(s) for s in d.secondary] == [(3, 5), (4, 5)]
    assert "8x32x32" in d.secondary[0].text and "8x16x16" in d.secondary[1].text


def test_e405_concat_of_named_tensors():
    d = failure("input 3x32x32\na = in -> conv 3x3 8 pad 1\nb = in -> conv 3x3/2 8 pad 1\nconcat a b\n", "E405")
    assert d.location() == ("<text>", 4, 1)
    assert [where(s) for s in d.secondary] == [(2, 11), (3, 11)]


def test_e406_residual_add_of_mismatched_shapes():
    d = failure("input 64x56x56\nresidual { conv 3x3/2 64 pad 1 }\n", "E406")
    assert d.location() == ("<text>", 2, 1)
    assert "64x28x28" in d.message and "64x56x56" in d.message
    assert [where(s) for s in d.secondary] == [(2, 12), (1, 1)]


def test_e406_no_broadcasting():
    d = failure("input 64x56x56\na = in -> conv 1x1 64\nb = in -> avgpool 56x1\nadd a b\n", "E406")
    assert d.location() == ("<text>", 4, 1)
    assert "64x56x56" in d.message and "64x1x56" in d.message
    assert [where(s) for s in d.secondary] == [(2, 11), (3, 11)]


def test_e208_undefined_tensor():
    d = failure("input 3x8x8\na = conv 3x3 4\nadd a bogus\n", "E208")
    assert d.location() == ("<text>", 3, 7)
    d = failure("input 3x8x8\nbox = conv 3x3 4 -> flatten -> fc 4\noutput box, probs\n", "E208")
    assert d.location() == ("<text>", 3, 13)


def test_w106_unused_tensor():
    d = warned("input 3x8x8\na = conv 3x3 4\nb = in -> conv 3x3 4\nb -> relu\n", "W106")
    assert d.location() == ("<text>", 2, 1) and "'a'" in d.message
    d = warned("input 3x8x8\nblock b(c) {\n    t = conv 1x1 c\n    in -> conv 3x3 c pad 1\n}\nb 4\n", "W106")
    assert d.location() == ("<text>", 3, 5)


def test_e213_cycle_names_only_its_members():
    d = failure("input 3x8x8\na = b -> conv 3x3 4 pad 1\nb = a -> conv 3x3 4 pad 1\na -> relu\n", "E213")
    assert d.location() == ("<text>", 2, 1)
    assert [where(s) for s in d.secondary] == [(3, 1)]  # line 4 only waits for the cycle
    assert "'b'" in d.primary.text and "'a'" in d.secondary[0].text
    d = failure("input 3x8x8\na = a -> relu\nrelu\n", "E213")
    assert d.location() == ("<text>", 2, 1) and "itself" in d.message


def test_e203_e204_e202_block_arguments():
    block = "input 3x8x8\nblock unit(c, k, stride=1) { conv k/stride c }\n"
    d = failure(block + "unit 4\n", "E203")
    assert d.location() == ("<text>", 3, 1) and d.message.endswith("needs its k")
    d = failure(block + "unit 4 3 5\n", "E204")
    assert d.location() == ("<text>", 3, 10)
    d = failure(block + "unit 4 3 strid 2\n", "E202")
    assert d.location() == ("<text>", 3, 10) and "stride" in (d.help or "")
    d = failure(block + "unit 4 stride 2 3\n", "E204")  # positionals come first
    assert d.location() == ("<text>", 3, 17)


def test_e211_recursive_block():
    d = failure("input 3x8x8\nblock a(c) { b c }\nblock b(c) { a c }\na 4\n", "E211")
    assert d.location() == ("<text>", 3, 14)
    assert [where(s) for s in d.secondary] == [(2, 7)]
    assert "a -> b -> a" in " ".join(d.notes)


def test_e212_missing_include(tmp_path):
    spec = tmp_path / "main.cnn"
    d = failure('input 3x8x8\nuse "lib/none.cnn"\nrelu\n', "E212", path=str(spec))
    assert d.location() == (str(spec), 2, 1)


def test_e212_include_cycle(tmp_path):
    (tmp_path / "a.cnn").write_text('block ua() { relu }\nuse "b.cnn"\n')
    (tmp_path / "b.cnn").write_text('\nuse "a.cnn"\nblock ub() { relu }\n')
    spec = tmp_path / "main.cnn"
    with pytest.raises(cnndsl.CnnError) as raised:
        cnndsl.check_text('use "a.cnn"\ninput 3x8x8\nua -> ub\n', path=str(spec))
    (d,) = [d for d in raised.value.diagnostics if d.code == "E212"]
    assert d.location() == (str(tmp_path / "b.cnn"), 2, 1)
    (other,) = d.secondary
    assert (other.source.path, *where(other)) == (str(tmp_path / "a.cnn"), 2, 1)


def test_e214_runaway_expansion_stops_fast():
    start = time.perf_counter()
    d = failure("input 3x8x8\nrepeat 1000 { repeat 1000 { relu } }\n", "E214")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert d.location() == ("<text>", 2, 8)
    assert [where(s) for s in d.secondary] == [(2, 13)]
    # through a block, and with a counter the body does not use
    start = time.perf_counter()
    d = failure("input 3x8x8\nblock u() { repeat 1000 as j { relu } }\nrepeat 1000 as i { u }\n", "E214")
    assert time.perf_counter() - start < 1.0
    assert d.location() == ("<text>", 3, 8)


def test_e214_counter_dependent_repetition_is_charged_per_layer():
    limits = cnndsl.Limits(max_layers=50)
    # Only the first iteration is large: a projection from it would be wrong; the count is exact.
    ok = cnndsl.check_text("input 3x8x8\nrepeat 40 as i { if (i == 0) { repeat 30 { relu } } }\n", limits=limits)
    assert len(ok.layers) == 30
    with pytest.raises(cnndsl.CnnError) as raised:
        cnndsl.check_text("input 3x8x8\nrepeat 40 as i { relu -> if (i < 2) { repeat 30 { relu } } }\n", limits=limits)
    assert [d.code for d in raised.value.diagnostics] == ["E214"]


def test_e210_duplicate_names():
    d = failure("input 3x8x8\nx = conv 3x3 4\nx = relu\n", "E210")
    assert d.location() == ("<text>", 3, 1) and [where(s) for s in d.secondary] == [(2, 1)]
    d = failure("input 3x8x8\na: conv 3x3 4 -> a: relu\n", "E210")
    assert d.location() == ("<text>", 2, 18) and [where(s) for s in d.secondary] == [(2, 1)]
    d = failure("input 3x8x8\nconv 3x3 4 -> conv1: relu\n", "E210")
    assert d.location() == ("<text>", 2, 15) and [where(s) for s in d.secondary] == [(2, 1)]
    d = failure("input 3x8x8\nblock u() { relu }\nblock u() { relu }\nu\n", "E210")
    assert d.location() == ("<text>", 3, 7) and [where(s) for s in d.secondary] == [(2, 7)]
    d = failure("input 3x8x8\nbox = flatten -> fc 4\noutput box, box\n", "E210")
    assert d.location() == ("<text>", 3, 13)


def test_misspelt_block_parameter_gets_a_suggestion():
    d = failure("input 3x8x8\nblock b(c_out) {\n    conv 1x1 c_ou\n}\nb 4\n", "E202")
    assert d.location() == ("<text>", 3, 14)
    assert d.help == "did you mean 'c_out'?"
