"""docs/zoo.md lists every spec with the figures the checker gives: parameters, MACs, input and the
oldest opset it compiles at."""

from __future__ import annotations

import pathlib
import re

import pytest

import cnndsl

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROW = re.compile(
    r"^\| `(?P<spec>[\w.]+\.cnn)` \| [^|]+ \| (?P<params>[\d,]+) \| (?P<macs>[\d,]+) \| (?P<input>[\dx]+) "
    r"\| (?P<opset>\d+) \| [^|]+ \|$",
    re.MULTILINE,
)
ROWS = {found["spec"]: found for found in ROW.finditer((ROOT / "docs" / "zoo.md").read_text(encoding="utf-8"))}
SPECS = sorted((ROOT / "specs").glob("*.cnn"))


def test_every_spec_has_a_row():
    assert sorted(ROWS) == [spec.name for spec in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.stem)
def test_the_row_gives_the_checkers_figures(spec):
    model = cnndsl.check_file(spec)
    row = ROWS[spec.name]
    assert (row["params"], row["macs"], row["input"], int(row["opset"])) == (
        f"{model.trainable_params:,}",
        f"{model.total_macs:,}",
        "x".join(map(str, model.input_shape)),
        model.lowest_opset,
    )
