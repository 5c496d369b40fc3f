"""The layer kinds. Importing this package registers every kind in `REGISTRY`.

Every module of the package is imported, so a new kind is one file: its `@register` class.
"""

import importlib
import pkgutil

from .base import REGISTRY, Layer, Shape, ShapeIssue

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Layer", "Shape", "ShapeIssue"]
