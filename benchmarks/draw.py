"""`cnndsl draw` timings on ResNet-152 (docs/draw.md records them): `python -m benchmarks.draw`.

- writing the HTML report (the spec already checked), at depth 2 and with every layer;
- its layout in headless chromium (the page's own measure, data-layoutMs) as the page opens
  without --depth (at depth 2 for ResNet-152: cnndsl.draw.html.opening_depth) and after choosing
  "every layer" in its depth menu, when Playwright and chromium are installed;
- the .svg by Graphviz's dot, when installed.
Each figure is the best of a few runs.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile

from benchmarks.timing import best
from cnndsl.draw import DrawOptions, draw
from cnndsl.draw.html import opening_depth
from cnndsl.model import check_file

SPEC = pathlib.Path(__file__).resolve().parent.parent / "specs" / "resnet152.cnn"
RUNS = 3


def main() -> None:
    model = check_file(SPEC)
    out = pathlib.Path(tempfile.mkdtemp())
    for depth in (2, None):
        shown = "every layer" if depth is None else f"depth {depth}"
        html = out / f"resnet152-{depth}.html"
        seconds = best(lambda html=html, depth=depth: draw(model, str(html), options=DrawOptions(depth)), RUNS)
        print(f"html, {shown}: written in {seconds:.3f} s ({html.stat().st_size / 1e3:.0f} kB)")
        if shutil.which("dot"):
            seconds = best(lambda depth=depth: draw(model, str(out / "r.svg"), options=DrawOptions(depth)), RUNS)
            print(f"svg, {shown}: {seconds:.3f} s")
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("browser layout: skipped (no Playwright or chromium)")
        return
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        opened, expanded = [], []
        for _ in range(RUNS):
            page.goto((out / "resnet152-None.html").as_uri())
            page.wait_for_selector("body[data-ready='1']")
            opened.append(float(page.evaluate("document.body.dataset.layoutMs")) / 1e3)
            page.select_option("#depth", "")
            page.wait_for_function(f"document.body.dataset.boxes == {len(model.layers) + 1}", timeout=60_000)
            expanded.append(float(page.evaluate("document.body.dataset.layoutMs")) / 1e3)
        print(f"browser layout, as opened (depth {opening_depth(model)}): {min(opened):.3f} s")
        print(f"browser layout, every layer: {min(expanded):.3f} s")
        browser.close()


if __name__ == "__main__":
    main()
