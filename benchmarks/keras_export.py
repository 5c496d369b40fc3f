"""`cnndsl export --to keras` and `cnndsl weights --layout keras` timings (docs/keras.md records
them): `python -m benchmarks.keras_export`.

The Keras source of the largest spec of a few families from its checked spec, and the conversion
of ResNet-152's weights (60 million parameters, drawn at random) to Keras's layout and back; each
figure is the best of a few runs. Neither imports keras.
"""

from __future__ import annotations

import pathlib

import numpy as np

from benchmarks.timing import best
from cnndsl.export import export
from cnndsl.export.keras_weights import from_keras, spec_weights, to_keras
from cnndsl.model import check_file

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"
NAMES = ("resnet152", "densenet201", "efficientnet_b7", "convnext_large", "inception_v4")
RUNS = 5


def main() -> None:
    for name in NAMES:
        model = check_file(str(SPECS / f"{name}.cnn"))
        seconds = best(lambda: export(model, "keras"), RUNS)  # noqa: B023 - called before the next model
        print(f"{name:<16} {seconds * 1000:7.1f} ms  {export(model, 'keras').count(chr(10)):5d} lines of Keras")
    model = check_file(str(SPECS / "resnet152.cnn"))
    rng = np.random.default_rng(0)
    arrays = {name: rng.standard_normal(shape, dtype=np.float32) for name, (shape, _) in spec_weights(model).items()}
    keras_arrays = {path: np.ascontiguousarray(array) for path, array in to_keras(model, arrays, "drawn").items()}
    print(f"resnet152 weights to Keras's layout {best(lambda: to_keras(model, arrays, 'drawn'), RUNS):7.3f} s")
    print(f"resnet152 weights back              {best(lambda: from_keras(model, keras_arrays, 'drawn'), RUNS):7.3f} s")


if __name__ == "__main__":
    main()
