"""The floor of compiling a model of P parameters: draw P float32 uniforms with numpy and write them.

    python -m benchmarks.floor_worker PARAMS OUT

What any compiler that initialises weights randomly must at least pay: interpreter start, importing
numpy, random-number generation (in tensors of at most 16M values, as a layer would be) and writing
4*P bytes to disk. `cnndsl compile` of a VGG-sized model is compared against this.
"""

from __future__ import annotations

import sys

CHUNK = 1 << 24


def main(argv: list[str]) -> int:
    import numpy as np

    params, out = int(argv[0]), argv[1]
    rng = np.random.default_rng(0)
    with open(out, "wb") as f:
        left = params
        while left:
            n = min(left, CHUNK)
            values = rng.random(n, dtype=np.float32)
            values *= np.float32(0.02)
            values -= np.float32(0.01)
            f.write(values.data)
            left -= n
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
