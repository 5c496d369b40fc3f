"""cnndsl's version: one place, read by the package, the ONNX metadata and pyproject.toml."""

__version__ = "0.1.0"
