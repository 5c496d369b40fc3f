"""What the command line checks of a Triton model before anything is compiled: its name, the devices
and the default batching. Kept apart from cnndsl.deploy.triton so that building the parser (every
command, `check` too) imports nothing more than `re`."""

from __future__ import annotations

import re

from ..diagnostics import shorten

DEVICE_KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}  # --device -> instance_group kind
DEFAULT_MAX_BATCH = 8
# Triton names a model by its folder: one path component, kept to what every file system and URL takes.
_MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")


def model_name_problem(name: str) -> str | None:
    """Why `name` cannot name a Triton model folder; None when it can."""
    if _MODEL_NAME.match(name):
        return None
    return (
        f"'{shorten(name, 40)}' is not a model name Triton can serve from a folder: use 1 to 64 letters, "
        "digits, '_', '.' or '-', not starting with '.' or '-'"
    )


def default_model_name(spec_name: str) -> str:
    """A model name from a spec's name: characters a folder name should not have become '_'."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec_name)[:64]
    return name if _MODEL_NAME.match(name) else ("_" + name)[:64]
