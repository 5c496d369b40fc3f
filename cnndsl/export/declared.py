"""What every layer declares for a target framework (`torch_code`, `keras_code`), collected for the
whole model, with one located E510 per layer the framework has no exact form of."""

from __future__ import annotations

from typing import Any

from ..diagnostics import CnnError, Label, error
from ..ir import Node
from ..model import CheckedModel


def declared_codes(model: CheckedModel, method: str, missing: type[Exception], framework: str) -> dict[Node, Any]:
    """Each layer's `method(input shapes, output shape)`. A kind without the method, or one that
    raises `missing` (its framework's "no form" error), is an E510 at the layer, all reported at once."""
    codes: dict[Node, Any] = {}
    problems = []
    for node, layer in model.graph.layer_nodes():
        try:
            declare = getattr(layer, method, None)
            if declare is None:
                raise missing(f"{framework} has no form of the layer kind '{layer.kind}' yet")
            codes[node] = declare([model.shapes[p] for p in node.inputs], model.shapes[node])
        except missing as problem:
            problems.append(
                error(
                    "E510",
                    f"cannot export '{node.name}' to {framework.lower()}: {problem}",
                    Label(node.source, node.span, f"{layer.display_kind} has no exact {framework} form here"),
                    help="write the layer in a form the target has, or compile the spec to ONNX instead",
                )
            )
    if problems:
        raise CnnError(problems)
    return codes
