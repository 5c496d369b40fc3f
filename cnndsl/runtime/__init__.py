"""Running models in ONNX Runtime: sessions on a chosen device, and `cnndsl run`'s report.

One module per job: `session` (what to load, providers and devices), `run` (`cnndsl run`:
loading, timing), `inputs` (the input fed, random or from an .npy file), `memory` (the E508
estimate, checked before anything is allocated) and `report` (describing the outputs). onnxruntime
itself is imported only when a session is made. The names below are the public API.
"""

from __future__ import annotations

from .memory import default_memory_limit
from .report import OutputStat, RunReport
from .run import run_file
from .session import CPU, CUDA, DEVICES, available_providers, create_session, device_of, model_source

__all__ = [
    "CPU",
    "CUDA",
    "DEVICES",
    "OutputStat",
    "RunReport",
    "available_providers",
    "create_session",
    "default_memory_limit",
    "device_of",
    "model_source",
    "run_file",
]
