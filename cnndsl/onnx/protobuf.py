"""Protobuf's wire format, just enough of it for the onnx.proto (proto2) messages cnndsl writes.

cnndsl encodes its models itself instead of asking the onnx package: importing onnx costs more
than compiling a ResNet, so the file-writing path never imports it. The encoding is protobuf's
canonical one: field numbers are onnx.proto's, each message's fields are written in field-number
order as python protobuf serializes them, and a field is written exactly when onnx.helper would
have set it (proto2 keeps explicitly set defaults: an empty graph name, opset domain ""). So
`onnx.ModelProto.FromString(ours).SerializeToString() == ours`; tests/test_protobuf_encoder.py
compares every message kind with the onnx package's encoding.

The size limits live here too. They are read as `protobuf.PROTOBUF_LIMIT` when a model is
written, so that a test can lower them on this module to make a small model take the paths of a
huge one.
"""

from __future__ import annotations

import math
import numbers
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, SupportsFloat, SupportsInt

import numpy as np
from numpy.typing import NDArray

# protobuf refuses to parse a message of 2 GiB or more: the most a model file can hold (E509).
PROTOBUF_MAX_BYTES = 2**31 - 1
# Past this a model's weights go to an external data file, leaving room for the graph itself.
PROTOBUF_LIMIT = 2**31 - 2**20

# TensorProto.DataType
FLOAT = 1
INT64 = 7
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_TENSOR, _ATTR_FLOATS, _ATTR_INTS, _ATTR_STRINGS = 1, 2, 3, 4, 6, 7, 8

_INT64_RANGE = range(-(2**63), 2**63)
_FLOAT32 = struct.Struct("<f")


# --- fields -----------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """An unsigned varint; a negative (int64) value as its 64-bit two's complement (10 bytes)."""
    if value < 0:
        value &= 0xFFFF_FFFF_FFFF_FFFF
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_key(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


def length_delimited_key(field_number: int) -> bytes:
    """The key of a length-delimited field (wire type 2), for a payload written after it in pieces."""
    return field_key(field_number, 2)


def message_field(field_number: int, payload: bytes) -> bytes:
    """A length-delimited field: a submessage, bytes or (encoded) string."""
    return field_key(field_number, 2) + varint(len(payload)) + payload


def length_delimited_size(payload_size: int) -> int:
    """Bytes of a length-delimited field with a payload of `payload_size` bytes."""
    return 1 + len(varint(payload_size)) + payload_size  # every field number used here fits one key byte


def string_field(field_number: int, text: str | bytes) -> bytes:
    return message_field(field_number, text.encode("utf-8") if isinstance(text, str) else bytes(text))


def int_field(field_number: int, value: SupportsInt) -> bytes:
    """An int32/int64/enum field (varint)."""
    value = int(value)
    if value not in _INT64_RANGE:
        raise ValueError(f"value {value} does not fit a 64-bit protobuf integer")
    return field_key(field_number, 0) + varint(value)


def float_field(field_number: int, value: SupportsFloat) -> bytes:
    """A float field (fixed32, little-endian), rounded to float32 as protobuf does."""
    value = float(value)
    try:
        packed = _FLOAT32.pack(value)
    except OverflowError:  # beyond float32's range: protobuf stores infinity
        packed = _FLOAT32.pack(math.copysign(math.inf, value))
    return field_key(field_number, 5) + packed


# --- onnx.proto messages ----------------------------------------------------------------------


@dataclass(frozen=True)
class SerializedTensor:
    """A serialized TensorProto: the value of a Constant node's `value` attribute."""

    data: bytes


def tensor_header(name: str, shape: Iterable[int], data_type: int) -> bytes:
    """TensorProto fields before its data: dims (1), data_type (2), name (8, when it has one)."""
    return b"".join(
        [*(int_field(1, d) for d in shape), int_field(2, data_type), string_field(8, name) if name else b""]
    )


def tensor(name: str, array: NDArray[Any]) -> bytes:
    """TensorProto as numpy_helper.from_array(array, name): dims 1, data_type 2, name 8, raw_data 9."""
    if array.dtype == np.float32:
        data_type = FLOAT
    elif array.dtype == np.int64:
        data_type = INT64
    else:
        raise TypeError(f"constant '{name}' has type {array.dtype}; cnndsl writes float32 and int64")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return tensor_header(name, array.shape, data_type) + message_field(9, data)


def attribute(name: str, value: Any) -> bytes:
    """AttributeProto as onnx.helper.make_attribute(name, value): name 1, the value, type 20."""
    if isinstance(value, numbers.Integral):
        payload, kind = int_field(3, value), _ATTR_INT
    elif isinstance(value, numbers.Real):
        payload, kind = float_field(2, value), _ATTR_FLOAT
    elif isinstance(value, (str, bytes)):
        payload, kind = string_field(4, value), _ATTR_STRING
    elif isinstance(value, SerializedTensor):
        payload, kind = message_field(5, value.data), _ATTR_TENSOR
    elif isinstance(value, Iterable):
        values = list(value)
        if not values:
            raise ValueError(f"Could not infer attribute `{name}` type from empty iterator")
        if all(isinstance(v, numbers.Integral) for v in values):
            payload, kind = b"".join(int_field(8, v) for v in values), _ATTR_INTS
        elif all(isinstance(v, numbers.Real) for v in values):
            payload, kind = b"".join(float_field(7, v) for v in values), _ATTR_FLOATS
        elif all(isinstance(v, (str, bytes)) for v in values):
            payload, kind = b"".join(string_field(9, v) for v in values), _ATTR_STRINGS
        else:
            raise ValueError(f"Could not infer the type of attribute `{name}` from its elements")
    else:
        raise TypeError(f"'{value}' is not an accepted attribute value.")
    return string_field(1, name) + payload + int_field(20, kind)


def node(
    op_type: str, inputs: Iterable[str], outputs: Iterable[str], name: str, doc_string: str, attributes: dict[str, Any]
) -> bytes:
    """NodeProto as onnx.helper.make_node: input 1, output 2, name 3, op_type 4, attribute 5
    (sorted by name, None left out), doc_string 6."""
    out = [string_field(1, i) for i in inputs]
    out += [string_field(2, o) for o in outputs]
    if name:
        out.append(string_field(3, name))
    out.append(string_field(4, op_type))
    out += [message_field(5, attribute(key, value)) for key, value in sorted(attributes.items()) if value is not None]
    if doc_string:
        out.append(string_field(6, doc_string))
    return b"".join(out)


def value_info(name: str, elem_type: int, shape: Iterable[int | str]) -> bytes:
    """ValueInfoProto as onnx.helper.make_tensor_value_info: the shape is always present; a dim is
    a number (dim_value 1) or a name (dim_param 2)."""
    dims = b"".join(message_field(1, string_field(2, d) if isinstance(d, str) else int_field(1, d)) for d in shape)
    tensor_type = int_field(1, elem_type) + message_field(2, dims)  # TypeProto.Tensor: elem_type 1, shape 2
    return string_field(1, name) + message_field(2, message_field(1, tensor_type))  # TypeProto.tensor_type 1


def string_entry(key: str, value: str) -> bytes:
    """StringStringEntryProto: key 1, value 2."""
    return string_field(1, key) + string_field(2, value)
