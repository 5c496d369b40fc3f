"""Budgets: `assert QUANTITY OP LIMIT` in a spec and `--budget` on the command line (docs/analysis.md)."""

from __future__ import annotations

import pathlib
from fractions import Fraction

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.analysis.budgets import QUANTITIES, parse_budget_option
from cnndsl.cli import main

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"

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


# --- flops, memory and rf: each budget equals the analysis it names ------------------------------


def measured(text: str) -> dict[str, int]:
    """The figures of `spec()`'s network the budgets below compare with, from the Python API."""
    model = cnndsl.check_text(text)
    return {
        "flops": model.total_flops,
        "memory": model.memory(batch=32, training=True, optimizer="adam").total,
        "inference": model.memory(batch=8).total,
        "rf": min(model.receptive_field(model.last_feature_map()).size),
    }


FIGURES = measured(spec())


@pytest.mark.parametrize(
    ("quantity", "figure"),
    [
        ("flops", "flops"),
        ("memory(batch 32, train adam)", "memory"),
        ("memory(train adam, batch 32)", "memory"),
        ("memory(batch 8)", "inference"),
        ("rf", "rf"),
    ],
)
def test_each_quantity_meets_its_figure_exactly_and_fails_one_below(quantity, figure):
    value = FIGURES[figure]
    cnndsl.check_text(spec(f"assert {quantity} <= {value}", f"assert {quantity} >= {value}"))
    (over,) = failure(spec(f"assert {quantity} <= {value - 1}"))
    (under,) = failure(spec(f"assert {quantity} > {value}"))
    for diagnostic, side in ((over, "over"), (under, "under")):
        assert diagnostic.code == "E414"
        assert f"{value:,}" in diagnostic.message and f"{side} the limit" in diagnostic.message


def test_the_receptive_field_of_the_classic_stem():
    # conv 3x3, pool 2, conv 3x3, pool 2: 3 -> 4 -> 8 -> 10 input positions at the last feature map
    assert FIGURES["rf"] == 10
    (diagnostic,) = failure(spec("assert rf >= 224"))
    assert diagnostic.message.endswith("fails: the last feature map sees 10 input positions, under the limit of 224")
    # conv2 widens the field most (4 of the 9 positions the layers add); the help says how to grow it
    assert diagnostic.notes[0].startswith("largest layers: 'conv2' 4 (44.4%")
    assert diagnostic.help is not None and diagnostic.help.startswith("widen the field")


def test_memory_in_bytes_with_binary_units_and_its_contributors():
    value = FIGURES["memory"]
    cnndsl.check_text(spec(f"assert memory(batch 32, train adam) < {value / 2**20 + 1:.3f}MiB"))
    (diagnostic,) = failure(spec("assert memory(batch 32, train adam) <= 1MiB"))
    assert f"the network needs {value:,} bytes (" in diagnostic.message
    assert diagnostic.message.endswith("over the limit of 1,048,576 (1.0 MiB)")
    # training: each layer's weights, gradients, Adam's two states and what it keeps add up to the total
    model = cnndsl.check_text(spec())
    per_layer = QUANTITIES["memory"].per_layer(model, {"batch": 32, "train": "adam"})
    assert sum(per_layer.values()) == value


def test_the_optimizer_changes_training_memory_by_its_state():
    model = cnndsl.check_text(spec())
    adam, sgd = (QUANTITIES["memory"].measure(model, {"batch": 4, "train": name}) for name in ("adam", "sgd"))
    assert adam - sgd == 2 * 4 * PARAMS  # two float32 values per trainable parameter


@pytest.mark.parametrize(
    ("statement", "message", "column"),
    [
        ("assert memory(batch 0) <= 1G", "'batch' of 'memory' takes a whole number from 1 to 2,147,483,647", 15),
        ("assert memory(batch adam) <= 1G", "'batch' of 'memory' takes a whole number", 15),
        ("assert memory(train adamw) <= 1G", "'train' of 'memory' takes one of sgd, momentum, adam", 15),
        ("assert memory(train 2) <= 1G", "'train' of 'memory' takes one of sgd, momentum, adam", 15),
        ("assert memory(batch 2, batch 4) <= 1G", "'memory' is given 'batch' twice", 24),
        ("assert memory(epochs 2) <= 1G", "'memory' takes no argument 'epochs'", 15),
        ("assert rf <= 5GiB", "'GiB' is a byte unit, and 'rf' counts input positions", 15),
        ("assert flop <= 1G", "unknown budget quantity 'flop'", 8),
    ],
)
def test_bad_arguments_of_the_new_quantities(statement, message, column):
    (diagnostic,) = failure(spec(statement))
    assert diagnostic.code in ("E220", "E305")
    assert message in diagnostic.message
    assert diagnostic.location() == ("<text>", 2, column)


def test_a_misspelt_optimizer_gets_a_suggestion():
    (diagnostic,) = failure(spec("assert memory(batch 2, train adamm) <= 1G"))
    assert diagnostic.help == "did you mean 'adam'?"


def test_rf_of_a_network_without_spatial_axes_is_a_located_error():
    (diagnostic,) = failure("input 64\nassert rf >= 10\nfc 10\n")
    assert diagnostic.code == "E220" and diagnostic.location() == ("<text>", 2, 1)
    assert "has no spatial axes" in diagnostic.message


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


def test_the_new_quantities_as_options(spec_file, capsys):
    options = ["--budget", "flops<=1G", "--budget", "memory(batch 32, train sgd)<=1GiB", "--budget", "rf>=10"]
    assert main(["check", spec_file, *options]) == 0
    assert main(["check", spec_file, "--budget", "rf>=11"]) == 1
    assert "budget 'rf>=11' (--budget) fails: the last feature map sees 10" in capsys.readouterr().err
    assert main(["check", spec_file, "--budget", "memory(batch -1)<=1G"]) == 2


@pytest.mark.parametrize(("name", "field"), [("alexnet", 195), ("vgg16", 212), ("resnet50", 427)])
def test_rf_budgets_on_the_zoo_read_the_published_fields(name, field):
    # the fields docs/analysis.md measures at the last feature map
    path = str(SPECS / f"{name}.cnn")
    assert main(["check", "-q", path, "--budget", f"rf>={field}", "--budget", f"rf<={field}"]) == 0
    assert main(["check", "-q", path, "--budget", f"rf>{field}"]) == 1


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
