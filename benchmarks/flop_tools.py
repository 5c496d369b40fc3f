"""FLOPs and MACs as fvcore, ptflops, thop and torchinfo count them, beside cnndsl's `macs` and
`flops`, on torchvision's references of a few zoo specs (eval mode, batch 1).

    python -m benchmarks.flop_tools [SPEC ...]   # prints the table in docs/analysis.md, "FLOPs"

Each tool's figure is what it reports as its total: fvcore's `FlopCountAnalysis.total()`,
ptflops' first result of `get_model_complexity_info` (its default backend), thop's first result of
`profile`, torchinfo's `total_mult_adds`. The tools are not dependencies of cnndsl: install them
to run this (`pip install fvcore ptflops thop torchinfo`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import cnndsl

from . import torchvision_models

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"
DEFAULT_SPECS = ["resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "densenet121"]


def _fvcore(model: nn.Module, x: torch.Tensor) -> int:
    from fvcore.nn import FlopCountAnalysis  # type: ignore[import-untyped]

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def _ptflops(model: nn.Module, x: torch.Tensor) -> int:
    torchvision_models.torchvision()  # ptflops imports torchvision: with the CPU build's workaround
    from ptflops import get_model_complexity_info  # type: ignore[import-untyped]

    macs, _ = get_model_complexity_info(
        model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False
    )
    return int(macs)


def _thop(model: nn.Module, x: torch.Tensor) -> int:
    from thop import profile  # type: ignore[import-untyped]

    macs, _ = profile(model, inputs=(x,), verbose=False)
    return int(macs)


def _torchinfo(model: nn.Module, x: torch.Tensor) -> int:
    from torchinfo import summary

    return int(summary(model, input_data=x, verbose=0).total_mult_adds)


TOOLS: dict[str, Callable[[nn.Module, torch.Tensor], int]] = {
    "fvcore": _fvcore,
    "ptflops": _ptflops,
    "thop": _thop,
    "torchinfo": _torchinfo,
}


def measure(spec: str) -> dict[str, Any]:
    model = cnndsl.check_file(SPECS / f"{spec}.cnn")
    row: dict[str, Any] = {"spec": spec, "cnndsl macs": model.total_macs, "cnndsl flops": model.total_flops}
    x = torch.zeros(1, *model.input_shape)
    for name, tool in TOOLS.items():
        reference = torchvision_models.build(spec)  # fresh: thop and ptflops leave hooks and counters
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            row[name] = tool(reference, x)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    keys = ["cnndsl macs", "cnndsl flops", *TOOLS]
    lines = ["| Spec | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for row in rows:
        cells = [f"{row[key] / 1e6:,.2f}M ({row[key] / row['cnndsl macs']:.3f})" for key in keys]
        lines.append(f"| {row['spec']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    logging.disable(logging.WARNING)  # fvcore's and ptflops' notes on operators they skip
    rows = []
    for spec in argv or DEFAULT_SPECS:
        rows.append(measure(spec))
        print(rows[-1], file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
