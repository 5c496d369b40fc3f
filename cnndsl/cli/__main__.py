"""`python -m cnndsl.cli`: the `cnndsl` program, the same as `python -m cnndsl` (benchmarks/probes.py
runs it this way)."""

import sys

from . import console

sys.exit(console())
