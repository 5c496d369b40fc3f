"""Writing output files safely: atomically, never over something that is not a regular file, and
without leaving temporary files behind.

A file is written to a hidden temporary beside it and renamed into place, so a reader sees the old
file or the new one, never half of one. The temporary is named `.NAME.PID.RANDOM.tmp`:

- any failure or interrupt (Ctrl-C, and SIGTERM/SIGHUP under the CLI, see cnndsl.signals) removes
  it while the stack unwinds;
- SIGKILL (or a power cut) gives no chance to clean up, so before writing NAME again, temporaries
  of NAME whose process no longer exists are removed. A live process's temporary is never touched;
- a long NAME is cut and tagged with a hash of itself (NAME_MAX is 255 bytes), so that an output
  name of up to 255 bytes still has a temporary name.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from .reader import file_kind
from .signals import deferred_signals, raise_if_interrupted

# Temporary names stay far below NAME_MAX (255 bytes): '.' + stem + '.' + pid + '.' + 8 random + '.tmp'.
_STEM_BYTES = 64
_STEM_KEEP = 48  # bytes of a long name kept before its hash
_RANDOM = re.compile(r"[a-z0-9_]+")  # what tempfile puts between prefix and suffix


def existing_kind(path: str) -> str | None:
    """What a write to `path` would replace: file_kind of what is there, following a symbolic link;
    None when nothing is (a dangling symbolic link is simply replaced) or it cannot be looked at."""
    try:
        return file_kind(os.stat(path).st_mode)
    except OSError:  # absent; or unreachable (too long, no permission): writing it reports why
        return None


def write_atomically(path: str, write: Callable[[IO[bytes]], int]) -> int:
    """Call `write` on a temporary file beside `path`, then rename it to `path`; return its result.

    A symbolic link at `path` is replaced by the new file (the file it pointed to is left as it is)."""
    directory, name, mode = _destination(path)
    temporary = None
    try:
        with deferred_signals():  # an interrupt must not come between creating and naming it
            fd, temporary = tempfile.mkstemp(prefix=_temporary_prefix(name), suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as out:
            size = write(out)
        os.chmod(temporary, mode)
        raise_if_interrupted()  # a signal whose exception got lost still stops the compile
        os.replace(temporary, path)
    except BaseException:  # includes KeyboardInterrupt, and cnndsl.signals.Interrupted
        if temporary is not None:
            with deferred_signals():  # a second signal must not stop the cleanup
                _remove(temporary)
        raise
    return size


def write_directory_atomically(path: str, write: Callable[[str, str], int]) -> int:
    """Call `write(directory, name)` to write `path` and `path.data` into a fresh temporary directory
    beside them, then rename both into place; return its result."""
    directory, name, mode = _destination(path)
    temporary = None
    try:
        with deferred_signals():  # an interrupt must not come between creating and naming it
            temporary = tempfile.mkdtemp(prefix=_temporary_prefix(name), suffix=".tmp", dir=directory)
        size = write(temporary, name)
        raise_if_interrupted()  # a signal whose exception got lost still stops the compile
        # Both renames or neither: new data under an old model is corrupt. The directory's lock keeps
        # another compile to the same output from putting its pair's halves between ours.
        with deferred_signals(), _directory_locked(directory):
            for file in (name + ".data", name):  # the model last: it is what refers to the data
                os.chmod(os.path.join(temporary, file), mode)
                os.replace(os.path.join(temporary, file), os.path.join(directory, file))
    finally:
        if temporary is not None:
            with deferred_signals():  # a second signal must not stop the cleanup
                shutil.rmtree(temporary, ignore_errors=True)
    return size


@contextmanager
def _directory_locked(directory: str) -> Iterator[None]:
    """An exclusive advisory lock (flock) on `directory` while the block runs, where the system has
    one; every cnndsl process renaming a model and its data file there takes it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def remove_stale_temporaries(directory: str, name: str) -> list[str]:
    """Remove the temporaries of `name` in `directory` left by processes that no longer exist
    (killed with SIGKILL, say); return their names. Errors are ignored: this is housekeeping."""
    stem = _temporary_stem(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for entry in entries:
        pid = _temporary_pid(entry, stem)
        if pid is not None and not _process_alive(pid):
            _remove(os.path.join(directory, entry))
            removed.append(entry)
    return removed


def _destination(path: str) -> tuple[str, str, int]:
    """The directory and name of `path` and the mode its new file gets; stale temporaries of that
    name, left by dead processes, are removed first."""
    directory, name = os.path.split(os.path.abspath(path))
    remove_stale_temporaries(directory, name)
    return directory, name, _file_mode(path)


def _temporary_stem(name: str) -> str:
    """'.NAME.', the start of every temporary of NAME; a long NAME becomes its first bytes and a
    hash of all of it, so that the stem is short and still belongs to NAME alone."""
    encoded = os.fsencode(name)
    if len(encoded) > _STEM_BYTES:
        encoded = encoded[:_STEM_KEEP] + b"~" + hashlib.sha256(encoded).hexdigest()[:12].encode()
    return f".{os.fsdecode(encoded)}."


def _temporary_prefix(name: str) -> str:
    """'.NAME.PID.': this process's temporaries of NAME (tempfile adds 'RANDOM.tmp')."""
    return f"{_temporary_stem(name)}{os.getpid()}."


def _temporary_pid(entry: str, stem: str) -> int | None:
    """The process id in `entry` when it is a temporary with this `stem`, else None."""
    if not (entry.startswith(stem) and entry.endswith(".tmp")):
        return None
    pid, dot, random = entry[len(stem) : -len(".tmp")].partition(".")
    # Another output's temporaries ('.a.1.PID.RANDOM.tmp' beside those of 'a') leave a dot in `random`.
    if not (dot and pid.isdigit() and _RANDOM.fullmatch(random)):
        return None
    return int(pid)


def _process_alive(pid: int) -> bool:
    """False only when the process certainly does not exist; when in doubt, alive."""
    if os.name != "posix" or pid <= 0 or pid == os.getpid():
        return True  # (on Windows os.kill would terminate the process instead of probing it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: alive, another user's
        return True
    return True


def _remove(path: str) -> None:
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _file_mode(path: str) -> int:
    """The permissions the written file gets: those of the file it replaces, else 0o666 less umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
