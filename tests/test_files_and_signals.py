"""Files written and read, and signals: what a compile leaves on disk when it is stopped (SIGTERM,
SIGHUP, Ctrl-C, SIGKILL), which paths it refuses to write or read (FIFOs, devices, inputs, the
external data file), long names, progress, E509, and message length."""

from __future__ import annotations

import io
import os
import pathlib
import re
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import cnndsl
from cnndsl import files
from cnndsl import onnx as cnndsl_onnx
from cnndsl.diagnostics import CnnError, shorten
from cnndsl.onnx import protobuf
from cnndsl.progress import ProgressLine
from cnndsl.reader import file_problem
from cnndsl.signals import Interrupted, deferred_signals, exit_status, signals_as_interrupts

SMALL = "input 3x16x16\nconv1: conv 3x3 8 pad 1 relu -> pool 2 -> flatten -> fc1: fc 10\n"
# About 540 MB of weights: over a second to write, so a signal always finds the compile writing.
BIG = "input 4096\nbig1: fc 16384 -> big2: fc 4096\n"
# Run the command line with some module constants changed (argv[1] is a Python statement).
PATCHED_CLI = (
    "import sys; from cnndsl import cli, progress; from cnndsl.onnx import protobuf; "
    "exec(sys.argv[1]); sys.exit(cli.main(sys.argv[2:]))"
)


def codes(failure: pytest.ExceptionInfo) -> list[str]:
    return [d.code for d in failure.value.diagnostics]


def leftovers(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


@pytest.fixture
def small(tmp_path) -> cnndsl.CheckedModel:
    path = tmp_path / "small.cnn"
    path.write_text(SMALL)
    return cnndsl.check_file(path)


@pytest.fixture
def big_spec(tmp_path) -> pathlib.Path:
    path = tmp_path / "big.cnn"
    path.write_text(BIG)
    return path


def start_compile(spec: pathlib.Path, output: pathlib.Path, patch: str = "") -> subprocess.Popen:
    command = [sys.executable, "-c", PATCHED_CLI, patch, "compile", str(spec), "-o", str(output)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_temporary(process: subprocess.Popen, directory: pathlib.Path) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [name for name in leftovers(directory) if name.endswith(".tmp")]
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the compile ended before writing: {process.communicate()}")
        time.sleep(0.005)
    process.kill()
    pytest.fail("no temporary file appeared")


# --- 1. signals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signum, status, said",
    [
        (signal.SIGTERM, 143, "cnndsl: interrupted (SIGTERM)"),
        (signal.SIGHUP, 129, "cnndsl: interrupted (SIGHUP)"),
        (signal.SIGINT, 130, "cnndsl: interrupted"),
    ],
)
@pytest.mark.parametrize("external", [False, True], ids=["one-file", "external-data"])
def test_a_signal_during_compile_exits_128_plus_n_and_leaves_nothing(
    big_spec, tmp_path, signum, status, said, external
):
    output = tmp_path / "big.onnx"
    process = start_compile(big_spec, output, "protobuf.PROTOBUF_LIMIT = 1000" if external else "")
    wait_for_temporary(process, tmp_path)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == status, stderr
    assert stderr.rstrip().endswith(said) and "Traceback" not in stderr
    assert leftovers(tmp_path) == [] and not output.exists() and not (tmp_path / "big.onnx.data").exists()


def test_sigkill_leaves_a_temporary_that_the_next_compile_removes(big_spec, small, tmp_path):
    output = tmp_path / "big.onnx"
    process = start_compile(big_spec, output)
    wait_for_temporary(process, tmp_path)
    process.kill()
    process.wait(timeout=30)
    (stale,) = leftovers(tmp_path)
    assert re.fullmatch(rf"\.big\.onnx\.{process.pid}\.[a-z0-9_]+\.tmp", stale)
    cnndsl_onnx.compile_file(small, output)
    assert leftovers(tmp_path) == [] and output.exists()


def test_temporaries_of_live_processes_and_of_other_outputs_are_kept(small, tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    try:
        kept = [
            f".out.onnx.{alive.pid}.abc123_x.tmp",  # a live compile's
            f".out.onnx.bak.{dead.pid}.abc123_x.tmp",  # those of 'out.onnx.bak'
            f".out.onnx.1.{dead.pid}.abc123_x.tmp",  # and of 'out.onnx.1'
            f".out.onnx.{os.getpid()}.abc123_x.tmp",
        ]  # this process's own
        stale = [f".out.onnx.{dead.pid}.abc123_x.tmp", f".out.onnx.{dead.pid}.dir_9.tmp"]
        for name in kept + stale[:1]:
            (tmp_path / name).write_bytes(b"partial")
        (tmp_path / stale[1]).mkdir()  # an external-data compile's temporary directory
        (tmp_path / stale[1] / "out.onnx.data").write_bytes(b"partial")
        cnndsl_onnx.compile_file(small, tmp_path / "out.onnx")
        assert leftovers(tmp_path) == sorted(kept)
    finally:
        alive.kill()
        alive.wait()


def test_signal_handlers_are_installed_only_inside_and_restored_after():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, signals_as_interrupts():
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted at once
    assert caught.value.signum == signal.SIGTERM and caught.value.name == "SIGTERM"
    assert isinstance(caught.value, KeyboardInterrupt) and exit_status(caught.value) == 143
    assert exit_status(KeyboardInterrupt()) == 130
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_inside_a_deferred_block_are_raised_when_it_ends():
    steps = []
    with pytest.raises(Interrupted) as caught, signals_as_interrupts() as received, deferred_signals():
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes, where Python runs signal handlers
            steps.append(len(steps))
        with deferred_signals():  # nested: only the outermost block raises
            pass
        steps.append("finished")
    assert steps[-1] == "finished" and caught.value.signum == signal.SIGHUP
    assert received == [signal.SIGHUP, signal.SIGTERM]


def test_a_signal_whose_exception_was_swallowed_still_stops_the_write(tmp_path):
    output = tmp_path / "out.onnx"
    with signals_as_interrupts():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Interrupted:
            pass  # lost, as C extensions can lose it (numpy's lazy import of numpy.random did)
        for write in (
            lambda: files.write_atomically(str(output), lambda out: out.write(b"model")),
            lambda: files.write_directory_atomically(str(output), write_two_files),
        ):
            with pytest.raises(Interrupted):
                write()
    assert list(tmp_path.iterdir()) == []


def write_two_files(directory: str, name: str) -> int:
    for file in (name, name + ".data"):
        pathlib.Path(directory, file).write_bytes(b"part")
    return 8


def test_ctrl_c_is_taken_over_only_from_pythons_own_handler():
    with signals_as_interrupts():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        with pytest.raises(KeyboardInterrupt) as caught:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        assert type(caught.value) is KeyboardInterrupt and exit_status(caught.value) == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_as_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_sighup_stays_ignored_under_nohup():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals_as_interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_the_library_leaves_signal_handlers_alone(small, tmp_path):
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    seen = []
    cnndsl_onnx.compile_file(
        small,
        tmp_path / "x.onnx",
        progress=lambda done, total: seen.append({signum: signal.getsignal(signum) for signum in before}),
    )
    assert seen and all(handlers == before for handlers in seen)


# --- 2. outputs that are not regular files ------------------------------------------------------


def test_a_fifo_or_a_device_as_output_is_refused_and_left_alone(small, tmp_path):
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    link = tmp_path / "to-pipe.onnx"
    link.symlink_to(fifo)
    for output, kind in ((fifo, "a FIFO"), (link, "a FIFO"), (pathlib.Path("/dev/null"), "a character device")):
        if not output.exists():
            continue
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(small, output)
        assert codes(failure) == ["E503"]
        assert failure.value.diagnostics[0].message == f"the output '{output}' is {kind}, not a regular file"
    assert stat.S_ISFIFO(fifo.stat().st_mode) and link.is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert leftovers(tmp_path) == []


def test_a_symbolic_link_output_is_replaced_not_written_through(small, tmp_path):
    target = tmp_path / "target.onnx"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.onnx"
    dangling.symlink_to(tmp_path / "nowhere.onnx")
    for output in (link, dangling):
        cnndsl_onnx.compile_file(small, output)
        assert not output.is_symlink() and output.stat().st_size > 1000
    assert target.read_bytes() == b"keep me" and not (tmp_path / "nowhere.onnx").exists()


# --- 3. the external data file is checked like the model --------------------------------------


def test_the_external_data_file_never_overwrites_an_input(tmp_path):
    spec = tmp_path / "m.onnx.data"
    spec.write_text(SMALL)
    model = cnndsl.check_file(spec)
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_file(model, tmp_path / "m.onnx", external_data=True)
    assert codes(failure) == ["E503"]
    assert failure.value.diagnostics[0].message == (
        f"refusing to overwrite the input '{spec}' with the model's external data"
    )
    assert spec.read_text() == SMALL and not (tmp_path / "m.onnx").exists() and leftovers(tmp_path) == []
    cnndsl_onnx.compile_file(model, tmp_path / "m.onnx")  # written inline, the data file is no concern
    assert spec.read_text() == SMALL


def test_the_external_data_file_never_overwrites_the_weights(small, tmp_path):
    arrays = {t.name: np.zeros(t.shape, np.float32) for t in cnndsl_onnx.plan(small).weights}
    weights = tmp_path / "w.onnx.data"
    with open(weights, "wb") as out:
        np.savez(out, **arrays)
    saved = weights.read_bytes()
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_file(small, tmp_path / "w.onnx", weights=weights, external_data=True)
    assert codes(failure) == ["E503"] and "'w.onnx.data'" not in failure.value.diagnostics[0].message
    assert weights.read_bytes() == saved and not (tmp_path / "w.onnx").exists()


def test_an_external_data_path_that_is_a_directory_or_fifo_is_refused(small, tmp_path):
    (tmp_path / "d.onnx.data").mkdir()
    os.mkfifo(tmp_path / "f.onnx.data")
    for name, said in (("d.onnx", "is a directory"), ("f.onnx", "is a FIFO, not a regular file")):
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(small, tmp_path / name, external_data=True)
        assert codes(failure) == ["E503"] and said in failure.value.diagnostics[0].message
        assert not (tmp_path / name).exists()
    assert stat.S_ISFIFO(os.stat(tmp_path / "f.onnx.data").st_mode) and leftovers(tmp_path) == []


# --- 4. reading: regular files only ---------------------------------------------------------------


def test_a_fifo_spec_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "spec.cnn"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "cnndsl", "check", str(fifo)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert f"error[E105]: '{fifo}' is a FIFO, not a regular file" in done.stderr


def test_a_device_spec_is_refused(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with pytest.raises(CnnError) as failure:
        cnndsl.check_file("/dev/zero")  # never ends: reading it would exhaust the size limit
    assert codes(failure) == ["E105"]
    assert failure.value.diagnostics[0].message == "'/dev/zero' is a character device, not a regular file"


def test_file_problem_names_what_is_wrong_without_opening(tmp_path):
    regular = tmp_path / "ok.cnn"
    regular.write_text(SMALL)
    os.mkfifo(tmp_path / "fifo")
    assert file_problem(regular) is None and file_problem(str(regular)) is None
    assert file_problem(tmp_path / "missing.cnn") == "no such file"
    assert file_problem(regular / "below") == "no such file"
    assert file_problem(tmp_path) == "a directory"
    assert file_problem(tmp_path / "fifo") == "a FIFO"
    assert file_problem("a\0b")  # not a path the system accepts, and no exception
    if os.path.exists("/dev/null"):
        assert file_problem("/dev/null") == "a character device"
    if os.geteuid() != 0:
        regular.chmod(0)
        assert file_problem(regular) == "permission denied"


# --- 5. long names --------------------------------------------------------------------------------


@pytest.mark.parametrize("external", [False, True])
def test_an_output_name_of_250_characters_is_written(small, tmp_path, external):
    output = tmp_path / ("n" * 245 + ".onnx")
    written = cnndsl_onnx.compile_file(small, output, external_data=external)
    assert output.exists() and os.path.getsize(output) == written.model_bytes
    assert (os.path.getsize(written.external_data) == written.data_bytes) if external else not written.data_bytes
    assert leftovers(tmp_path) == []


def test_stale_temporaries_of_a_long_name_are_removed(small, tmp_path):
    name = "n" * 245 + ".onnx"
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    stem = files._temporary_stem(name)
    assert len(stem) < 80
    (tmp_path / f"{stem}{dead.pid}.abcdefgh.tmp").write_bytes(b"partial")
    (tmp_path / f"{files._temporary_stem('m' * 245 + '.onnx')}{dead.pid}.abcdefgh.tmp").write_bytes(b"other")
    cnndsl_onnx.compile_file(small, tmp_path / name)
    assert len(leftovers(tmp_path)) == 1 and leftovers(tmp_path)[0].startswith(".mmm")


# --- 6. progress and the message naming both files ---------------------------------------------------


@pytest.mark.parametrize("external", [False, True])
def test_progress_is_called_with_growing_byte_counts(small, tmp_path, external):
    calls = []
    written = cnndsl_onnx.compile_file(
        small, tmp_path / "p.onnx", external_data=external, progress=lambda done, total: calls.append((done, total))
    )
    done = [d for d, _ in calls]
    assert len(calls) >= 3 and done == sorted(done)
    assert {t for _, t in calls} == {written.bytes} and calls[-1] == (written.bytes, written.bytes)


def test_progress_line_waits_redraws_in_place_and_clears():
    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(out, "writing x.onnx", delay=1.0, interval=0.1, clock=lambda: now[0])
    line(10_000_000, 100_000_000)
    assert out.getvalue() == ""  # under a second: nothing
    now[0] = 2.0
    line(50_000_000, 100_000_000)
    assert out.getvalue() == "\rwriting x.onnx: 50.0 of 100.0 MB (50%), 25 MB/s"
    now[0] = 2.05
    line(60_000_000, 100_000_000)  # too soon to redraw
    line(100_000_000, 100_000_000)  # but the end always is
    last = "writing x.onnx: 100.0 of 100.0 MB (100%), 49 MB/s"
    assert out.getvalue().endswith("\r" + last)
    line.clear()
    assert out.getvalue().endswith("\r" + " " * len(last) + "\r")
    assert ProgressLine.for_terminal(io.StringIO(), "x") is None


def cli_compile(spec: pathlib.Path, output: pathlib.Path, patch: str, stderr) -> subprocess.Popen:
    command = [sys.executable, "-c", PATCHED_CLI, patch, "compile", str(spec), "-o", str(output)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)


def test_progress_appears_on_a_terminal_only(tmp_path):
    spec = tmp_path / "mid.cnn"
    spec.write_text("input 1024\nfc1: fc 4096 -> fc2: fc 10\n")  # 17 MB of weights
    patch = "progress.ProgressLine.DELAY = 0"  # a fast compile would show none
    piped = cli_compile(spec, tmp_path / "a.onnx", patch, subprocess.PIPE)
    stdout, stderr = piped.communicate(timeout=60)
    assert piped.returncode == 0 and b"\r" not in stderr and b"writing" not in stderr

    controller, terminal = os.openpty()
    process = cli_compile(spec, tmp_path / "b.onnx", patch, terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0 and stdout.startswith(f"wrote {tmp_path / 'b.onnx'} (")
    assert re.search(rb"\rwriting b\.onnx: [\d.,]+ of 17\.0 MB \(\d+%\), [\d,]+ MB/s", shown), shown
    assert shown.endswith(b"\r"), shown  # erased: the next output starts on a clean line


def test_the_message_names_the_model_and_its_external_data(tmp_path):
    spec = tmp_path / "small.cnn"
    spec.write_text(SMALL)
    output = tmp_path / "m.onnx"
    process = cli_compile(spec, output, "protobuf.PROTOBUF_LIMIT = 1000", subprocess.PIPE)
    stdout, stderr = (text.decode() for text in process.communicate(timeout=60))
    assert process.returncode == 0, stderr
    assert re.fullmatch(
        rf"wrote {re.escape(str(output))} \(0\.0 MB\) and {re.escape(str(output))}\.data "
        rf"\(0\.0 MB\), 5,354 parameters, opset \d+\n",
        stdout,
    ), stdout


# --- 7. E509: a graph too big even without its weights -----------------------------------------------


def test_a_graph_over_the_protobuf_limit_without_weights_is_e509(small, tmp_path, monkeypatch):
    monkeypatch.setattr(protobuf, "PROTOBUF_LIMIT", 1000)  # so the model goes external
    monkeypatch.setattr(protobuf, "PROTOBUF_MAX_BYTES", 1000)  # and its graph alone is too big
    for external in (None, True):
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(small, tmp_path / "g.onnx", external_data=external)
        assert codes(failure) == ["E509"]
        (diagnostic,) = failure.value.diagnostics
        assert diagnostic.message == (
            "the ONNX graph exceeds protobuf's 2 GiB limit even with its weights stored externally"
        )
        assert "1,000" in diagnostic.notes[0] and diagnostic.help
    assert list(tmp_path.iterdir()) == [tmp_path / "small.cnn"]
    with pytest.raises(CnnError) as failure:
        cnndsl_onnx.compile_model(small)
    assert codes(failure) == ["E509"]
    with pytest.raises(CnnError):
        cnndsl_onnx.check_graph_size(cnndsl_onnx.plan(small))


def test_external_size_is_the_model_file_written(small, tmp_path):
    written = cnndsl_onnx.compile_file(small, tmp_path / "e.onnx", external_data=True)
    assert os.path.getsize(written.path) == cnndsl_onnx.plan(small).external_size("e.onnx") == written.model_bytes


# --- 8. long names in messages --------------------------------------------------------------------


def test_shorten_keeps_both_ends_and_says_how_long():
    assert shorten("short.onnx") == "short.onnx"
    text = "a" * 500_000 + "b" * 500_000
    shown = shorten(text)
    assert shown.startswith("aaa") and "…" in shown and shown.endswith("bbb (1,000,000 characters)")
    assert len(shown) < 110 and len(shorten(text, 20)) < 50
    assert shorten("a\nb\0\x1b[31m") == "a\\x0ab\\x00\\x1b[31m"  # control characters made visible


def test_a_huge_output_path_gives_a_short_message(small, tmp_path):
    for output in (
        str(tmp_path / ("x" * 1_000_000 + ".onnx")),
        str(tmp_path / ("d" * 1_000_000)) + "/",
        str(tmp_path / "a\0b.onnx"),
    ):
        with pytest.raises(CnnError) as failure:
            cnndsl_onnx.compile_file(small, output)
        (diagnostic,) = failure.value.diagnostics
        assert diagnostic.code == "E503" and len(diagnostic.message) < 300, diagnostic.message[:300]
    assert leftovers(tmp_path) == []


def test_a_huge_spec_path_gives_a_short_message(tmp_path):
    for path in ("y" * 1_000_000 + ".cnn", str(tmp_path / "a\0b.cnn")):
        with pytest.raises(CnnError) as failure:
            cnndsl.check_file(path)
        (diagnostic,) = failure.value.diagnostics
        assert diagnostic.code == "E105" and len(diagnostic.message) < 300
