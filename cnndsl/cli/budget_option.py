"""`--budget BUDGET` (check, summary, compile): a budget written as a spec's assert, for CI."""

from __future__ import annotations

import argparse

from ..analysis.budgets import Budget, parse_budget_option


def budget(text: str) -> Budget:
    """An argparse type: a budget as an assert states it, `params<=5M`, read by the spec's rules."""
    try:
        return parse_budget_option(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def add_budget_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--budget",
        type=budget,
        action="append",
        default=[],
        metavar="BUDGET",
        help="fail (E414, exit 1) unless the network meets BUDGET, written as a spec's assert: "
        "'params<=5M', 'macs<600M'; repeat for several. Quote it for the shell",
    )
