"""torchvision's own models, with trained-like weights, as references for the specs (tests and benchmarks).

`REFERENCES` maps each spec in specs/ to the torchvision constructor (and keyword arguments) that it
reproduces. A reference is built with `weights=None`, then every statistic and affine term that a
freshly built model holds at the identity is randomised (`randomise_identity_terms`): with batch
norm's defaults (mean 0, variance 1, scale 1, shift 0) or ConvNeXt's layer scale of 1e-6, a
misplaced or missing layer would be invisible. `state_dict_arrays` is what a user saves for
`cnndsl compile --weights`: `{k: v.numpy() for k, v in model.state_dict().items()}`, unchanged.

Importing this module imports torch; torchvision is imported on first use (`torchvision()`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Reference:
    """A torchvision constructor, by its name in `torchvision.models` (or `.segmentation`)."""

    constructor: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    segmentation: bool = False  # returns a dict; its 'out' is the model's output


# Inception-style models: torchvision's pretrained GoogLeNet and Inception-v3 weights set
# transform_input=True, which re-normalises ImageNet-normalised input to the [-1, 1] scaling the
# original (TensorFlow) weights were trained with. The specs do not: a user of those weights applies
# that transform to the input (see docs/onnx.md "Weights"), and the reference is built without it.
_NO_AUX = {"aux_logits": False, "transform_input": False}
# Segmentation models: PASCAL VOC's 21 classes, without the auxiliary head (its weights are not the
# network's: a user of the pretrained weights leaves the 'aux_classifier.*' arrays out).
_SEGMENTATION = {"aux_loss": False, "num_classes": 21, "weights_backbone": None}

REFERENCES: dict[str, Reference] = {
    "alexnet": Reference("alexnet"),
    "vgg11": Reference("vgg11"),
    "vgg13": Reference("vgg13"),
    "vgg16": Reference("vgg16"),
    "vgg16_bn": Reference("vgg16_bn"),
    "vgg19": Reference("vgg19"),
    "resnet18": Reference("resnet18"),
    "resnet34": Reference("resnet34"),
    "resnet50": Reference("resnet50"),
    "resnet101": Reference("resnet101"),
    "resnet152": Reference("resnet152"),
    "resnext50_32x4d": Reference("resnext50_32x4d"),
    "wide_resnet50_2": Reference("wide_resnet50_2"),
    "googlenet": Reference("googlenet", _NO_AUX),
    "inception_v3": Reference("inception_v3", _NO_AUX),
    "squeezenet1_0": Reference("squeezenet1_0"),
    "squeezenet1_1": Reference("squeezenet1_1"),
    "mobilenet_v2": Reference("mobilenet_v2"),
    "mobilenet_v3_large": Reference("mobilenet_v3_large"),
    "mobilenet_v3_small": Reference("mobilenet_v3_small"),
    "efficientnet_b0": Reference("efficientnet_b0"),
    "convnext_tiny": Reference("convnext_tiny"),
    "shufflenet_v2_x1_0": Reference("shufflenet_v2_x1_0"),
    "densenet121": Reference("densenet121"),
    "deeplabv3_resnet50": Reference("deeplabv3_resnet50", _SEGMENTATION, segmentation=True),
    "deeplabv3_resnet101": Reference("deeplabv3_resnet101", _SEGMENTATION, segmentation=True),
    "fcn_resnet50": Reference("fcn_resnet50", _SEGMENTATION, segmentation=True),
    "fcn_resnet101": Reference("fcn_resnet101", _SEGMENTATION, segmentation=True),
    **{
        name: Reference(name)
        for name in (
            "vgg11_bn",
            "vgg13_bn",
            "vgg19_bn",
            "resnext101_32x8d",
            "resnext101_64x4d",
            "wide_resnet101_2",
            "densenet161",
            "densenet169",
            "densenet201",
            "shufflenet_v2_x0_5",
            "shufflenet_v2_x1_5",
            "shufflenet_v2_x2_0",
            "mnasnet0_5",
            "mnasnet0_75",
            "mnasnet1_0",
            "mnasnet1_3",
            *(f"efficientnet_b{index}" for index in range(1, 8)),
            "convnext_small",
            "convnext_base",
            "convnext_large",
        )
    },
}


@cache
def torchvision() -> ModuleType:
    """torchvision, imported beside torch's CPU build.

    The torchvision 0.28 wheel's compiled operators were built against torch's CUDA build, so
    registering their fake (meta) kernels fails on the CPU build ("operator torchvision::nms does
    not exist"). The model definitions never use those operators: registration is skipped while
    torchvision is imported, and restored after."""
    register_fake = torch.library.register_fake

    def skip_registration(op: Any, func: Callable[..., Any] | None = None, /, **_: Any) -> Any:
        return func if func is not None else (lambda kernel: kernel)

    torch.library.register_fake = skip_registration
    try:
        import torchvision as module
        import torchvision.models.segmentation  # registers the segmentation constructors
    finally:
        torch.library.register_fake = register_fake
    return module


class _Segmentation(nn.Module):
    """A segmentation model's 'out' alone (torchvision returns a dict)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)["out"]
        return out


def build(name: str, seed: int = 0) -> nn.Module:
    """torchvision's model for spec `name`, in eval mode, with trained-like weights (seeded).
    A segmentation model is wrapped to return its 'out'; its state_dict keeps torchvision's keys
    behind a 'model.' prefix, which `state_dict_arrays` removes."""
    reference = REFERENCES[name]
    vision = torchvision()
    models = vision.models.segmentation if reference.segmentation else vision.models
    torch.manual_seed(seed)
    model: nn.Module = getattr(models, reference.constructor)(weights=None, **reference.kwargs)
    randomise_identity_terms(model, seed)
    if reference.segmentation:
        model = _Segmentation(model)
    return model.eval()


_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def randomise_identity_terms(model: nn.Module, seed: int = 0) -> None:
    """Running statistics, normalisation scales and shifts, and layer scales drawn like a trained
    network's, instead of the values that make them (nearly) the identity."""
    generator = torch.Generator().manual_seed(seed)

    def draw_like(tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return torch.rand(tensor.shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _NORMS):
                if getattr(module, "running_mean", None) is not None:
                    module.running_mean.copy_(draw_like(module.running_mean, -0.2, 0.2))
                    module.running_var.copy_(draw_like(module.running_var, 0.5, 1.5))
                if getattr(module, "weight", None) is not None:
                    module.weight.copy_(draw_like(module.weight, 0.5, 1.5))
                    module.bias.copy_(draw_like(module.bias, -0.2, 0.2))
            layer_scale = getattr(module, "layer_scale", None)
            if isinstance(layer_scale, nn.Parameter):
                layer_scale.copy_(draw_like(layer_scale, 0.5, 1.5))


def state_dict_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """What a user saves for `--weights`: torchvision's state_dict under torchvision's keys, unchanged."""
    inner = model.model if isinstance(model, _Segmentation) else model
    return {key: value.numpy() for key, value in inner.state_dict().items()}


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of the convolutions and linear layers for one input (biases excluded),
    counted from the shapes a forward pass produces."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.in_features if isinstance(module, nn.Linear) else 1
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        total += output.numel() * per_output

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total
