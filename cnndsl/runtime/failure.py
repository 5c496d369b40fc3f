"""How running a model fails: one diagnostic, not tied to a place in a spec, as a CnnError.

E505 the device, E506 loading or running the model, E507 its input, E508 memory.
"""

from __future__ import annotations

from ..diagnostics import CnnError, error


def fail(code: str, message: str, *, notes: tuple[str, ...] = (), help: str | None = None) -> CnnError:
    return CnnError([error(code, message, None, notes=notes, help=help)])
