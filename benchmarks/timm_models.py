"""timm's models (PyTorch Image Models), with trained-like weights, as references for the specs that
reproduce them, as benchmarks/torchvision_models.py does for torchvision's.

`REFERENCES` maps each spec in specs/ to the timm model name it reproduces and the input size timm
gives it. A reference is built with `pretrained=False` (nothing is downloaded), then its batch-norm
statistics and affine terms are randomised with `torchvision_models.randomise_identity_terms`;
`torchvision_models.state_dict_arrays`, `trainable_params` and `macs` apply unchanged, since timm's
`state_dict()` is what a user saves for `cnndsl compile --weights`.

timm imports torchvision, which needs the CPU-build workaround (`torchvision_models.torchvision()`):
`timm()` imports torchvision that way first. Importing this module imports torch only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import ModuleType

from torch import nn

from . import torchvision_models as tv


@dataclass(frozen=True)
class Reference:
    """A timm model, by its name in `timm.create_model`, and its input shape (channels first)."""

    name: str
    input_shape: tuple[int, int, int]


REFERENCES: dict[str, Reference] = {
    "inception_v4": Reference("inception_v4", (3, 299, 299)),
    "inception_resnet_v2": Reference("inception_resnet_v2", (3, 299, 299)),
    "darknet53": Reference("darknet53", (3, 256, 256)),
}


@cache
def timm() -> ModuleType:
    """timm, imported after torchvision (imported beside torch's CPU build)."""
    tv.torchvision()
    import timm as module

    return module


def build(name: str, seed: int = 0) -> nn.Module:
    """timm's model for spec `name`, in eval mode, with trained-like weights (seeded)."""
    import torch

    torch.manual_seed(seed)
    model: nn.Module = timm().create_model(REFERENCES[name].name, pretrained=False)
    tv.randomise_identity_terms(model, seed)
    return model.eval()
