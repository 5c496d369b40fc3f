"""Unit tests of cnndsl's own protobuf encoder (cnndsl/onnx/protobuf.py, with the `Tape` and
`Plan.write` that use it): every field type it writes is compared with the onnx package's encoding of the same
message (onnx.helper / numpy_helper, serialized by python protobuf) and with protobuf's own parse of
cnndsl's bytes. The encoder claims to be canonical (fields in field-number order, as python protobuf
writes them), so most comparisons are byte-for-byte."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import cnndsl
from cnndsl import onnx as cnndsl_onnx
from cnndsl.onnx import protobuf
from cnndsl.onnx.protobuf import (
    SerializedTensor,
    field_key,
    float_field,
    int_field,
    length_delimited_key,
    length_delimited_size,
    message_field,
    string_field,
    varint,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).smallest_subnormal)  # 1.4e-45

int64s = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
texts = st.text(max_size=12)  # any code points but lone surrogates (which UTF-8 cannot encode)
strings_or_bytes = st.one_of(texts, st.binary(max_size=12))
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def attribute(name, value) -> bytes:
    return protobuf.attribute(name, value)


def parsed_attribute(name, value) -> AttributeProto:
    return AttributeProto.FromString(attribute(name, value))


def float_bits(value: float) -> int:
    """The float32 bits of a value rounded as protobuf rounds it (beyond float32's range: infinity)."""
    with np.errstate(over="ignore"):
        return struct.unpack("<I", np.float32(value).astype("<f4").tobytes())[0]


# --- the wire format --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, encoded",
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16383, "ff7f"),
        (16384, "808001"),
        (2**31 - 1, "ffffffff07"),
        (2**31, "8080808008"),
        (2**32, "8080808010"),
        (INT64_MAX, "ffffffffffffffff7f"),
        # negative int64s are their 64-bit two's complement: always 10 bytes
        (-1, "ffffffffffffffffff01"),
        (-2, "feffffffffffffffff01"),
        (INT64_MIN, "80808080808080808001"),
    ],
)
def test_varint_known_encodings(value, encoded):
    assert varint(value).hex() == encoded


@given(int64s)
@FAST
def test_varint_length_and_protobuf_decoding(value):
    encoded = varint(value)
    assert len(encoded) == (10 if value < 0 else max(1, math.ceil(value.bit_length() / 7)))
    assert all(b & 0x80 for b in encoded[:-1]) and not encoded[-1] & 0x80
    # AttributeProto.i (field 3, int64) decoded by protobuf itself
    assert AttributeProto.FromString(b"\x18" + encoded).i == value


@pytest.mark.parametrize(
    "field, wire, encoded",
    [
        (1, 0, "08"),
        (1, 2, "0a"),
        (2, 5, "15"),
        (15, 2, "7a"),
        (16, 0, "8001"),
        (20, 0, "a001"),
        (21, 2, "aa01"),
    ],
)
def test_keys(field, wire, encoded):
    assert field_key(field, wire).hex() == encoded


def test_tag_is_length_delimited_key():
    for field in (1, 5, 7, 9, 13, 14, 20):
        assert length_delimited_key(field) == field_key(field, 2)


@pytest.mark.parametrize("length", [0, 1, 127, 128, 300, 16383, 16384, 2**21])
def test_message_framing_and_entry_size(length):
    payload = b"x" * length
    framed = message_field(5, payload)
    assert framed == length_delimited_key(5) + varint(length) + payload
    assert length_delimited_size(length) == len(framed)
    assert len(message_field(14, payload)) == length_delimited_size(length)  # every field number cnndsl frames is < 16


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, 2**64, -(2**64)])
def test_int_out_of_int64_range_is_refused_like_protobuf(value):
    with pytest.raises(ValueError):
        int_field(3, value)
    with pytest.raises(ValueError):
        helper.make_attribute("a", value)
    with pytest.raises(ValueError):
        attribute("a", [1, value])


def test_float_rounds_to_float32_and_overflows_to_infinity():
    assert float_field(2, 0.1) == b"\x15" + struct.pack("<f", 0.1)
    assert float_field(2, 1e39) == b"\x15" + struct.pack("<f", math.inf)
    assert float_field(2, -1e300) == b"\x15" + struct.pack("<f", -math.inf)
    # just over float32's max but rounding down to it is no overflow
    assert float_field(2, FLOAT32_MAX * (1 + 2**-26)) == b"\x15" + struct.pack("<f", FLOAT32_MAX)


def test_strings_are_utf8_and_bytes_are_verbatim():
    assert string_field(4, "") == b"\x22\x00"
    assert string_field(4, "é") == b"\x22\x02\xc3\xa9"
    assert string_field(4, b"\xff\x00") == b"\x22\x02\xff\x00"
    assert string_field(4, bytearray(b"ab")) == b"\x22\x02ab"
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate has no UTF-8 (protobuf refuses it too)
        string_field(4, "\ud800")


# --- AttributeProto ---------------------------------------------------------------------------

INTS = [0, 1, 127, 128, 255, 256, 2**31 - 1, 2**31, 2**32, INT64_MAX, -1, -2, -128, -(2**31), INT64_MIN]


@pytest.mark.parametrize("value", [*INTS, True, False, np.int64(-5), np.int32(7), np.uint8(200), np.uint64(INT64_MAX)])
def test_int_attribute(value):
    ours = attribute("axis", value)
    assert ours == helper.make_attribute("axis", value).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert (parsed.name, parsed.type, parsed.i) == ("axis", AttributeProto.INT, int(value))
    assert not parsed.HasField("f") and not parsed.HasField("s")


FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.5,
    0.1,
    1e-45,
    1e-46,
    FLOAT32_TINY,
    1.17549435e-38,
    3.4e38,
    FLOAT32_MAX,
    3.5e38,
    1e300,
    -1e300,
    math.inf,
    -math.inf,
    math.nan,
    -math.nan,
]


@pytest.mark.parametrize("value", [*FLOATS, np.float32(0.25), np.float64(1e-3), np.float16(65504)])
def test_float_attribute(value):
    ours = attribute("alpha", value)
    assert ours == helper.make_attribute("alpha", value).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert (parsed.name, parsed.type) == ("alpha", AttributeProto.FLOAT)
    assert float_bits(parsed.f) == float_bits(value)
    if math.isnan(value):
        assert math.isnan(parsed.f)
    else:
        assert math.copysign(1.0, parsed.f) == math.copysign(1.0, value)


def test_float_attribute_special_values_decode_exactly():
    assert parsed_attribute("a", 1e-45).f == FLOAT32_TINY
    assert parsed_attribute("a", 1e-46).f == 0.0  # under half the smallest subnormal
    assert parsed_attribute("a", 3.5e38).f == math.inf  # past float32's range
    assert parsed_attribute("a", -1e300).f == -math.inf
    assert math.copysign(1.0, parsed_attribute("a", -0.0).f) == -1.0
    assert parsed_attribute("a", 0.1).f == float(np.float32(0.1))


@given(st.floats(allow_nan=True, allow_infinity=True))
@FAST
def test_any_float_attribute_matches_protobuf(value):
    assert attribute("f", value) == helper.make_attribute("f", value).SerializeToString()


@given(int64s)
@FAST
def test_any_int_attribute_matches_protobuf(value):
    assert attribute("i", value) == helper.make_attribute("i", value).SerializeToString()


@pytest.mark.parametrize(
    "value", ["", "SAME_UPPER", "é", "汉字", "🎉 emoji", "a\x00b", b"", b"\x00\xff\xfe", "x" * 200]
)
def test_string_attribute(value):
    ours = attribute("mode", value)
    assert ours == helper.make_attribute("mode", value).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert parsed.type == AttributeProto.STRING
    assert parsed.s == (value.encode("utf-8") if isinstance(value, str) else value)
    assert parsed.HasField("s")  # an empty string is still written (proto2 presence)


@pytest.mark.parametrize("name", ["", "é", "汉字", "🎉", "kernel_shape"])
def test_attribute_names(name):
    ours = attribute(name, 1)
    assert ours == helper.make_attribute(name, 1).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert parsed.name == name and parsed.HasField("name")


@pytest.mark.parametrize(
    "value",
    [
        [0],
        [1, 2, 3],
        INTS,
        [-1, -1],
        (3, 3),
        range(5),
        [np.int64(2), 7],
        np.array([1, -2, 3], dtype=np.int64),
        [INT64_MAX] * 40,
        [np.uint8(255), np.int32(-3)],
    ],
)
def test_ints_attribute(value):
    ours = attribute("pads", value)
    assert ours == helper.make_attribute("pads", value).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert parsed.type == AttributeProto.INTS
    assert list(parsed.ints) == [int(v) for v in value]


def test_ints_attribute_with_bools_is_ints():
    # protobuf refuses a bool in a repeated int field; cnndsl is lenient and writes it as 0 or 1
    ours = AttributeProto.FromString(attribute("flags", [True, 2, False]))
    assert ours.type == AttributeProto.INTS and list(ours.ints) == [1, 2, 0]


def test_ints_attribute_from_a_generator():
    ours = attribute("pads", (i - 2 for i in range(5)))
    assert ours == helper.make_attribute("pads", (i - 2 for i in range(5))).SerializeToString()
    assert list(AttributeProto.FromString(ours).ints) == [-2, -1, 0, 1, 2]


@pytest.mark.parametrize(
    "value",
    [
        [0.0],
        [1.5, -0.0, 1e-45, 3.4e38],
        [math.inf, -math.inf],
        [1, 2.5],  # ints among floats: FLOATS
        np.array([0.5, -2.0], dtype=np.float32),
        [np.float64(0.1), np.float32(0.1)],
        [1e39, -1e39],
    ],
)
def test_floats_attribute(value):
    ours = attribute("scales", value)
    assert ours == helper.make_attribute("scales", value).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert parsed.type == AttributeProto.FLOATS
    assert [float_bits(f) for f in parsed.floats] == [float_bits(v) for v in value]


def test_floats_attribute_with_nan():
    parsed = parsed_attribute("scales", [math.nan, 1.0])
    assert math.isnan(parsed.floats[0]) and parsed.floats[1] == 1.0
    assert attribute("s", [math.nan]) == helper.make_attribute("s", [math.nan]).SerializeToString()


@pytest.mark.parametrize(
    "value",
    [
        [""],
        ["a", "", "é"],
        ["汉字", "🎉"],
        [b"\x00", "text", b""],
        ("x", "y"),
    ],
)
def test_strings_attribute(value):
    ours = attribute("names", value)
    assert ours == helper.make_attribute("names", value).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert parsed.type == AttributeProto.STRINGS
    assert list(parsed.strings) == [v.encode("utf-8") if isinstance(v, str) else v for v in value]


@given(st.lists(int64s, min_size=1, max_size=8))
@FAST
def test_any_ints_attribute_matches_protobuf(values):
    assert attribute("ints", values) == helper.make_attribute("ints", values).SerializeToString()


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=8))
@FAST
def test_any_floats_attribute_matches_protobuf(values):
    assert attribute("floats", values) == helper.make_attribute("floats", values).SerializeToString()


@given(st.lists(strings_or_bytes, min_size=1, max_size=6), texts)
@FAST
def test_any_strings_attribute_matches_protobuf(values, name):
    assert attribute(name, values) == helper.make_attribute(name, values).SerializeToString()


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5, dtype=np.float32),
        np.array([1, 2, 3], dtype=np.int64),
        np.zeros((0,), dtype=np.float32),
        np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    ],
)
def test_tensor_attribute(array):
    ours = attribute("value", SerializedTensor(protobuf.tensor("c", array)))
    assert ours == helper.make_attribute("value", numpy_helper.from_array(array, "c")).SerializeToString()
    parsed = AttributeProto.FromString(ours)
    assert parsed.type == AttributeProto.TENSOR and parsed.t.name == "c"
    np.testing.assert_array_equal(numpy_helper.to_array(parsed.t), array)


@pytest.mark.parametrize("value", [[], (), iter([]), np.array([], dtype=np.int64)])
def test_empty_list_attribute_is_refused_like_onnx(value):
    with pytest.raises(ValueError, match="empty"):
        attribute("pads", value)
    with pytest.raises(ValueError, match="empty"):
        helper.make_attribute("pads", [])


@pytest.mark.parametrize("value", [[1, "a"], [1.0, b"x"], [None], [[1, 2]]])
def test_mixed_list_attribute_is_refused(value):
    with pytest.raises(ValueError):
        attribute("mixed", value)
    with pytest.raises(ValueError):
        helper.make_attribute("mixed", value)


@pytest.mark.parametrize("value", [None, object(), 1j])
def test_unsupported_attribute_value_is_refused(value):
    with pytest.raises(TypeError):
        attribute("x", value)


# --- TensorProto ------------------------------------------------------------------------------

SHAPES = [(), (0,), (1,), (3,), (2, 3, 4), (2, 0, 3), (1, 1, 1, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_tensor(dtype, shape):
    rng = np.random.default_rng(len(shape))
    if dtype == np.float32:
        array = rng.standard_normal(shape).astype(np.float32)
    else:
        array = rng.integers(INT64_MIN, INT64_MAX, size=shape, dtype=np.int64, endpoint=True)
    ours = protobuf.tensor("w", array)
    assert ours == numpy_helper.from_array(array, "w").SerializeToString()
    parsed = TensorProto.FromString(ours)
    assert list(parsed.dims) == list(shape) and parsed.name == "w"
    assert parsed.data_type == (TensorProto.FLOAT if dtype == np.float32 else TensorProto.INT64)
    assert parsed.HasField("raw_data")  # written even when empty, as numpy_helper does
    back = numpy_helper.to_array(parsed)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_tensor_special_float_values_round_trip_bitwise():
    array = np.array([0.0, -0.0, 1e-45, 3.4e38, np.inf, -np.inf, np.nan, FLOAT32_MAX], dtype=np.float32)
    parsed = TensorProto.FromString(protobuf.tensor("special", array))
    assert numpy_helper.to_array(parsed).tobytes() == array.astype("<f4").tobytes()


def test_tensor_int64_extremes():
    array = np.array([0, 1, -1, INT64_MIN, INT64_MAX], dtype=np.int64)
    ours = protobuf.tensor("ints", array)
    assert ours == numpy_helper.from_array(array, "ints").SerializeToString()
    np.testing.assert_array_equal(numpy_helper.to_array(TensorProto.FromString(ours)), array)


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a.T,
        lambda a: a[:, ::2],
        lambda a: np.asfortranarray(a),
        lambda a: a[::-1],
    ],
    ids=["transposed", "strided", "fortran", "reversed"],
)
def test_tensor_of_non_contiguous_arrays_is_row_major(make):
    array = make(np.arange(24, dtype=np.float32).reshape(4, 6))
    parsed = TensorProto.FromString(protobuf.tensor("t", array))
    assert list(parsed.dims) == list(array.shape)
    np.testing.assert_array_equal(numpy_helper.to_array(parsed), array)
    assert protobuf.tensor("t", array) == numpy_helper.from_array(np.ascontiguousarray(array), "t").SerializeToString()


@pytest.mark.parametrize("name", ["", "é", "汉字🎉", "layer3.0.conv1.weight"])
def test_tensor_names(name):
    array = np.ones((2,), dtype=np.float32)
    ours = protobuf.tensor(name, array)
    assert ours == numpy_helper.from_array(array, name).SerializeToString()
    parsed = TensorProto.FromString(ours)
    assert parsed.name == name and parsed.HasField("name") == bool(name)  # an empty name is left out


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16, np.bool_, ">f4"])
def test_tensor_of_other_types_is_refused(dtype):
    with pytest.raises(TypeError, match="float32 and int64"):
        protobuf.tensor("c", np.zeros(2, dtype=dtype))


@given(st.lists(st.integers(0, 3), max_size=4), st.sampled_from([np.float32, np.int64]), st.data())
@FAST
def test_any_tensor_round_trips(shape, dtype, data):
    size = math.prod(shape)
    if dtype == np.float32:
        values = data.draw(st.lists(st.floats(width=32), min_size=size, max_size=size))
    else:
        values = data.draw(st.lists(int64s, min_size=size, max_size=size))
    array = np.array(values, dtype=dtype).reshape(shape)
    ours = protobuf.tensor("t", array)
    assert ours == numpy_helper.from_array(array, "t").SerializeToString()
    assert numpy_helper.to_array(TensorProto.FromString(ours)).tobytes() == array.tobytes()


# --- NodeProto --------------------------------------------------------------------------------

NODE_CASES = [
    ("Relu", ["x"], ["y"], "y", "", {}),
    ("Relu", ["x"], ["y"], "", "", {}),  # no name: field 3 left out
    (
        "Conv",
        ["x", "w", "b"],
        ["y"],
        "conv1",
        "spec.cnn:3:1",
        {"strides": [2, 2], "pads": [1, 1, 1, 1], "kernel_shape": [3, 3], "group": 1, "dilations": None},
    ),
    ("Pad", ["x", "pads", ""], ["p"], "p", "é.cnn:1:1", {"mode": "reflect"}),  # an empty (optional) input
    ("LeakyRelu", ["x"], ["y"], "汉字", "🎉", {"alpha": 0.2}),
    ("Concat", ["a", "b", "c", "d"], ["y"], "cat", "", {"axis": -1}),
    ("Split", ["x"], ["a", "b"], "split", "", {"axis": 1}),  # two outputs
    ("Constant", [], ["k"], "k", "doc", {"value": np.array([1, 2], dtype=np.int64)}),
    ("Custom", [], [], "", "", {"z": 1, "a": 2.0, "m": "s", "b": ["x"], "y": [1.0], "c": [1], "n": None}),
]


@pytest.mark.parametrize(
    "op_type, inputs, outputs, name, doc, attributes", NODE_CASES, ids=[c[0] + str(i) for i, c in enumerate(NODE_CASES)]
)
def test_node(op_type, inputs, outputs, name, doc, attributes):
    ours_attrs = {
        k: SerializedTensor(protobuf.tensor(k, v)) if isinstance(v, np.ndarray) else v for k, v in attributes.items()
    }
    onnx_attrs = {k: numpy_helper.from_array(v, k) if isinstance(v, np.ndarray) else v for k, v in attributes.items()}
    ours = protobuf.node(op_type, inputs, outputs, name, doc, ours_attrs)
    expected = helper.make_node(op_type, inputs, outputs, name=name, doc_string=doc, **onnx_attrs)
    assert ours == expected.SerializeToString()
    parsed = onnx.NodeProto.FromString(ours)
    assert parsed == expected
    assert (list(parsed.input), list(parsed.output), parsed.op_type) == (inputs, outputs, op_type)
    assert parsed.HasField("name") == bool(name) and parsed.HasField("doc_string") == bool(doc)
    assert not parsed.HasField("domain")
    names = [a.name for a in parsed.attribute]
    assert names == sorted(k for k, v in attributes.items() if v is not None)


def test_node_attributes_are_sorted_whatever_the_dict_order():
    a = protobuf.node("Op", ["x"], ["y"], "n", "", {"b": 1, "a": 2})
    b = protobuf.node("Op", ["x"], ["y"], "n", "", {"a": 2, "b": 1})
    assert a == b
    assert [x.name for x in onnx.NodeProto.FromString(a).attribute] == ["a", "b"]


@given(
    st.lists(texts, max_size=3),
    st.lists(texts, min_size=1, max_size=2),
    texts,
    texts,
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.one_of(
            int64s,
            st.floats(allow_nan=False),
            strings_or_bytes,
            st.lists(int64s, min_size=1, max_size=3),
            st.lists(texts, min_size=1, max_size=3),
        ),
        max_size=4,
    ),
)
@FAST
def test_any_node_matches_make_node(inputs, outputs, name, doc, attributes):
    ours = protobuf.node("Op", inputs, outputs, name, doc, attributes)
    assert ours == helper.make_node("Op", inputs, outputs, name=name, doc_string=doc, **attributes).SerializeToString()


# --- ValueInfoProto and StringStringEntryProto ------------------------------------------------


@pytest.mark.parametrize("elem_type", [protobuf.FLOAT, protobuf.INT64])
@pytest.mark.parametrize(
    "shape", [[], [0], [3], ["N", 3, 224, 224], [1, "batch", "é"], [INT64_MAX, 2**31], ["", 1]], ids=str
)
def test_value_info(elem_type, shape):
    ours = protobuf.value_info("x", elem_type, shape)
    expected = helper.make_tensor_value_info("x", elem_type, shape)
    assert ours == expected.SerializeToString()
    parsed = onnx.ValueInfoProto.FromString(ours)
    assert parsed == expected
    tensor = parsed.type.tensor_type
    assert tensor.elem_type == elem_type and tensor.HasField("shape")  # present even for a scalar
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
    assert dims == list(shape)


def test_value_info_with_numpy_dims_and_tuple_shape():
    ours = protobuf.value_info("汉字", protobuf.FLOAT, (np.int64(2), 3))
    assert ours == helper.make_tensor_value_info("汉字", TensorProto.FLOAT, [2, 3]).SerializeToString()


@pytest.mark.parametrize(
    "key, value", [("", ""), ("cnndsl.seed", "0"), ("é", "汉字🎉"), ("cnndsl.spec", "input 3x32x32\n" * 100)]
)
def test_string_string_entry(key, value):
    ours = protobuf.string_entry(key, value)
    expected = onnx.StringStringEntryProto(key=key, value=value)
    assert ours == expected.SerializeToString()
    parsed = onnx.StringStringEntryProto.FromString(ours)
    assert (parsed.key, parsed.value) == (key, value) and parsed.HasField("key") and parsed.HasField("value")


@given(texts, st.text(max_size=300))
@FAST
def test_any_entry_matches_protobuf(key, value):
    assert protobuf.string_entry(key, value) == onnx.StringStringEntryProto(key=key, value=value).SerializeToString()


# --- the tape ---------------------------------------------------------------------------------

TAPE_SPEC = "input 3x8x8\nconv1: conv 3x3 4 pad 1\n"


def test_tape_nodes_are_make_node_with_the_layer_as_doc_string():
    model = cnndsl.check_text(TAPE_SPEC)
    layer = model.graph.nodes[1]
    tape = cnndsl_onnx.Tape(cnndsl_onnx.default_opset())
    tape.begin(layer)
    tape.op("Pad", ["input", "pads"], "conv1.padded", shape=(3, 10, 10), mode="reflect")
    tape.op(
        "Conv", ["conv1.padded", "conv1.weight"], "conv1", kernel_shape=[3, 3], strides=[1, 1], group=1, dilations=None
    )
    tape.constant("conv1.shape", [-1, 4 * 8 * 8], integer=True)
    tape.constant("conv1.scale", 0.5)
    tape.end("conv1", (4, 8, 8))
    doc = "<text>:2:1"
    assert layer.source.path == "<text>"
    expected = [
        helper.make_node(
            "Pad", ["input", "pads"], ["conv1.padded"], name="conv1.padded", doc_string=doc, mode="reflect"
        ),
        helper.make_node(
            "Conv",
            ["conv1.padded", "conv1.weight"],
            ["conv1"],
            name="conv1",
            doc_string=doc,
            kernel_shape=[3, 3],
            strides=[1, 1],
            group=1,
        ),
        helper.make_node(
            "Constant",
            [],
            ["conv1.shape"],
            name="conv1.shape",
            doc_string=doc,
            value=numpy_helper.from_array(np.array([-1, 256], dtype=np.int64), "conv1.shape"),
        ),
        helper.make_node(
            "Constant",
            [],
            ["conv1.scale"],
            name="conv1.scale",
            doc_string=doc,
            value=numpy_helper.from_array(np.array(0.5, dtype=np.float32), "conv1.scale"),
        ),
    ]
    assert tape.nodes == [n.SerializeToString() for n in expected]
    assert tape.order == ["conv1.padded", "conv1", "conv1.shape", "conv1.scale"]
    assert tape.shapes == {"conv1.padded": (3, 10, 10), "conv1": (4, 8, 8)}
    assert tape.constants["conv1.shape"].dtype == np.int64 and tape.constants["conv1.scale"].dtype == np.float32
    with pytest.raises(RuntimeError, match="used twice"):
        tape.op("Relu", ["conv1"], "conv1")


# --- the plan: streamed bytes, sizes, external data -------------------------------------------

PLAN_SPEC = """input 3x12x12
stem: conv 3x3 8 pad 1 mode reflect nobias -> bn eps 1e-3 -> leakyrelu 0.2
  -> residual { conv 3x3 8 pad 1 nobias -> bn -> relu -> conv 3x3 8 pad 1 } -> relu
  -> pool 2 -> flatten -> dropout -> fc 5 softmax
"""


def test_plan_write_is_canonical_and_sized_exactly():
    model = cnndsl.check_text(PLAN_SPEC)
    plan = cnndsl_onnx.plan(model, seed=3)
    buffer = io.BytesIO()
    written = plan.write(buffer)
    data = buffer.getvalue()
    assert written == len(data) == plan.serialized_size()
    proto = onnx.load_from_string(data)
    assert proto.SerializeToString() == data
    assert cnndsl_onnx.compile_bytes(model, seed=3) == data
    # the plan's model is the same message without its initializers
    without = onnx.ModelProto()
    without.CopyFrom(proto)
    del without.graph.initializer[:]
    assert cnndsl_onnx.plan(model, seed=3).model == without
    assert [i.name for i in proto.graph.initializer] == [w.name for w in plan.weights]
    for init, spec in zip(proto.graph.initializer, plan.weights, strict=True):
        assert tuple(init.dims) == spec.shape and init.data_type == TensorProto.FLOAT
    # the metadata entries are sorted by key and the opset import keeps its (empty) domain
    keys = [p.key for p in proto.metadata_props]
    assert keys == sorted(keys) and "cnndsl.spec" in keys
    assert proto.opset_import[0].HasField("domain") and proto.opset_import[0].domain == ""


def test_plan_write_external_matches_the_inline_model(tmp_path):
    model = cnndsl.check_text(PLAN_SPEC)
    inline = onnx.load_from_string(cnndsl_onnx.compile_bytes(model, seed=5))
    plan = cnndsl_onnx.plan(model, seed=5)
    total = plan.write_external(str(tmp_path), "m.onnx")
    text = (tmp_path / "m.onnx").read_bytes()
    data_size = (tmp_path / "m.onnx.data").stat().st_size
    assert total == len(text) + data_size
    assert len(text) == plan.external_size("m.onnx")
    proto = onnx.load_from_string(text)
    assert proto.SerializeToString() == text
    for init in proto.graph.initializer:
        assert init.data_location == TensorProto.EXTERNAL and not init.HasField("raw_data")
        entries = {e.key: e.value for e in init.external_data}
        assert [e.key for e in init.external_data] == ["location", "offset", "length"]
        assert entries["location"] == "m.onnx.data" and int(entries["offset"]) % 4096 == 0
    loaded = onnx.load(str(tmp_path / "m.onnx"))  # reads the external data
    for a, b in zip(loaded.graph.initializer, inline.graph.initializer, strict=True):
        np.testing.assert_array_equal(numpy_helper.to_array(a), numpy_helper.to_array(b))


# --- random small models, end to end ----------------------------------------------------------

ACTIVATIONS = ["relu", "relu6", "sigmoid", "tanh", "elu", "leakyrelu 0.1", "gelu", "identity"]


@st.composite
def spec_texts(draw):
    """A small valid spec (tracking channels x height x width so that every layer fits), an opset
    that has every operator it uses, a batch size and a seed."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(4, 9)), draw(st.integers(4, 9))
    opset = draw(st.sampled_from([13, 17, 20, cnndsl_onnx.default_opset()]))
    acts = [a for a in ACTIVATIONS if opset >= 20 or a != "gelu"]  # Gelu needs opset 20
    header = f"input {c}x{h}x{w}\n"
    layers: list[str] = []
    for index in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "act", "pool", "bn", "residual"]))
        if kind == "conv":
            k = draw(st.sampled_from([1, 3]))
            out = draw(st.integers(1, 6))
            pad = draw(st.sampled_from([0, k // 2]))
            if min(h, w) - k + 2 * pad < 0:
                continue
            text = f"conv {k}x{k} {out}"
            if pad:
                text += f" pad {pad}"
                if draw(st.booleans()):
                    text += " mode " + draw(st.sampled_from(["reflect", "replicate", "zeros"]))
            if draw(st.booleans()):
                text += " nobias"
            if draw(st.booleans()):
                text += " " + draw(st.sampled_from(acts))
            c, h, w = out, h - k + 2 * pad + 1, w - k + 2 * pad + 1
        elif kind == "act":
            text = draw(st.sampled_from(acts))
        elif kind == "pool":
            if min(h, w) < 2:
                continue
            text = draw(st.sampled_from(["pool 2", "avgpool 2", "maxpool 2 ceil", "pool avg global"]))
            if text.endswith("global"):
                h = w = 1
            elif "ceil" in text:
                h, w = (h + 1) // 2, (w + 1) // 2
            else:
                h, w = h // 2, w // 2
        elif kind == "bn":
            text = draw(st.sampled_from(["bn", "bn eps 1e-3", "batchnorm"]))
        else:
            text = f"residual {{ conv 3x3 {c} pad 1 nobias -> bn -> relu -> conv 1x1 {c} }}"
        if draw(st.booleans()):
            text = f"layer_{index}: {text}"
        layers.append(text)
    if draw(st.booleans()):
        layers += ["flatten", f"fc {draw(st.integers(1, 5))}" + draw(st.sampled_from(["", " softmax", " relu"]))]
    if not layers:
        layers = ["relu"]
    batch = draw(st.sampled_from([None, 1, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    return header + "\n  -> ".join(layers) + "\n", opset, batch, seed


@given(spec_texts())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_small_models_are_valid_canonical_onnx(case):
    text, opset, batch, seed = case
    model = cnndsl.check_text(text)
    data = cnndsl_onnx.compile_bytes(model, opset=opset, batch=batch, seed=seed)
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.SerializeToString() == data  # cnndsl's encoding is protobuf's canonical one
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", opset)]
    assert proto.ir_version == cnndsl_onnx.IR_VERSION
    first = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert (first.dim_param == "N") if batch is None else (first.dim_value == batch)
    # every node is what onnx.helper.make_node would have built from the node's own fields
    for node in proto.graph.node:
        rebuilt = helper.make_node(
            node.op_type,
            node.input,
            node.output,
            name=node.name,
            doc_string=node.doc_string,
            **{a.name: helper.get_attribute_value(a) for a in node.attribute},
        )
        assert rebuilt.SerializeToString() == node.SerializeToString()
    # every initializer is the tensor numpy_helper would write for its values
    for init in proto.graph.initializer:
        assert (
            numpy_helper.from_array(numpy_helper.to_array(init), init.name).SerializeToString()
            == init.SerializeToString()
        )
