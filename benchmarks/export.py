"""`cnndsl export` timings (docs/export.md records them): `python -m benchmarks.export`.

The PyTorch source of ResNet-152 from its checked spec (the issue's bound: under 0.2 s), and of the
largest spec of a few other families; each figure is the best of a few runs.
"""

from __future__ import annotations

import pathlib

from benchmarks.timing import best
from cnndsl.export import export
from cnndsl.model import check_file

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"
NAMES = ("resnet152", "densenet201", "efficientnet_b7", "convnext_large", "inception_v4")
RUNS = 5


def best_seconds(name: str) -> tuple[float, int]:
    model = check_file(str(SPECS / f"{name}.cnn"))
    return best(lambda: export(model, "pytorch"), RUNS), export(model, "pytorch").count("\n")


def main() -> None:
    for name in NAMES:
        seconds, lines = best_seconds(name)
        print(f"{name:<16} {seconds * 1000:7.1f} ms  {lines:5d} lines of PyTorch")


if __name__ == "__main__":
    main()
