"""Small ONNX models for the import tests and docs/diagnostics.md's E7xx examples, built with
onnx's helpers (onnx is a core dependency)."""

from __future__ import annotations

from onnx import ModelProto, TensorProto, helper


def chain(nodes: list[tuple[str, str]], input_shape: list[int | str] | None, **attributes: object) -> ModelProto:
    """A chain of (op type, node name) from input x to output y, each node given `attributes`; a
    graph with no input at all where `input_shape` is None."""
    names = ["x"] + [f"t{i}" for i in range(len(nodes) - 1)] + ["y"]
    graph_nodes = [
        helper.make_node(op, [names[i]], [names[i + 1]], name=name, **attributes) for i, (op, name) in enumerate(nodes)
    ]
    inputs = [] if input_shape is None else [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(graph_nodes, "g", inputs, [output]))


def data_outside_the_directory() -> ModelProto:
    """A conv whose weight's external data is at `../secret.bin`. Write it with SerializeToString:
    onnx.save would refuse the location."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3, 3, 3])
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../secret.bin")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")
    return helper.make_model(helper.make_graph([conv], "g", [x], [y], initializer=[weight]))
