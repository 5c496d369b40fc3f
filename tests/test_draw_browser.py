"""The HTML report in a real browser: headless Chromium (the system's package) driven by Playwright.

One browser for the module. Each test opens a report, waits for the layout (the page sets
data-ready on <body>), and checks what is drawn; screenshots go to tmp_path. Skipped where
Playwright or chromium is missing (.ci/run installs both).
"""

from __future__ import annotations

import pathlib
import shutil

import pytest

from cnndsl.draw.html import html_report
from cnndsl.model import check_file
from cnndsl.summary import rows

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="the chromium package is not installed")
SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def open_report(browser, tmp_path):
    """open_report(spec, depth) -> (page, errors): the report laid out, and the console's errors."""
    pages = []

    def open_(name: str, depth: int | None):
        path = tmp_path / f"{name}.html"
        path.write_text(html_report(check_file(SPECS / f"{name}.cnn"), depth), encoding="utf-8")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        pages.append(page)
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        return page, errors

    yield open_
    for page in pages:
        page.close()


def boxes(page) -> list[str]:
    return page.eval_on_selector_all("#viewport g.box", "nodes => nodes.map(n => n.dataset.name)")


@pytest.mark.parametrize("name", ["googlenet", "resnet18"])
def test_boxes_at_each_depth_are_the_summary_rows(open_report, name, tmp_path):
    page, errors = open_report(name, 1)
    model = check_file(SPECS / f"{name}.cnn")
    for depth in (1, 2, 3, None):
        page.select_option("#depth", "" if depth is None else str(depth))
        page.wait_for_function(f"document.body.dataset.boxes == {len(rows(model, depth)) + 1}", timeout=10_000)
        assert sorted(boxes(page)) == sorted(["input"] + [row.name for row in rows(model, depth)])
    page.screenshot(path=tmp_path / f"{name}-all.png")
    assert errors == []


def test_a_block_expands_and_collapses(open_report, tmp_path):
    page, errors = open_report("googlenet", 1)
    assert "inception3a" in boxes(page) and "inception3a.concat1" not in boxes(page)
    page.click("#viewport g.box[data-name='inception3a']")
    page.wait_for_selector("#viewport g.box[data-name='inception3a.concat1']")
    shown = boxes(page)
    assert "inception3a" not in shown and {f"inception3a.branch{i}" for i in range(1, 5)} <= set(shown)
    page.screenshot(path=tmp_path / "googlenet-expanded.png")
    page.click("#viewport g.frame[data-scope='inception3a'] text")
    page.wait_for_selector("#viewport g.box[data-name='inception3a']")
    assert "inception3a.concat1" not in boxes(page)
    assert errors == []


def test_hover_shows_figures_and_click_shows_the_source_line(open_report, tmp_path):
    page, errors = open_report("resnet152", 2)
    page.hover("#viewport g.box[data-name='layer1.1']")
    tooltip = page.inner_text("#tooltip")
    assert "layer1.1 (unit)" in tooltip and "256x56x56" in tooltip and "params" in tooltip
    assert "MACs" in tooltip and "receptive" in tooltip
    page.screenshot(path=tmp_path / "resnet152-hover.png")
    page.click("#viewport g.box[data-name='conv1']")
    source = page.inner_text("#source")
    assert "resnet152.cnn:" in source and "conv1: conv 7x7/2 64" in source
    charts = page.inner_text("#charts")
    assert "Params per box" in charts and "MACs per box" in charts and "Activation memory" in charts
    assert errors == []
