"""What `compile`, `run` and `summary` do with the precision options (cli/precision_options.py):
convert the compiled model with cnndsl.deploy, which is imported only when a conversion is asked
for (it imports onnxruntime's quantization tools)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..deploy.calibration import Calibration
    from ..deploy.precision_compare import Comparison
    from ..model import CheckedModel
    from ..onnx import Written
    from ..runtime import RunReport


# Bytes a parameter takes in each precision. int8 is an estimate: weights are int8, but each
# output channel adds a float32 scale and an int8 zero point, and biases are int32.
PARAMETER_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}


def size_json(model: CheckedModel, precision: str) -> dict[str, Any]:
    """summary --format json's precision keys: the parameters' size in the precision."""
    return {"precision": precision, "precision_params_bytes": model.total_params * PARAMETER_BYTES[precision]}


def size_line(model: CheckedModel, precision: str) -> str:
    """summary's line for --precision fp16 or int8, under the float32 size."""
    size = model.total_params * PARAMETER_BYTES[precision] / 1e6
    estimate = ", about: scales, zero points and int32 biases add a little" if precision == "int8" else ""
    return f"Params size ({precision}): {size:,.2f} MB{estimate}"


def calibration(model: CheckedModel, args: argparse.Namespace) -> Calibration | None:
    """The checked --calibrate data (E802-E805), or None; E801 for int8 without it."""
    from ..deploy.calibration import load_calibration
    from ..deploy.precision import calibration_needed
    from ..diagnostics import CnnError

    if args.calibrate is None:
        if args.precision == "int8":
            raise CnnError([calibration_needed()])
        return None
    return load_calibration(args.calibrate, tuple(model.input_shape), args.calibration or "minmax")


def compile_in_precision(model: CheckedModel, args: argparse.Namespace) -> Written:
    """`compile --precision fp16|int8`."""
    from ..deploy.precision import compile_precision

    return compile_precision(
        model,
        args.output,
        args.precision,
        calibration=calibration(model, args),
        io=args.io or "fp32",
        opset=args.opset,
        batch=args.batch,
        seed=args.seed,
        weights=args.weights,
    )


def described(args: argparse.Namespace) -> str:
    """What the precision adds to compile's result line: '' for fp32."""
    if args.precision == "fp32":
        return ""
    if args.precision == "fp16":
        return f"fp16, {args.io or 'fp32'} inputs and outputs, "
    return f"int8 calibrated on {args.calibrate} ({args.calibration or 'minmax'}), "


def precision_json(args: argparse.Namespace) -> dict[str, Any]:
    """compile --format json's precision keys."""
    result: dict[str, Any] = {"precision": args.precision}
    if args.precision == "fp16":
        result["io"] = args.io or "fp32"
    if args.precision == "int8":
        result["calibration"] = {"data": args.calibrate, "method": args.calibration or "minmax"}
    return result


class Converter:
    """`run FILE.cnn` with --precision or --compare: converts the spec's compiled model as run_file
    loads it (its `convert`), and keeps both forms for the comparison."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.original = self.converted = b""

    def __call__(self, model: CheckedModel, source: bytes | str) -> bytes:
        import onnx

        from ..deploy.precision import convert

        proto = onnx.ModelProto.FromString(source) if isinstance(source, bytes) else onnx.load(source)
        self.original = proto.SerializeToString()
        self.converted = convert(
            proto,
            self.args.precision,
            calibration=calibration(model, self.args),
            io=self.args.io or "fp32",
            model=model,
        ).SerializeToString()
        return self.converted


def converter(args: argparse.Namespace) -> Converter | None:
    """The conversion `run` applies to a spec's model: for --precision, and for --compare (which
    needs the compiled bytes); None for an .onnx file, or a spec run as it compiles."""
    if args.file.lower().endswith(".onnx") or (args.precision == "fp32" and args.compare is None):
        return None
    return Converter(args)


def compare(args: argparse.Namespace, report: RunReport, converter: Converter | None) -> Comparison:
    """`run --compare`: the model run (converted by `converter` for a spec) against the spec's fp32
    compile or the reference model given, on the input `run` fed it (re-made from the same file or
    seed)."""
    from ..deploy.precision_compare import compare_models
    from ..runtime.inputs import InputSpec, allocate, plan_input

    model: bytes | str = converter.converted if converter is not None else args.file
    reference: bytes | str = args.compare
    reference_name = args.compare
    if args.compare == "fp32" and converter is not None:
        reference, reference_name = converter.original, f"fp32 ({args.file} compiled in memory)"
    spec = InputSpec(report.input_name, "tensor(float)", list(report.input_shape))
    x = allocate(plan_input(spec, None, args.input, args.seed))
    return compare_models(model, reference, x, reference_name=reference_name, device=args.device, repeat=args.repeat)
