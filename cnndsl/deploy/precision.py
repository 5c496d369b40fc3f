"""A compiled model in another precision: fp16 or calibrated int8, with ONNX Runtime's own tools.

`convert(proto, precision, ...)` takes the fp32 model `cnndsl compile` makes (an onnx.ModelProto)
and returns the converted one; `compile --precision` writes it, `compile --triton-repo` puts it in
a model repository, `run --precision` runs it. The conversion is checked by loading the result in
ONNX Runtime on the CPU (E807 if it does not load), so no model is written that cannot be served.

- int8: ONNX Runtime's static quantization (onnxruntime.quantization): `quant_pre_process` (shape
  inference and graph optimisation: batch norms folded into convolutions), then `quantize_static`
  in QDQ format with per-channel int8 weights (in a 7-bit range, see _to_int8) and uint8
  activations, whose ranges come from the user's calibration samples (cnndsl.deploy.calibration)
  by min-max, entropy or percentile. ONNX Runtime fuses each DequantizeLinear-operator-
  QuantizeLinear group it has an integer kernel for (QLinearConv, QGemm, ...) when it loads the
  model; the other operators run in float between them.
- fp16: onnxruntime.transformers.float16 (the converter ONNX Runtime ships) with float32 inputs and
  outputs unless `io="fp16"`, and KEPT_FP32 kept in float32. On a CPU without native float16
  arithmetic ONNX Runtime runs most float16 operators by casting to float32 around them: fp16
  halves the file and the weights' memory there, and speeds up GPUs (docs/deploy.md).

Weights past float16's range (E806, with the layer and its line) are refused rather than clamped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from io import StringIO
from typing import TYPE_CHECKING, Any

import numpy as np

from ..diagnostics import CnnError, Diagnostic, Label, error, first_line
from .calibration import Calibration

if TYPE_CHECKING:
    import onnx

    from ..model import CheckedModel
    from ..onnx import Written

PRECISIONS = ("fp32", "fp16", "int8")
IO_TYPES = ("fp32", "fp16")
FP16_MAX = 65504.0  # the largest finite float16

# Operators kept in float32 in an fp16 model, besides the converter's own list (operators with no
# float16 form in ONNX). Each sums many values, squares or exponentials, which overflow float16
# (largest value 65504) or lose the small terms: a plane's variance, a window of squares.
KEPT_FP32 = (
    "InstanceNormalization",  # the variance of a whole plane
    "GroupNormalization",  # the variance of a group of planes
    "LRN",  # a sum of squares across channels
    "ReduceMean",  # the mean and the variance of a layer norm below opset 17 (layers/layernorm.py)
    "Sqrt",  # its standard deviation
)

# Calibration samples fed to ONNX Runtime at once: its calibrator keeps every intermediate tensor
# of a batch, so a big batch of a big model costs gigabytes.
_CALIBRATION_BATCH = 8


def convert(
    proto: onnx.ModelProto,
    precision: str,
    *,
    calibration: Calibration | None = None,
    io: str = "fp32",
    model: CheckedModel | None = None,
) -> onnx.ModelProto:
    """`proto` (fp32, as cnndsl compiles it) in `precision`; fp32 returns it unchanged.

    calibration: int8's samples (E801 without them). io: the inputs' and outputs' type of an fp16
    model. model: the checked spec `proto` was compiled from, to place diagnostics on its layers.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if io not in IO_TYPES:
        raise ValueError(f"io must be one of {', '.join(IO_TYPES)}, got {io!r}")
    if precision == "fp32":
        return proto
    if precision == "fp16":
        converted = _to_fp16(proto, io, model)
    else:
        if calibration is None:
            raise CnnError([calibration_needed()])
        converted = _to_int8(proto, calibration)
    _check_size(converted, precision)
    _check_loads(converted, precision)
    return converted


def calibration_needed() -> Diagnostic:
    """E801: int8 without calibration data, and why cnndsl does not make some up."""
    return error(
        "E801",
        "int8 quantization needs calibration data: --calibrate DATA",
        None,
        notes=(
            "int8 fixes each activation's range ahead of time from the values it takes on the calibration "
            "samples; random inputs give ranges unlike real data's, clipping real activations or spending "
            "the 256 levels on values that never occur, and what that costs in accuracy cannot be known "
            "without real data",
        ),
        help="give a few hundred real inputs (an .npy or .npz array, or a folder of .npy files), "
        "preprocessed as for inference",
    )


# --- fp16 ----------------------------------------------------------------------------------------


def _to_fp16(proto: onnx.ModelProto, io: str, model: CheckedModel | None) -> onnx.ModelProto:
    from onnxruntime.transformers import float16

    from ..onnx import protobuf

    if proto.ByteSize() > protobuf.PROTOBUF_LIMIT:  # the converter's shape inference serializes the model
        raise CnnError(
            [
                error(
                    "E807",
                    f"the fp32 model is {proto.ByteSize():,} bytes, over protobuf's limit of "
                    f"{protobuf.PROTOBUF_LIMIT:,}: ONNX Runtime's float16 converter cannot read it",
                    None,
                    help="int8 converts such models (through external data files) to a quarter of their size",
                )
            ]
        )
    _check_fp16_range(proto, model)
    with _quiet():
        converted: onnx.ModelProto = float16.convert_float_to_float16(
            proto,
            keep_io_types=io == "fp32",
            op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, *KEPT_FP32],
        )
    return converted


def _check_fp16_range(proto: onnx.ModelProto, model: CheckedModel | None) -> None:
    """E806 for each weight with values past float16's range: the converter would clamp them."""
    from onnx import TensorProto, numpy_helper

    problems = []
    for initializer in proto.graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        largest = float(np.abs(values).max(initial=0.0))
        if largest > FP16_MAX:
            past = int((np.abs(values) > FP16_MAX).sum())
            problems.append(
                error(
                    "E806",
                    f"'{initializer.name}' holds {largest:.4g}, past float16's largest value {FP16_MAX:g}",
                    _layer_label(model, initializer.name, "its weights do not fit float16"),
                    notes=(f"{past:,} of its {values.size:,} values {'is' if past == 1 else 'are'} out of range",),
                    help="keep this model fp32 or int8, or rescale the layer (and the next one by the inverse)",
                )
            )
    if problems:
        raise CnnError(problems)


def _layer_label(model: CheckedModel | None, parameter: str, text: str) -> Label | None:
    """The spec's layer a parameter ('conv1.weight') belongs to; None without a spec."""
    if model is None:
        return None
    layer, _, _ = parameter.rpartition(".")
    for node in model.layers:
        if node.name == layer:
            return Label(node.source, node.span, text)
    return None


# --- int8 ----------------------------------------------------------------------------------------


def _to_int8(proto: onnx.ModelProto, calibration: Calibration) -> onnx.ModelProto:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..onnx import protobuf

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    # ONNX Runtime's tools read and write files: a private directory, removed whatever happens
    with tempfile.TemporaryDirectory(prefix="cnndsl-int8-") as directory:
        original, prepared, quantized = (os.path.join(directory, name) for name in ("fp32", "prepared", "int8"))
        # past protobuf's limit the tools read and write the weights as external data files
        external = proto.ByteSize() > protobuf.PROTOBUF_LIMIT
        onnx.save(proto, original, save_as_external_data=external, location="fp32.data")
        try:
            with _quiet():
                # Symbolic shape inference is for transformers' dynamic shapes; ours are all known.
                quant_pre_process(
                    original,
                    prepared,
                    skip_symbolic_shape=True,
                    save_as_external_data=external,
                    all_tensors_to_one_file=True,
                    external_data_location="prepared.data",
                )
                quantize_static(
                    prepared,
                    quantized,
                    _Reader(proto, calibration),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    # 7-bit weights: x86 CPUs without VNNI (AVX2 only, as this project's) multiply
                    # uint8 by int8 with VPMADDUBSW, whose 16-bit sums saturate on 8-bit weights
                    # (measured: a grouped convolution off by 0.49 of 1.86, against 0.08 with it)
                    reduce_range=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=methods[calibration.method],
                    use_external_data_format=external,
                )
        except (CnnError, KeyboardInterrupt):
            raise
        except Exception as problem:
            raise CnnError(
                [error("E807", f"ONNX Runtime's quantization failed: {first_line(problem)}", None)]
            ) from None
        result: onnx.ModelProto = onnx.load(quantized)
    return result


class _Reader:
    """The calibration samples as onnxruntime.quantization's CalibrationDataReader reads them: one
    feed per call, None at the end. A feed holds _CALIBRATION_BATCH samples at most, or exactly the
    batch a model compiled with a fixed batch takes (a last partial batch is left out)."""

    def __init__(self, proto: onnx.ModelProto, calibration: Calibration):
        samples, (graph_input,) = calibration.samples, proto.graph.input
        first = graph_input.type.tensor_type.shape.dim[0]
        fixed = first.dim_value if first.HasField("dim_value") else None
        if fixed is not None and fixed > len(samples):
            raise CnnError(
                [
                    error(
                        "E805",
                        f"calibration data '{calibration.source}' holds {len(samples):,} samples, "
                        f"fewer than the batch of {fixed} the model was compiled for",
                        None,
                        help="give more samples, or compile without --batch (a symbolic batch)",
                    )
                ]
            )
        size = fixed or _CALIBRATION_BATCH
        end = len(samples) - len(samples) % size if fixed else len(samples)
        self._feeds = iter({graph_input.name: samples[start : start + size]} for start in range(0, end, size))

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


# --- both ----------------------------------------------------------------------------------------


def _check_size(proto: onnx.ModelProto, precision: str) -> None:
    """E807 when the converted model cannot be serialized: over protobuf's 2 GiB limit."""
    from ..onnx import protobuf

    size = proto.ByteSize()
    if size > protobuf.PROTOBUF_LIMIT:
        raise CnnError(
            [
                error(
                    "E807",
                    f"the {precision} model is {size:,} bytes, over protobuf's limit of {protobuf.PROTOBUF_LIMIT:,}",
                    None,
                    help="shrink the network: a converted model is written as one file, which protobuf caps",
                )
            ]
        )


def _check_loads(proto: onnx.ModelProto, precision: str) -> None:
    """E807 unless ONNX Runtime loads the converted model on the CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        onnxruntime.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as problem:
        raise CnnError(
            [error("E807", f"ONNX Runtime cannot load the {precision} model: {first_line(problem)}", None)]
        ) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's conversion tools log advice through `logging` and print their progress: keep
    both off cnndsl's output (standard output may be JSON); failures raise."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(StringIO()):
            yield
    finally:
        logging.disable(previous)


# --- compiling a spec in a precision ---------------------------------------------------------------


def converted_model(
    model: CheckedModel,
    precision: str,
    *,
    calibration: Calibration | None = None,
    io: str = "fp32",
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike[str] | None = None,
) -> onnx.ModelProto:
    """The spec compiled (as cnndsl.onnx.compile_model does, with the same options) and converted:
    the model `compile --precision` writes, for a writer of another kind (a Triton repository)."""
    from ..onnx import compile_model

    if precision == "int8" and calibration is None:  # before compiling: that may take seconds
        raise CnnError([calibration_needed()])
    proto = compile_model(model, opset=opset, batch=batch, seed=seed, weights=weights)
    return convert(proto, precision, calibration=calibration, io=io, model=model)


def compile_precision(
    model: CheckedModel,
    output: str | os.PathLike[str] | None,
    precision: str,
    *,
    calibration: Calibration | None = None,
    io: str = "fp32",
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike[str] | None = None,
) -> Written:
    """`cnndsl compile --precision`: the converted model written to `output` as compile_file writes
    models: the output checked before anything is compiled (E503), the file written atomically."""
    from ..onnx.write import checked_output, write_serialized

    path = checked_output(model, output, weights)
    if calibration is not None and os.path.realpath(calibration.source) == os.path.realpath(path):
        raise CnnError([error("E503", f"refusing to overwrite the calibration data '{path}' with the model", None)])
    converted = converted_model(
        model, precision, calibration=calibration, io=io, opset=opset, batch=batch, seed=seed, weights=weights
    )
    serialized = converted.SerializeToString()  # convert checked that it fits protobuf's limit
    return write_serialized(path, serialized, default_opset(converted))


def default_opset(proto: onnx.ModelProto) -> int:
    """The version of the default operator set (ai.onnx) a model imports."""
    return int(next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")))
