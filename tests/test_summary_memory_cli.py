"""`cnndsl summary --batch N --optimizer NAME` with the FLOPs and memory columns, and its usage errors."""

from __future__ import annotations

import json

import pytest

import cnndsl
from cnndsl import cli

SMALL = """input 3x8x8
conv 3x3 4 pad 1 relu -> bn -> pool 2 -> flatten -> dropout -> fc 10
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.cnn"
    path.write_text(SMALL)
    return path


def summary(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["summary", *args])
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code if isinstance(exit.code, int) else 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_batch_and_optimizer_reach_the_table_and_json(spec, capsys):
    model = cnndsl.check_file(spec)
    code, out, _ = summary(capsys, str(spec), "--columns", "name,flops,out_bytes", "--batch", "2", "--optimizer", "sgd")
    assert code == 0
    assert (
        "Training memory (batch 2, sgd): 13.6 KiB = weights 3.0 KiB + gradients 3.0 KiB + optimizer state 0 bytes"
        in out
    )
    assert f"Total FLOPs: {model.total_flops:,}" in out
    code, out, _ = summary(capsys, str(spec), "--json", "--batch", "3", "--optimizer", "momentum")
    assert code == 0
    assert json.loads(out)["memory"]["training"] == model.memory(batch=3, training=True, optimizer="momentum").to_dict()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--optimizer", "rmsprop"), "invalid choice: 'rmsprop'"),
        (("--batch", "0"), "expected a number from 1"),
        (("--columns", "out_bytes,nope"), "unknown column 'nope'"),
    ],
)
def test_usage_errors(spec, capsys, args, message):
    code, _, err = summary(capsys, str(spec), *args)
    assert code == 2 and message in err
