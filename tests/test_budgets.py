"""Budgets: `assert QUANTITY OP LIMIT` in a spec and `--budget` on the command line (docs/analysis.md)."""

from __future__ import annotations

from fractions import Fraction

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.analysis.budgets import QUANTITIES, parse_budget_option
from cnndsl.cli import main

NETWORK = "conv 3x3 32 pad 1 -> relu -> pool 2\nconv 3x3 64 pad 1 -> relu -> pool 2\nflatten -> fc 10\n"
PARAMS, MACS = 60_362, 5_644_288  # of NETWORK on a 3x32x32 input


def spec(*asserts: str) -> str:
    return "input 3x32x32\n" + "".join(f"{a}\n" for a in asserts) + NETWORK


def failure(text: str) -> list[cnndsl.Diagnostic]:
    with pytest.raises(CnnError) as raised:
        cnndsl.check_text(text)
    return raised.value.diagnostics


def test_the_network_measured_here():
    model = cnndsl.check_text(spec())
    assert (model.trainable_params, model.total_macs) == (PARAMS, MACS)


@pytest.mark.parametrize(
    "statement",
    [
        f"assert params <= {PARAMS}",
        f"assert params < {PARAMS + 1}",
        f"assert params >= {PARAMS}",
        f"assert params > {PARAMS - 1}",
        "assert params <= 60.362k",
        "assert macs <= 5.644288M",
        "assert macs < 0.01G",
        "assert macs<=6e6",
    ],
)
def test_budgets_the_network_meets_pass(statement):
    cnndsl.check_text(spec(statement))


@pytest.mark.parametrize(
    ("statement", "side", "limit"),
    [
        (f"assert params < {PARAMS}", "over", f"{PARAMS:,}"),
        ("assert params <= 60.361k", "over", "60,361"),
        ("assert macs <= 5M", "over", "5,000,000"),
        ("assert macs > 1T", "under", "1,000,000,000,000"),
    ],
)
def test_a_failed_budget_shows_both_numbers_and_the_largest_layers(statement, side, limit):
    (diagnostic,) = failure(spec(statement))
    assert diagnostic.code == "E414"
    assert diagnostic.location() == ("<text>", 2, 1)
    assert f"{side} the limit of {limit}" in diagnostic.message
    value = PARAMS if "params" in statement else MACS
    assert f"the network has {value:,}" in diagnostic.message
    # fc1 holds most parameters, conv2 most MACs: each list starts with its quantity's largest layer
    largest = "fc1" if "params" in statement else "conv2"
    assert diagnostic.notes[0].startswith(f"largest layers: '{largest}' ")


def test_every_failed_assert_is_reported():
    codes = [d.code for d in failure(spec("assert params <= 1k", "assert macs <= 1k"))]
    assert codes == ["E414", "E414"]


def test_a_fractional_limit_is_read_exactly():
    budget = parse_budget_option("macs<=1.1G")
    assert budget.limit == Fraction(1_100_000_000)  # as a float, 1.1 * 10**9 is 1100000000.0000002


def test_blocks_contributing_most_are_named():
    text = (
        "input 3x32x32\nassert params <= 1k\n"
        "block unit(c) { conv 3x3 c pad 1 -> relu }\n"
        "stem: unit 8\nbody: unit 64\npool avg global -> flatten -> fc 10\n"
    )
    (diagnostic,) = failure(text)
    assert diagnostic.notes[-1].startswith("largest blocks: 'body' 4,672 (")


@pytest.mark.parametrize(
    ("statement", "code", "column"),
    [
        ("assert parms <= 5M", "E220", 8),
        ("assert params(batch 32) <= 5M", "E220", 15),
        ("assert params <= 5MiB", "E305", 19),
        ("assert params <= 5X", "E305", 19),
        ("assert params == 5M", "E305", 15),
        ("assert macs <= 9000000000T", "E303", 16),
        ("assert macs <= 1e400", "E303", 16),
    ],
)
def test_bad_budgets_are_located_errors(statement, code, column):
    (diagnostic,) = failure(spec(statement))
    assert (diagnostic.code, diagnostic.location()) == (code, ("<text>", 2, column))


def test_assert_is_top_level_only():
    with pytest.raises(CnnError) as raised:
        cnndsl.check_text("input 3x8x8\nblock b { assert params <= 5M }\nb\n")
    assert raised.value.diagnostics[0].code == "E101"


def test_the_quantity_table_lists_params_and_macs_first():
    assert list(QUANTITIES)[:2] == ["params", "macs"]


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "net.cnn"
    path.write_text(spec())
    return str(path)


def test_budget_option_passes_and_fails_like_an_assert(spec_file, capsys):
    assert main(["check", spec_file, "--budget", "params<=61k", "--budget", "macs <= 6M"]) == 0
    assert main(["check", spec_file, "--budget", "params<=61k", "--budget", "macs<=5M"]) == 1
    shown = capsys.readouterr().err
    assert "error[E414]: budget 'macs<=5M' (--budget) fails: the network has 5,644,288 MACs" in shown
    assert "net.cnn:3:1: error[E414]" in shown  # at the largest contributor, conv2: the option has no line


def test_budget_option_in_json_output(spec_file, capsys):
    assert main(["check", spec_file, "--format", "json", "--budget", "params<=1k"]) == 1
    assert '"code": "E414"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("parms<=5M", "unknown budget quantity 'parms'; did you mean 'params'?"),
        ("params<=5MiB", "'MiB' is a byte unit"),
        ("params<=", "expected the limit after the comparison"),
        ("params<=5M; macs<=1G", "one budget per option: unexpected"),
    ],
)
def test_a_bad_budget_option_is_a_usage_error(spec_file, capsys, option, message):
    assert main(["check", spec_file, "--budget", option]) == 2
    assert message in capsys.readouterr().err
