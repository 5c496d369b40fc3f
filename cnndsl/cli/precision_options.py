"""The precision options: `compile` and `run` take --precision, --calibrate, --calibration and --io,
`run` also --compare, `summary` --precision (cli/precision.py runs them). Building the parser
imports neither cnndsl.deploy nor onnxruntime: the words are repeated here, and
tests/test_precision_cli.py checks they agree with cnndsl.deploy's."""

from __future__ import annotations

import argparse

PRECISION_NAMES = ("fp32", "fp16", "int8")
CALIBRATION_NAMES = ("minmax", "entropy", "percentile")
IO_NAMES = ("fp32", "fp16")


class PrecisionUsageError(ValueError):
    """Precision options that contradict each other: a usage error (exit 2)."""


def add_precision_options(command: argparse.ArgumentParser, *, conversion: bool = True, compare: bool = False) -> None:
    """Add --precision to `command`; with `conversion` the options that convert a spec's model,
    with `compare` the comparison with another model (`run`)."""
    group = command.add_argument_group("precision (docs/deploy.md)")
    group.add_argument(
        "--precision",
        choices=PRECISION_NAMES,
        default="fp32",
        help="the model's number format: fp32 (default), fp16 (weights and compute in float16) or int8 "
        "(static quantization, calibrated with --calibrate)"
        + ("" if conversion else "; changes the params size shown"),
    )
    if not conversion:
        return
    group.add_argument(
        "--calibrate",
        metavar="DATA",
        help="int8's calibration samples, inputs as the model will see them: an .npy or .npz array "
        "(N x the input's shape) or a folder of .npy files",
    )
    group.add_argument(
        "--calibration",
        choices=CALIBRATION_NAMES,
        help="how int8 ranges are taken from the samples (default minmax)",
    )
    group.add_argument("--io", choices=IO_NAMES, help="the fp16 model's input and output type (default fp32)")
    if compare:
        group.add_argument(
            "--compare",
            metavar="fp32|REF.onnx",
            help="also run the spec's fp32 compile (fp32) or a reference model on the same input, interleaved, "
            "and print their agreement (max abs difference, top-1 agreement) and the speed ratio",
        )


def check_precision_options(args: argparse.Namespace) -> None:
    """Raise PrecisionUsageError for options that make no sense together."""
    precision = getattr(args, "precision", "fp32")
    if getattr(args, "calibrate", None) is not None and precision != "int8":
        raise PrecisionUsageError("--calibrate is for --precision int8: calibration sets int8 ranges")
    if getattr(args, "calibration", None) is not None and getattr(args, "calibrate", None) is None:
        raise PrecisionUsageError("--calibration chooses how --calibrate DATA is used: give the data too")
    if getattr(args, "io", None) is not None and precision != "fp16":
        raise PrecisionUsageError("--io sets an fp16 model's input and output type: give --precision fp16 too")
    is_onnx = getattr(args, "file", "").lower().endswith(".onnx")
    if is_onnx and precision != "fp32":
        raise PrecisionUsageError(
            "--precision converts a spec's model; an .onnx file runs as it was compiled (its precision is shown)"
        )
    compare = getattr(args, "compare", None)
    if compare is None:
        return
    if compare == "fp32" and is_onnx:
        raise PrecisionUsageError(
            "an .onnx file does not say which fp32 model it came from: give that model (--compare MODEL.onnx), "
            "or run the spec with --precision"
        )
    if compare == "fp32" and precision == "fp32":
        raise PrecisionUsageError("--compare fp32 compares a converted model with fp32: give --precision fp16 or int8")
    if compare != "fp32" and not compare.lower().endswith(".onnx"):
        raise PrecisionUsageError(f"--compare takes fp32 or an .onnx model, not {compare!r}")
