"""Same weights, same outputs: our specs against PyTorch models written to torchvision's definitions.

torchvision's weights are keyed by module paths (`layer1.0.downsample.0.weight`); cnndsl's by layer
names (`layer1.0.shortcut.conv1.weight`). A name map turns one into the other, the weights go in
through `--weights` (an .npz), and ONNX Runtime's output must match PyTorch's in eval mode.
Skipped where torch is not installed (it is the optional `bench` extra).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import cnndsl

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
from benchmarks.torch_models import build  # noqa: E402  (needs torch)

ALEXNET_LAYERS = {"features.0": "conv1", "features.3": "conv2", "features.6": "conv3", "features.8": "conv4",
                  "features.10": "conv5", "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8"}


def alexnet_name(key: str) -> str:
    module, parameter = key.rsplit(".", 1)
    return f"{ALEXNET_LAYERS[module]}.{parameter}"


def resnet_name(key: str) -> str:
    return re.sub(r"downsample\.0", "shortcut.conv1", re.sub(r"downsample\.1", "shortcut.bn1", key))


def googlenet_name(key: str) -> str:
    """torchvision: inception3a.branch2.1.conv.weight; cnndsl: inception3a.branch2.basic2.conv.weight."""
    key = re.sub(r"branch1\.", "branch1.basic1.", key)
    key = re.sub(r"branch4\.1\.", "branch4.basic1.", key)
    return re.sub(r"branch([23])\.(\d)\.", lambda m: f"branch{m[1]}.basic{int(m[2]) + 1}.", key)


def randomise_batch_norm(model) -> None:
    """Non-trivial running statistics, so that inference-mode batch norm is really exercised."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


@pytest.mark.parametrize("name, rename", [("alexnet", alexnet_name), ("resnet50", resnet_name),
                                          ("googlenet", googlenet_name)])
def test_same_weights_same_outputs(name, rename, spec_dir, tmp_path):
    torch.manual_seed(0)
    reference = build(name).eval()
    randomise_batch_norm(reference)
    arrays = {rename(key): value.detach().numpy() for key, value in reference.state_dict().items()
              if not key.endswith("num_batches_tracked")}
    weights = tmp_path / f"{name}.npz"
    np.savez(weights, **arrays)

    model = cnndsl.check_file(spec_dir / f"{name}.cnn")
    proto = cnndsl.compile_model(model, weights=str(weights))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape), dtype=np.float32)
    (ours,) = session.run(None, {"input": x})
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x)).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
