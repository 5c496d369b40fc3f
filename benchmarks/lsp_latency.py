"""`cnndsl lsp` latency, measured as an editor sees it: a real LSP client over stdio (pygls's).

    python -m benchmarks.lsp_latency                 # 200 edits of specs/resnet152.cnn, 200 hovers
    python -m benchmarks.lsp_latency --edits 20 --json out.json

Each edit is a `didChange` that changes one digit of the spec's last layer (`fc 1000` ->
`fc 1001` -> ...) and so a full re-check; its latency is from sending the change to receiving the
`publishDiagnostics` notification for that version. Each hover asks for a layer on a line the
spec expands to one layer (`conv1`). The first edits and hovers warm the server up and are not
counted. Reported: p50, p95 and max, in milliseconds. docs/editors.md records the figures.

`Editor` is the client the tests drive the server with too (tests/test_lsp.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 5
Result = TypeVar("Result")


class Editor:
    """The server in a subprocess (`python -m cnndsl lsp`, then `options`) and a client on an event
    loop in a thread of its own, so that tests call it synchronously. Diagnostics are kept as they come."""

    def __init__(
        self,
        initialization_options: dict[str, Any] | None = None,
        options: tuple[str, ...] = (),
        position_encodings: list[str] | None = None,
        timeout: float = 60.0,
    ):
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("cnndsl-tests", "1")
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.arrived = threading.Condition()
        self.versions: dict[str, int] = {}
        self.stderr = bytearray()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params: types.PublishDiagnosticsParams) -> None:
            with self.arrived:
                self.published.setdefault(params.uri, []).append(params)
                self.arrived.notify_all()

        self.run(self.client.start_io(sys.executable, "-m", "cnndsl", "lsp", *options, cwd=ROOT))
        asyncio.run_coroutine_threadsafe(self._drain_stderr(), self.loop)
        self.initialize_result = self.run(
            self.client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(
                        general=types.GeneralClientCapabilities(position_encodings=position_encodings)
                    ),
                    root_uri=from_fs_path(str(ROOT)),
                    initialization_options=initialization_options,
                )
            )
        )
        self.notify(self.client.initialized, types.InitializedParams())

    async def _drain_stderr(self) -> None:
        """Read the server's log, so that a full pipe never blocks it (and tests can read it)."""
        server = self.client._server
        if server is not None and server.stderr is not None:
            while chunk := await server.stderr.read(65536):
                self.stderr += chunk

    def run(self, work: Coroutine[Any, Any, Result]) -> Result:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(self.timeout)

    def notify(self, send: Any, params: Any) -> None:
        async def call() -> None:
            send(params)

        self.run(call())

    def open(self, path: str | Path, text: str | None = None) -> str:
        uri = from_fs_path(str(Path(path).resolve())) or str(path)
        text = Path(path).read_text(encoding="utf-8") if text is None else text
        self.versions[uri] = 1
        item = types.TextDocumentItem(uri=uri, language_id="cnn", version=1, text=text)
        self.notify(self.client.text_document_did_open, types.DidOpenTextDocumentParams(text_document=item))
        return uri

    def replace(self, uri: str, text: str) -> int:
        """Send the whole new text as one change; returns the document's new version."""
        self.versions[uri] += 1
        change = types.TextDocumentContentChangeWholeDocument(text=text)
        document = types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri])
        self.notify(
            self.client.text_document_did_change,
            types.DidChangeTextDocumentParams(text_document=document, content_changes=[change]),
        )
        return self.versions[uri]

    def diagnostics(self, uri: str, version: int | None = None) -> list[types.Diagnostic]:
        """The diagnostics published for `uri` at `version` (default: its latest), waiting for them."""
        wanted = self.versions.get(uri) if version is None else version

        def ready() -> types.PublishDiagnosticsParams | None:
            return next((p for p in reversed(self.published.get(uri, [])) if p.version == wanted), None)

        with self.arrived:
            if not self.arrived.wait_for(ready, self.timeout):
                raise TimeoutError(f"no diagnostics for {uri} version {wanted}")
            found = ready()
        assert found is not None
        return list(found.diagnostics)

    def hover(self, uri: str, line: int, character: int) -> str | None:
        params = types.HoverParams(text_document=_document(uri), position=types.Position(line, character))
        result = self.run(self.client.text_document_hover_async(params))
        if result is None:
            return None
        assert isinstance(result.contents, types.MarkupContent)
        return result.contents.value

    def close(self) -> None:
        """shutdown, exit, and wait for the server to end."""
        self.run(self.client.shutdown_async(None))
        self.notify(self.client.exit, None)
        self.run(self.client.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(self.timeout)


def _document(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
        "count": len(ordered),
    }


def measure(edits: int, hovers: int, spec: Path = ROOT / "specs" / "resnet152.cnn") -> dict[str, Any]:
    text = spec.read_text(encoding="utf-8")
    anchor = text.rindex("fc 1000") + len("fc ")
    hover_line = next(n for n, line in enumerate(text.splitlines()) if line.startswith("conv1:"))
    load_before = os.getloadavg()
    editor = Editor()
    try:
        uri = editor.open(spec, text)
        editor.diagnostics(uri)
        changes, hover_times = [], []
        for edit in range(WARM_UP + edits):
            changed = text[:anchor] + str(1000 + edit + 1) + text[anchor + 4 :]
            start = time.perf_counter()
            version = editor.replace(uri, changed)
            editor.diagnostics(uri, version)
            changes.append(time.perf_counter() - start)
        for _ in range(WARM_UP + hovers):
            start = time.perf_counter()
            shown = editor.hover(uri, hover_line, 10)
            hover_times.append(time.perf_counter() - start)
            assert shown is not None and "conv" in shown
    finally:
        editor.close()
    return {
        "spec": str(spec.relative_to(ROOT)),
        "cpus": os.cpu_count(),
        # Other processes on the machine inflate every figure: a load above the CPU count means waiting.
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
        "did_change_to_diagnostics_ms": percentiles([t * 1e3 for t in changes[WARM_UP:]]),
        "hover_ms": percentiles([t * 1e3 for t in hover_times[WARM_UP:]]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200, help="didChange edits measured (default 200)")
    parser.add_argument("--hovers", type=int, default=200, help="hovers measured (default 200)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.edits, args.hovers)
    load = figures["load_average_1min"]
    print(f"{figures['spec']}, {figures['cpus']} CPUs, load average {load['start']:.2f} -> {load['end']:.2f}")
    for name in ("did_change_to_diagnostics_ms", "hover_ms"):
        row = figures[name]
        print(f"{name}: p50 {row['p50']:.1f}  p95 {row['p95']:.1f}  max {row['max']:.1f}  ({row['count']} samples)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
