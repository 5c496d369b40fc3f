"""The declarations of `Layer.reach` that are words, not values (layers/reach.py has the others).

Apart from reach.py, which imports the layer contract's Record, so that base.py's default
declaration (SAME) imports nothing that imports base.py.
"""

from __future__ import annotations


class Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


SAME = Marker("SAME")  # each output position reads the same position of the input
WHOLE = Marker("WHOLE")  # every output value reads every position of the input
