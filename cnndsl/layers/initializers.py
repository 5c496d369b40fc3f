"""How initial weights are drawn: PyTorch's default initialisers, from one seeded generator.

conv and fc: kaiming_uniform(a=sqrt(5)) for weights and uniform(+-1/sqrt(fan_in)) for biases;
both reduce to uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)). Batch norm: scale 1, shift 0, running
mean 0, running variance 1. numpy is imported only when weights are drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np


# Values drawn per step when streaming: small enough to stay in cache while they are scaled and
# written, large enough that the per-call overhead vanishes.
CHUNK_VALUES = 1 << 18


class Uniform(NamedTuple):
    """uniform(-bound, bound); `fan_in` gives PyTorch's bound 1/sqrt(fan_in)."""

    fan_in: int
    trainable: bool = True

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        values = np.empty(shape, dtype=np.float32)
        for _ in self._fill(rng, values.reshape(-1)):
            pass
        return values

    def chunks(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        """The same values as `draw`, in row-major pieces that reuse one buffer: each piece is
        valid only until the next is requested."""
        import numpy as np

        buffer = np.empty(min(CHUNK_VALUES, math.prod(shape)), dtype=np.float32)
        remaining = math.prod(shape)
        while remaining:
            piece = buffer[: min(remaining, buffer.size)]
            yield from self._fill(rng, piece)
            remaining -= piece.size

    def _fill(self, rng: np.random.Generator, flat: np.ndarray) -> Iterator[np.ndarray]:
        import numpy as np

        bound = np.float32(1.0 / math.sqrt(self.fan_in))
        # Generator.random(float32) is the fastest uniform source; scaling each piece while it is
        # still in cache costs almost nothing. Piece boundaries do not change the stream.
        for start in range(0, flat.size, CHUNK_VALUES):
            piece = flat[start : start + CHUNK_VALUES]
            rng.random(out=piece, dtype=np.float32)
            piece *= np.float32(2) * bound
            piece -= bound
            yield piece


class Constant(NamedTuple):
    value: float
    trainable: bool = True

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        return np.full(shape, self.value, dtype=np.float32)

    def chunks(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        yield self.draw(rng, shape)


class Literal(NamedTuple):
    """Weights written in the spec (hand-crafted filters); fixed, so not trainable."""

    values: tuple[float, ...]
    trainable: bool = False

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        return np.asarray(self.values, dtype=np.float32).reshape(shape)

    def chunks(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        yield self.draw(rng, shape)


Init = Uniform | Constant | Literal
