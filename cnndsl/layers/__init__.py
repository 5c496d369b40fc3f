"""The layer kinds. Importing this package registers every kind in `REGISTRY`."""

from . import activation, conv, dense, merge, norm, pool  # noqa: F401  (registration)
from .base import REGISTRY, Layer, Shape, ShapeIssue

__all__ = ["REGISTRY", "Layer", "Shape", "ShapeIssue"]
