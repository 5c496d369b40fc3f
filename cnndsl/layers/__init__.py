"""The layer kinds. Importing this package registers every kind in `REGISTRY`.

Every module of the package is imported, so a new kind is one file: its `@register` class.
"""

import importlib
import os

from .base import REGISTRY, Layer, Shape, ShapeIssue


def _modules() -> list[str]:
    """The package's modules, from a listing of its directory (pkgutil.iter_modules would import
    inspect, which takes longer than registering every kind)."""
    return sorted(
        {name[:-3] for directory in __path__ for name in os.listdir(directory) if name.endswith(".py")} - {"__init__"}
    )


for _module in _modules():
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["REGISTRY", "Layer", "Shape", "ShapeIssue"]
