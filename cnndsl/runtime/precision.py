"""The precision of a model ONNX Runtime runs, read from the model itself, and its size.

A model is int8 when it holds quantization operators (the QDQ pairs ONNX Runtime's static
quantization writes, or operators already fused to integer kernels), fp16 when its weights or its
input are float16, fp32 otherwise. The size is what the model takes on disk: the .onnx file and its
external data files.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

QUANTIZATION_OPERATORS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
    }
)


def model_precision(model: onnx.ModelProto) -> str:
    """'int8', 'fp16' or 'fp32', from the model's operators and tensor types."""
    from onnx import TensorProto

    if any(node.op_type in QUANTIZATION_OPERATORS for node in model.graph.node):
        return "int8"
    types = {tensor.data_type for tensor in model.graph.initializer}
    types |= {value.type.tensor_type.elem_type for value in model.graph.input}
    return "fp16" if TensorProto.FLOAT16 in types else "fp32"


def read_precision(source: bytes | str) -> tuple[str, int]:
    """The precision and size in bytes of serialized bytes or an .onnx path (its external data
    files counted, not loaded)."""
    import onnx

    if isinstance(source, bytes):
        return model_precision(onnx.ModelProto.FromString(source)), len(source)
    model = onnx.load(source, load_external_data=False)
    directory = os.path.dirname(os.path.abspath(source))
    locations = {
        entry.value
        for tensor in model.graph.initializer
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
    size = os.path.getsize(source) + sum(
        os.path.getsize(os.path.join(directory, location))
        for location in locations
        if os.path.isfile(os.path.join(directory, location))
    )
    return model_precision(model), size
