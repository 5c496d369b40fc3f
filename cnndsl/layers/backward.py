"""What a layer keeps for the backward pass while training: `Kept`, the value a kind's
`kept_for_backward` declares (cnndsl/layers/base.py) and the training-memory analysis sums."""

from __future__ import annotations

from typing import NamedTuple


class Kept(NamedTuple):
    """The tensors a layer keeps for the backward pass while training, as PyTorch's autograd keeps
    them (`torch.autograd.graph.saved_tensors_hooks` sees them). Tensors another layer makes are
    named, not sized (`inputs`, `output`): one kept by several layers is one tensor. `values`,
    `index_values` and `fixed_values` are tensors only this layer makes and keeps."""

    inputs: tuple[int, ...] = ()  # the positions of the inputs it keeps
    output: bool = False  # it keeps its own output
    values: int = 0  # per sample, in the model's element type (a mask, a pre-activation, per-row statistics)
    index_values: int = 0  # per sample, 64-bit integers (max pooling's argmax)
    fixed_values: int = 0  # whatever the batch, in the model's element type (batch norm's per-channel statistics)
