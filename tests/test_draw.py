"""cnndsl draw: the diagram model, Graphviz, Mermaid and the command line (the browser tests of the
HTML report are in test_draw_browser.py)."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from cnndsl.cli import draw_options, main
from cnndsl.draw import FORMATS, DrawOptions, diagram, drawing
from cnndsl.draw.diagram import COLOURS
from cnndsl.draw.graphviz import RANKDIRS, dot_text
from cnndsl.draw.html import OPENING_BOXES, html_report, opening_depth, report_data
from cnndsl.draw.mermaid import mermaid_text
from cnndsl.model import CheckedModel, check_file
from cnndsl.summary import rows

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@pytest.fixture(scope="module")
def models() -> dict[str, CheckedModel]:
    return {name: check_file(SPECS / f"{name}.cnn") for name in ("resnet18", "googlenet", "resnet152")}


@pytest.mark.parametrize("name", ["resnet18", "googlenet"])
@pytest.mark.parametrize("depth", [None, 1, 2, 3])
def test_boxes_are_the_summary_rows_and_the_input(models, name, depth):
    model = models[name]
    picture = diagram(model, depth)
    assert [box.name for box in picture.boxes] == ["input"] + [row.name for row in rows(model, depth)]


def test_edges_carry_shapes_and_merges_read_every_branch(models):
    picture = diagram(models["googlenet"], 2)
    by_key = {box.key: box for box in picture.boxes}
    concat = next(box for box in picture.boxes if box.name == "inception3a.concat1")
    into = [edge for edge in picture.edges if edge.head == concat.key]
    assert concat.is_merge and len(into) == 4
    assert sorted(edge.shape for edge in into) == ["128x28x28", "32x28x28", "32x28x28", "64x28x28"]
    assert {by_key[edge.tail].name for edge in into} == {f"inception3a.branch{i}" for i in range(1, 5)}
    residual = diagram(models["resnet18"])
    add = next(box for box in residual.boxes if box.name == "layer1.0.add1")
    assert add.is_merge and len([edge for edge in residual.edges if edge.head == add.key]) == 2


def test_repeated_units_fold_into_one_box_with_a_count(models):
    model = models["resnet152"]
    picture = diagram(model, 2, fold_repeats=True)
    folded = {box.name: box.count for box in picture.boxes if box.count > 1}
    assert folded == {"layer1.1-2": 2, "layer2.1-7": 7, "layer3.1-35": 35, "layer4.1-2": 2}
    assert sum(box.params for box in picture.boxes) == model.total_params
    assert sum(box.macs for box in picture.boxes) == model.total_macs
    keys = {box.key for box in picture.boxes}
    assert all(edge.tail in keys and edge.head in keys for edge in picture.edges)
    assert len(picture.edges) == len(picture.boxes) - 1  # still one chain


def test_colours_by_family_with_a_legend(models):
    picture = diagram(models["resnet18"], 2)
    families = {box.name: box.family for box in picture.boxes}
    assert families["conv1"] == "convolution" and families["bn1"] == "normalisation"
    assert families["relu"] == "activation" and families["layer1.0"] == "block" and families["fc"] == "fully connected"
    text = dot_text(picture)
    (legend,) = [line for line in text.splitlines() if line.startswith('  "colour legend"')]
    for family in picture.families():
        assert f'<TD BGCOLOR="{COLOURS[family]}" STYLE="ROUNDED">{family}</TD>' in legend


@needs_dot
@pytest.mark.parametrize("depth", [1, 2, None])
def test_svg_parses_and_names_every_box(models, depth):
    model = models["googlenet"]
    svg = drawing(model, "svg", DrawOptions(depth=depth))
    root = ElementTree.fromstring(svg)
    titles = {element.text for element in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {box.name for box in diagram(model, depth).boxes} <= titles


@needs_dot
@pytest.mark.parametrize("rankdir", RANKDIRS)
def test_dot_accepts_the_source(models, rankdir):
    source = dot_text(diagram(models["resnet18"], 2, fold_repeats=True), rankdir)
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr


def test_mermaid_structure(models):
    picture = diagram(models["googlenet"], 2)
    text = mermaid_text(picture, "LR")
    lines = text.splitlines()
    assert lines[1] == "flowchart LR"
    assert sum(line.strip().startswith("subgraph") for line in lines) == sum(line.strip() == "end" for line in lines)
    declared = set(re.findall(r"^\s+(b\d+)[\[(]", text, re.MULTILINE))
    assert declared == {box.key for box in picture.boxes}
    links = re.findall(r"^\s+(b\d+) -->\|\"([0-9x]+)\"\| (b\d+)$", text, re.MULTILINE)
    assert len(links) == len(picture.edges)


def test_the_command_line_lists_the_package_formats():
    assert set(draw_options.FORMAT_NAMES) == set(FORMATS) and draw_options.RANKDIRS == RANKDIRS


def test_html_report_is_self_contained(models):
    page = html_report(models["resnet18"], 2)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert len(data["layers"]) == len(models["resnet18"].graph.nodes) and data["depth"] == 2


def test_a_block_instance_shows_the_line_that_calls_it(models):
    data = report_data(models["resnet18"])
    layer1 = next(scope for scope in data["scopes"] if scope["path"] == "layer1")
    file, line = layer1["source"]
    assert data["files"][file].endswith("resnet18.cnn") and data["lines"][f"{file}:{line}"].startswith("-> layer1:")
    unit = next(scope for scope in data["scopes"] if scope["path"] == "layer1.0")
    file, line = unit["source"]  # a unit of the stage: called inside the library's `stage` block
    assert data["files"][file].endswith("resnet.cnn") and "unit" in data["lines"][f"{file}:{line}"]


@pytest.mark.parametrize(("name", "opened"), [("resnet18", None), ("googlenet", 3), ("resnet152", 2)])
def test_without_a_depth_the_report_opens_at_most_150_boxes_deep(models, name, opened):
    # every layer where that is few enough to lay out at once and read; else the deepest such level
    model = models[name]
    assert report_data(model)["depth"] == opened == opening_depth(model)
    assert len(rows(model, opened)) <= OPENING_BOXES
    if opened is not None:
        assert len(rows(model, opened + 1)) > OPENING_BOXES
    assert report_data(model, 1)["depth"] == 1  # a depth asked for is kept


@pytest.mark.parametrize("extension", [".dot", ".mmd", ".html", pytest.param(".svg", marks=needs_dot)])
def test_command_writes_each_format(tmp_path, capsys, extension):
    out = tmp_path / f"resnet18{extension}"
    assert main(["draw", str(SPECS / "resnet18.cnn"), "-o", str(out), "--depth", "2", "--fold-repeats"]) == 0
    assert out.stat().st_size > 0 and f"wrote {out}" in capsys.readouterr().out


def test_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.cnn"
    bad.write_text("input 3x8x8\nconv 3x3 4 -> nosuchlayer\n")
    assert main(["draw", str(bad), "-o", str(tmp_path / "bad.dot")]) == 1
    assert "E201" in capsys.readouterr().err and not (tmp_path / "bad.dot").exists()
    spec = str(SPECS / "resnet18.cnn")
    assert main(["draw", spec, "-o", str(tmp_path / "missing" / "r.dot")]) == 1
    assert "E503" in capsys.readouterr().err
    (tmp_path / "directory.dot").mkdir()
    assert main(["draw", spec, "-o", str(tmp_path / "directory.dot")]) == 1
    assert "E503" in capsys.readouterr().err
    assert main(["draw", spec, "-o", str(tmp_path / "r.txt")]) == 2
    assert ".svg, .png, .dot, .mmd, .html" in capsys.readouterr().err
    assert main(["draw", spec, "-o", str(tmp_path / "r.dot"), "--format", "gif"]) == 2


def test_missing_dot_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["draw", str(SPECS / "resnet18.cnn"), "-o", str(tmp_path / "r.svg")]) == 2
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and "brew install graphviz" in err and "Traceback" not in err


def test_python_api(models, tmp_path, monkeypatch):
    model = models["resnet18"]
    assert model.draw(tmp_path / "r.mmd", depth=1) == "mmd"
    assert (tmp_path / "r.mmd").read_text().splitlines()[1] == "flowchart TB"
    if shutil.which("dot") is not None:
        assert "layer1" in model._repr_svg_()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert model._repr_svg_() is None


@needs_dot
def test_the_gallery_is_generated_and_current(tmp_path):
    import runpy

    generate = runpy.run_path(str(SPECS.parent / "docs" / "gallery" / "generate.py"))
    generate["generate"](tmp_path / "gallery")
    assert (tmp_path / "gallery.md").read_text() == (SPECS.parent / "docs" / "gallery.md").read_text()
    for name, *_ in generate["GALLERY"]:
        assert (SPECS.parent / "docs" / "gallery" / f"{name}.svg").exists()
        ElementTree.parse(tmp_path / "gallery" / f"{name}.svg")
