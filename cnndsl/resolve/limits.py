"""The limits that guard checking against runaway input (`--max-*` on the command line)."""

from __future__ import annotations

import os
from typing import NamedTuple

MAX_INPUT_RANK = 4  # channels and at most three spatial axes: C, CxL, CxHxW, CxDxHxW


class Limits(NamedTuple):
    """Guards against runaway input; each can be raised from the command line."""

    max_layers: int = 100_000  # total expanded layers, charged while expanding
    max_repeat: int = 10_000  # one repetition count
    max_params: int = 10_000_000_000  # checked by the analysis pass, before any weight exists
    max_file_bytes: int = 10_000_000
    max_depth: int = 10_000  # nesting of brackets and braces, of block calls and of `use`
    max_steps: int = 500_000  # expansion steps: statements, layers, iterations, block calls
    max_name_chars: int = 20_000_000  # all hierarchical names together (they grow with nesting)
    # With a directory here, `use` may only include files below it (after symlinks); nothing of
    # a file outside is read or quoted. For specs from untrusted users, e.g. in a web service.
    include_root: str | None = None

    def validated(self) -> Limits:
        """These limits, or ValueError/TypeError naming the first field a program set wrongly
        (the command line checks its options itself)."""
        for name, value in zip(self._fields, self, strict=True):
            if name == "include_root":
                if value is not None and not os.path.isdir(value):
                    raise ValueError(f"include_root must name a directory, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Limits.{name} must be an int, got {type(value).__name__}")
            elif value < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {value}")
        return self
