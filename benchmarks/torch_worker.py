"""The PyTorch side of the benchmark, one task per process, as a user would run it.

    python -m benchmarks.torch_worker summary NAME              torchinfo.summary() at 1x3x224x224
    python -m benchmarks.torch_worker export NAME dynamo OUT    torch.onnx.export(..., dynamo=True)
    python -m benchmarks.torch_worker export NAME legacy OUT    torch.onnx.export(..., dynamo=False)
    ... export NAME MODE OUT --dynamic-batch                    with a symbolic batch axis (inference)
    ... export NAME MODE OUT --trained-like WEIGHTS.npz         batch norm statistics like a trained
                                                                network's, the weights also saved
                                                                under cnndsl's names (for --weights)
    ... export NAME MODE OUT --torchvision                      torchvision's own model for spec NAME
                                                                (benchmarks/torchvision_models.py), its
                                                                statistics and layer scales drawn like
                                                                a trained network's; --trained-like
                                                                saves its state_dict unchanged

Each process pays what a user pays: interpreter start, `import torch`, building the model, the work.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any


def summary(name: str) -> None:
    import torchinfo

    from .torch_models import build

    # torchinfo's defaults (verbose=1 prints the table, depth=3), as a user calls it.
    torchinfo.summary(build(name), input_size=(1, 3, 224, 224))


def export(
    name: str,
    mode: str,
    out: str,
    dynamic_batch: bool = False,
    weights_out: str | None = None,
    torchvision: bool = False,
) -> None:
    import numpy as np
    import torch

    if torchvision:
        from . import torchvision_models

        # Built with trained-like statistics and layer scales whether or not they are saved.
        model = torchvision_models.build(name)
        arrays = torchvision_models.state_dict_arrays(model)
    else:
        from .torch_models import build, cnndsl_weights, randomise_batch_norm

        torch.manual_seed(0)
        model = build(name)
        if weights_out is not None:
            randomise_batch_norm(model)
        arrays = cnndsl_weights(model, name)
    if weights_out is not None:
        saved: dict[str, Any] = arrays  # (Any: savez's stubs read a ** argument as its allow_pickle flag)
        np.savez(weights_out, **saved)
    # A symbolic batch is traced from a batch of 2: torch.export specialises a size of 1 (ConvNeXt
    # then fails with "Invalid ranges [2:1]"); the graph is the same for every batch.
    x = torch.randn(2 if dynamic_batch else 1, 3, 224, 224)
    kwargs: dict[str, Any] = {"input_names": ["x"], "output_names": ["y"]}
    if mode == "dynamo":
        if dynamic_batch:
            kwargs["dynamic_shapes"] = {"x": {0: torch.export.Dim("N", min=1, max=1024)}}
        # The default exporter (dynamo=True since torch 2.9) prints a progress report; keep it quiet.
        torch.onnx.export(model, (x,), out, dynamo=True, verbose=False, **kwargs)
    elif mode == "legacy":
        if dynamic_batch:
            kwargs["dynamic_axes"] = {"x": {0: "N"}, "y": {0: "N"}}
        torch.onnx.export(model, (x,), out, dynamo=False, **kwargs)
    else:
        raise SystemExit(f"unknown export mode {mode!r}")


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    if argv[:1] == ["summary"] and len(argv) == 2:
        summary(argv[1])
    elif argv[:1] == ["export"] and len(argv) >= 4:
        options = argv[4:]
        weights_out = options[options.index("--trained-like") + 1] if "--trained-like" in options[:-1] else None
        export(
            argv[1],
            argv[2],
            argv[3],
            dynamic_batch="--dynamic-batch" in options,
            weights_out=weights_out,
            torchvision="--torchvision" in options,
        )
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
