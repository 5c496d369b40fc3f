"""What PyTorch's autograd keeps for the backward pass, against cnndsl's training-memory analysis.

For each spec with a torchvision reference (benchmarks/torchvision_models.py), the reference runs
forward in train mode at batch 2 under `torch.autograd.graph.saved_tensors_hooks`; every tensor
saved for backward is counted once per storage (its data pointer), at the storage's size, and the
model's parameters and buffers (which training memory counts as weights) are left out. cnndsl's
figure is `CheckedModel.memory(batch=2, training=True).activations`.

    python -m benchmarks.saved_tensors [SPEC ...]   # prints the table docs/analysis.md shows
"""

from __future__ import annotations

import itertools
import pathlib
import sys
from typing import NamedTuple

import torch
from torch import nn

import cnndsl

from . import torchvision_models

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"
BATCH = 2


class Comparison(NamedTuple):
    spec: str
    ours: int  # bytes
    pytorch: int  # bytes

    @property
    def ratio(self) -> float:
        return self.ours / self.pytorch


def saved_bytes(model: nn.Module, input_shape: tuple[int, ...], batch: int = BATCH) -> int:
    """Bytes of the tensors autograd saves in one forward pass in train mode, once per storage,
    the model's own parameters and buffers excepted."""
    weights = {tensor.untyped_storage().data_ptr() for tensor in itertools.chain(model.parameters(), model.buffers())}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    torch.manual_seed(0)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model(torch.randn(batch, *input_shape))
    # The saved tensors live as long as the graph that `output` holds: no storage was freed and
    # its address reused while counting.
    del output
    return sum(storages.values())


def compare(spec: str) -> Comparison:
    model = cnndsl.check_file(SPECS / f"{spec}.cnn")
    ours = model.memory(batch=BATCH, training=True).activations
    return Comparison(spec, ours, saved_bytes(torchvision_models.build(spec), model.input_shape))


def table(comparisons: list[Comparison]) -> str:
    lines = [
        f"| Spec | cnndsl (bytes, batch {BATCH}) | PyTorch autograd (bytes) | Ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {c.spec} | {c.ours:,} | {c.pytorch:,} | {c.ratio:.6f} |" for c in comparisons]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    specs = argv or list(torchvision_models.REFERENCES)
    comparisons = []
    for spec in specs:
        comparisons.append(compare(spec))
        print(f"{spec}: {comparisons[-1].ratio:.4f}", file=sys.stderr, flush=True)
    print(table(comparisons))


if __name__ == "__main__":
    main(sys.argv[1:])
