"""`cnndsl diff A.cnn B.cnn`: rows matched by name, both sides' figures and changes, totals, the
text diff, JSON, and bad input (no common names, a broken spec, a missing file or argument)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from cnndsl import cli
from cnndsl.cli.diff import match
from cnndsl.summary import Row

ROOT = pathlib.Path(__file__).resolve().parent.parent


def diff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(["diff", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def cells(output: str, name: str) -> list[str]:
    """The cells of the table row named `name` (its marker first, when it has one)."""
    return next(line.split() for line in output.splitlines() if name in line.split()[:2])


@pytest.fixture(autouse=True)
def in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the specs' paths print as given


def test_resnet50_against_resnext50_stage_by_stage(capsys):
    status, out, _ = diff(capsys, "specs/resnet50.cnn", "specs/resnext50_32x4d.cnn")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "A: resnet50 (specs/resnet50.cnn), input 3x224x224"
    assert lines[1] == "B: resnext50_32x4d (specs/resnext50_32x4d.cnn), input 3x224x224"
    assert cells(out, "Layer") == ["Layer", "Params", "A", "Params", "B", "change", "MACs", "A", "MACs", "B", "change"]
    # The grouped 3x3 convolutions: fewer parameters in every stage, more MACs from layer2 on.
    assert cells(out, "layer1") == [
        "*",
        "layer1",
        "218,624",
        "209,408",
        "-9,216",
        "667,942,912",
        "634,224,640",
        "-33,718,272",
    ]
    assert cells(out, "layer4") == [
        "*", "layer4", "14,987,264", "14,573,568", "-413,696", "809,238,528", "865,435,648", "+56,197,120"
    ]  # fmt: skip
    assert cells(out, "conv1") == ["conv1", "9,408", "9,408", "0", "118,013,952", "118,013,952", "0"]
    assert cells(out, "relu") == ["relu", "-", "-", "-", "-", "-", "-"]
    assert "Trainable params: A 25,557,032, B 25,028,904, change -528,128" in lines
    assert "Total MACs: A 4,089,184,256, B 4,230,479,872, change +141,295,616" in lines
    # The text diff of the two spec files: the stage lines differ, the shared stem does not.
    assert "--- specs/resnet50.cnn" in lines and "+++ specs/resnext50_32x4d.cnn" in lines
    assert "-  -> layer1: stage 64 3 expansion 4" in lines
    assert "+  -> layer1: stage 64 3 expansion 4 groups 32 width_per_group 4" in lines
    assert " conv1: conv 7x7/2 64 pad 3 nobias -> bn1: bn -> relu: relu -> maxpool: pool 3/2 pad 1" in lines
    assert not any("used files" in line for line in lines)  # both use the same lib/resnet.cnn


def test_rows_only_in_one_model_are_marked_and_merged_in_order(capsys):
    status, out, _ = diff(capsys, "specs/resnet18.cnn", "specs/resnet34.cnn", "--depth", "2")
    assert status == 0
    order = [line.split() for line in out.splitlines() if line[:1] in (" ", "*", "+", "-") and "layer1." in line]
    assert [(row[0], row[1]) for row in order] == [("layer1.0", "74,240"), ("layer1.1", "74,240"), ("+", "layer1.2")]
    assert cells(out, "layer1.2") == ["+", "layer1.2", "74,240", "231,211,008"]  # B's side only
    assert cells(out, "layer4.1") == ["layer4.1", "4,722,688", "4,722,688", "0", "231,211,008", "231,211,008", "0"]
    table = out.split("\n--- ")[0]  # the text diff's lines start with + and - too
    names = [line.split()[1] for line in table.splitlines() if line.startswith("+ ")]
    assert names == ["layer1.2", "layer2.2", "layer2.3", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.2"]
    assert "Total params: A 11,699,112, B 21,814,696, change +10,115,584" in out.splitlines()


def test_chosen_columns_show_both_sides_and_their_totals(capsys):
    status, out, _ = diff(
        capsys, "specs/resnet18.cnn", "specs/resnet34.cnn", "--depth", "2", "--columns", "rf,out_bytes,flops"
    )
    assert status == 0
    # The receptive field grows with every unit B adds; output bytes (batch 1) are the same where both have the row.
    row = cells(out, "layer4.1")
    assert row[8:11] == ["435x435", "771x771", "98.0"]
    assert row[-3:] == ["462,597,632", "462,597,632", "0"]
    lines = out.splitlines()
    assert "A:   last feature map layer4.1.relu2: 435x435, jump 32, start -217, narrowest path 11x11" in lines
    assert "B:   last feature map layer4.2.relu2: 899x899, jump 32, start -449, narrowest path 11x11" in lines
    assert "change: fc: last_feature_map.size +464 +464, last_feature_map.start -232 -232" in lines
    assert "change: inference: weights +40,462,336, total +40,462,336" in lines
    assert "A: Total FLOPs: 3,637,806,568 (3.64 GFLOPs)" in lines
    assert "B: Total FLOPs: 7,341,573,096 (7.34 GFLOPs)" in lines


def test_json_has_both_sides_changes_totals_and_the_text_diff(capsys):
    status, out, err = diff(
        capsys, "specs/resnet18.cnn", "specs/resnet34.cnn", "--columns", "out_bytes", "--batch", "2", "--format", "json"
    )
    assert status == 0 and err == ""
    data = json.loads(out)
    assert data["a"] == {"name": "resnet18", "path": "specs/resnet18.cnn", "input": [3, 224, 224]}
    assert (data["depth"], data["batch"], data["columns"]) == (1, 2, ["params", "macs", "out_bytes"])
    rows = {row["name"]: row for row in data["rows"]}
    assert list(rows)[:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    layer3 = rows["layer3"]
    assert layer3["in"] == "both"
    assert layer3["a"] == {
        "kind": "stage",
        "shape": "256x14x14",
        "params": 2102272,
        "macs": 411041792,
        "out_bytes": 401408,
    }
    assert layer3["b"]["params"] == 6829056
    assert layer3["change"] == {"params": 6829056 - 2102272, "macs": layer3["b"]["macs"] - 411041792, "out_bytes": 0}
    totals = data["totals"]
    assert (totals["a"]["params"], totals["b"]["params"], totals["change"]["params"]) == (11699112, 21814696, 10115584)
    assert totals["a"]["memory"]["inference"]["batch"] == 2
    memory_change = totals["change"]["memory"]["training"]
    assert (
        memory_change["total"]
        == totals["b"]["memory"]["training"]["total"] - totals["a"]["memory"]["training"]["total"]
    )
    assert "-  -> layer1: stage 64 2 expansion 1 project 0" in data["source_diff"]
    assert data["libraries"] == [] and data["diagnostics"] == []


def test_json_rows_only_in_one_model(capsys):
    _, out, _ = diff(capsys, "specs/vgg16.cnn", "specs/vgg16_bn.cnn", "--depth", "2", "--format", "json", "-q")
    rows = {row["name"]: row for row in json.loads(out)["rows"]}
    # vgg16_bn's batch norms shift torchvision's feature indices: features.5 is a conv in A only.
    assert rows["features.5"]["in"] == "a" and rows["features.5"]["b"] is None and rows["features.5"]["change"] is None
    assert rows["features.7"]["in"] == "b" and rows["features.7"]["b"]["params"] == 222464
    assert rows["features.0"]["change"] == {"params": 512, "macs": 0}


def test_a_differing_library_file_is_named(tmp_path, capsys):
    for side, kernel in (("a", "3x3 c pad 1"), ("b", "5x5 c pad 2")):
        (tmp_path / side / "lib").mkdir(parents=True)
        (tmp_path / side / "lib" / "blocks.cnn").write_text(f"block unit(c) {{\n    conv {kernel} -> relu\n}}\n")
        (tmp_path / side / "net.cnn").write_text(
            'use "lib/blocks.cnn"\ninput 3x32x32\nbody: unit 8 -> flatten -> head: fc 10\n'
        )
    spec_a, spec_b = tmp_path / "a" / "net.cnn", tmp_path / "b" / "net.cnn"
    status, out, _ = diff(capsys, str(spec_a), str(spec_b))
    assert status == 0
    lines = out.splitlines()
    assert "used files that differ (not shown below): lib/blocks.cnn (differs)" in lines
    assert lines[-1] == f"{spec_a} and {spec_b} have the same text"
    assert cells(out, "body") == ["*", "body", "224", "608", "+384", "221,184", "614,400", "+393,216"]
    assert cells(out, "head") == ["head", "81,930", "81,930", "0", "81,920", "81,920", "0"]


def test_no_common_names_is_e603_pointing_at_b(capsys):
    status, out, err = diff(capsys, "specs/lenet5.cnn", "specs/mnist_mlp.cnn")
    assert (status, out) == (1, "")
    assert err.startswith(
        "specs/mnist_mlp.cnn:7:1: error[E603]: 'specs/lenet5.cnn' and 'specs/mnist_mlp.cnn' have no layer or "
        "block name in common at depth 1\n"
    )
    assert "= note: A's names: c1, s2, c3, s4, flatten1, c5, f6, f7" in err
    assert "= note: B's names: fc1, fc2, fc3" in err


def test_no_common_names_as_json(capsys):
    status, out, _ = diff(capsys, "specs/lenet5.cnn", "specs/mnist_mlp.cnn", "--format", "json")
    assert status == 1
    [diagnostic] = json.loads(out)
    assert diagnostic["code"] == "E603"


def test_a_broken_spec_reports_its_diagnostics(tmp_path, capsys):
    broken = tmp_path / "broken.cnn"
    broken.write_text("input 3x32x32\nconv 3x3 8 -> rleu\n")
    status, out, err = diff(capsys, "specs/lenet5.cnn", str(broken))
    assert (status, out) == (1, "")
    assert f"{broken}:2:15: error[E201]: unknown layer kind 'rleu'" in err


def test_a_missing_file_is_e105_and_a_missing_argument_a_usage_error(capsys):
    status, _, err = diff(capsys, "specs/nope.cnn", "specs/lenet5.cnn")
    assert status == 1 and "error[E105]: cannot read 'specs/nope.cnn'" in err
    status, _, err = diff(capsys, "specs/lenet5.cnn")
    assert status == 2 and "the following arguments are required: B.cnn" in err
    status, _, err = diff(capsys, "specs/lenet5.cnn", "specs/lenet5.cnn", "--columns", "nonsense")
    assert status == 2 and "unknown column 'nonsense'" in err


def test_the_installed_program_runs_it():
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.run(
        [sys.executable, "-m", "cnndsl", "diff", "specs/lenet5.cnn", "specs/lenet5.cnn", "--depth", "0"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert "specs/lenet5.cnn and specs/lenet5.cnn have the same text" in child.stdout
    assert "Total params: A 61,706, B 61,706, change 0" in child.stdout


def row(name: str) -> Row:
    return Row(name, "conv", "1", 0, 0, "")


def test_match_merges_the_orders_and_keeps_a_moved_name_as_one_row():
    a = [row(n) for n in ("stem", "x", "y", "head")]
    b = [row(n) for n in ("stem", "new", "y", "x", "head", "extra")]
    merged = [(m.name, m.a is not None, m.b is not None) for m in match(a, b)]
    assert merged == [
        ("stem", True, True),
        ("new", False, True),
        ("x", True, True),  # moved in B: still matched, at A's place
        ("y", True, True),
        ("head", True, True),
        ("extra", False, True),
    ]
