"""Benchmarks of cnndsl against torchinfo and torch.onnx.export: see benchmarks/run.py and docs/performance.md.

Only benchmarks.torch_models and benchmarks.torch_worker import torch (the optional `bench` extra).
"""

# torchvision's trainable parameter counts (models/alexnet.py, vgg.py, resnet.py); "tiny" is the
# benchmark's own small network (benchmarks/specs/tiny.cnn), used by the smoke test.
PARAMS = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
    "googlenet": 6_624_904,
    "tiny": 1_506,
}
