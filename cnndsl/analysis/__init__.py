"""The analysis passes over the resolved graph: shapes, then counts, then lint warnings."""

from .counts import LayerStats, count
from .lint import lint
from .shapes import infer_shapes

__all__ = ["LayerStats", "count", "infer_shapes", "lint"]
