"""How initial weights are drawn: PyTorch's default initialisers, from one seeded generator.

conv and fc: kaiming_uniform(a=sqrt(5)) for weights and uniform(+-1/sqrt(fan_in)) for biases;
both reduce to uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)). Batch norm: scale 1, shift 0, running
mean 0, running variance 1. numpy is imported only when weights are drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Uniform:
    """uniform(-bound, bound); `fan_in` gives PyTorch's bound 1/sqrt(fan_in)."""

    fan_in: int
    trainable: bool = True

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        bound = 1.0 / math.sqrt(self.fan_in)
        # Generator.random(float32) is the fastest uniform source; scale in place.
        values = rng.random(shape, dtype=np.float32)
        values *= np.float32(2 * bound)
        values -= np.float32(bound)
        return values


@dataclass(frozen=True)
class Constant:
    value: float
    trainable: bool = True

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        return np.full(shape, self.value, dtype=np.float32)


@dataclass(frozen=True)
class Literal:
    """Weights written in the spec (hand-crafted filters); fixed, so not trainable."""

    values: tuple[float, ...]
    trainable: bool = False

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        return np.asarray(self.values, dtype=np.float32).reshape(shape)


Init = Uniform | Constant | Literal
