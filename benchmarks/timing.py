"""The timing the benchmarks share: the best of a few runs of one action, in seconds (the least
disturbed run, as timeit recommends)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(action: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)
