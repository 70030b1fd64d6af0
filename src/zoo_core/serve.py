"""`zoo serve`: MLflow's scoring protocol over HTTP, with concurrent requests batched dynamically.

Each request thread hands its inputs to one `Batcher`; its worker collects requests
for up to `max_wait_ms` (or until `max_batch` inputs are waiting), runs the export's
runtime once on all of them, and hands each request its own slice of the results.
"""

from __future__ import annotations

import errno
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from zoo_core.errors import RecipeError, RefError, ZooError
from zoo_core.plugins import Plugins

MAX_BODY = 16 * 1024 * 1024
FORMATS = ("inputs", "instances", "dataframe_split", "dataframe_records")


class BadRequest(ZooError):
    """A request the server answers with 400 (MLflow's BAD_REQUEST) and then keeps serving."""


@dataclass
class _Request:
    inputs: list[Any]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[Any] | None = None
    error: Exception | None = None
    batch: int = 0


class Batcher:
    """Requests in, one `run` call per batch of them, each request's own results out."""

    def __init__(self, run: Callable[[list[Any]], list[Any]], max_batch: int, max_wait_ms: float) -> None:
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait_ms / 1000
        self.pending: queue.Queue[_Request | None] = queue.Queue()
        self.sizes: Counter[int] = Counter()  # inputs per runtime call -> how many calls had that many
        self.requests = 0
        self.lock = threading.Lock()  # the worker counts while request threads read /health
        self.worker = threading.Thread(target=self._work, name="zoo-batcher", daemon=True)
        self.worker.start()

    def submit(self, inputs: list[Any]) -> tuple[list[Any], int]:
        """This request's results, and the size of the batch they were computed in."""
        if len(inputs) > self.max_batch:
            raise BadRequest(f"{len(inputs)} inputs in one request; this server takes at most {self.max_batch} (--max-batch)", f"send {self.max_batch} or fewer per request")
        request = _Request(inputs)
        self.pending.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.results or [], request.batch

    def close(self) -> None:
        self.pending.put(None)
        self.worker.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            sizes, requests = Counter(self.sizes), self.requests
        calls = sum(sizes.values())
        inputs = sum(size * count for size, count in sizes.items())
        return {
            "requests": requests,
            "inputs": inputs,
            "batches": calls,
            "largest_batch": max(sizes, default=0),
            "mean_batch": round(inputs / calls, 2) if calls else 0.0,
            "batch_sizes": {str(size): sizes[size] for size in sorted(sizes)},
        }

    def _work(self) -> None:
        while True:
            first = self.pending.get()
            if first is None:
                return
            batch, count = [first], len(first.inputs)
            deadline = time.perf_counter() + self.max_wait
            while count < self.max_batch:
                try:
                    following = self.pending.get(timeout=max(deadline - time.perf_counter(), 0))
                except queue.Empty:
                    break
                if following is None:
                    self.pending.put(None)  # close after this batch
                    break
                if count + len(following.inputs) > self.max_batch:
                    self._run(batch)  # the next one starts a batch of its own
                    batch, count = [following], len(following.inputs)
                    deadline = time.perf_counter() + self.max_wait
                    continue
                batch.append(following)
                count += len(following.inputs)
            self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        inputs = [item for request in batch for item in request.inputs]
        try:
            results = self.run(inputs)
        except Exception as exc:
            if len(batch) > 1:  # one bad request must not fail the others: run each alone
                for request in batch:
                    self._run([request])
                return
            batch[0].error = exc
            batch[0].done.set()
            return
        with self.lock:
            self.sizes[len(inputs)] += 1
            self.requests += len(batch)
        start = 0
        for request in batch:
            request.results, request.batch = results[start : start + len(request.inputs)], len(inputs)
            start += len(request.inputs)
            request.done.set()


def parse_inputs(body: bytes) -> list[Any]:
    """The inputs of an MLflow scoring request: `inputs` or `instances` (a list), or a one-column
    `dataframe_split` / `dataframe_records` table."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not JSON", 'send {"inputs": ["a text", ...]} with Content-Type: application/json') from None
    keys = [key for key in FORMATS if isinstance(payload, dict) and key in payload]
    if len(keys) != 1:
        raise BadRequest(f"the request needs exactly one of {', '.join(FORMATS)}", 'send {"inputs": ["a text", ...]}')
    value = payload[keys[0]]
    if keys[0] == "dataframe_split":
        columns = value.get("columns") if isinstance(value, dict) else None
        if not isinstance(columns, list) or len(columns) != 1 or not isinstance(value.get("data"), list):
            raise BadRequest("dataframe_split needs one column and its data", 'send {"dataframe_split": {"columns": ["text"], "data": [["a text"], ...]}}')
        value = [row[0] if isinstance(row, list) and len(row) == 1 else row for row in value["data"]]
    elif keys[0] == "dataframe_records" or (keys[0] == "instances" and isinstance(value, list) and value and all(isinstance(row, dict) for row in value)):
        if not isinstance(value, list) or not all(isinstance(row, dict) and len(row) == 1 for row in value):
            raise BadRequest(f"{keys[0]} needs records of one column each", f'send {{"{keys[0]}": [{{"text": "a text"}}, ...]}}')
        value = [next(iter(row.values())) for row in value]
    if not isinstance(value, list) or not value:
        raise BadRequest(f"'{keys[0]}' must be a non-empty list", 'send {"inputs": ["a text", ...]}')
    wrong = next((item for item in value if not isinstance(item, str)), None)
    if wrong is not None:
        raise BadRequest(f"inputs must be texts (or image paths), not {json.dumps(wrong)[:80]}", 'send {"inputs": ["a text", ...]}')
    return value


class Server(ThreadingHTTPServer):
    """The HTTP side: /invocations through the batcher; /ping and /health say whether the model is loaded."""

    daemon_threads = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.batcher: Batcher | None = None
        self.about: dict[str, Any] = {}

    def ready(self, batcher: Batcher, about: dict[str, Any]) -> None:
        self.about, self.batcher = about, batcher


class _Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive: load generators reuse connections

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0]
        if path == "/invocations":
            return self._json(405, {"error_code": "BAD_REQUEST", "message": 'POST to /invocations, with {"inputs": [...]} as its JSON body'})
        if path not in ("/ping", "/health"):
            return self._json(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no endpoint {path}; POST /invocations, GET /ping or /health"})
        batcher = self.server.batcher
        if batcher is None:
            return self._json(503, {"status": "loading"})
        self._json(200, {"status": "ok", **self.server.about, **batcher.stats()} if path == "/health" else {"status": "ok"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?")[0] != "/invocations":
            return self._json(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no endpoint {self.path}; POST /invocations"})
        batcher = self.server.batcher
        if batcher is None:
            return self._json(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the model is still loading; retry when GET /ping answers 200"})
        try:
            header = self.headers.get("Content-Length") or "0"
            if not header.isdigit():
                raise BadRequest(f"Content-Length '{header}' is not a length", "send the JSON body with its length in bytes")
            length = int(header)
            if length > MAX_BODY:
                raise BadRequest(f"the request body has {length} bytes, more than {MAX_BODY}", "send fewer inputs per request")
            results, size = batcher.submit(parse_inputs(self.rfile.read(length)))
        except ZooError as exc:
            return self._json(400, {"error_code": "BAD_REQUEST", "message": str(exc)})
        except Exception as exc:  # the runtime failed: the server stays up and says so
            return self._json(500, {"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"[:500]})
        self._json(200, {"predictions": results}, {"X-Zoo-Batch-Size": str(size)})

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        if status >= 400 and self.command == "POST":  # its body may be unread: the connection cannot carry another request
            headers = {**(headers or {}), "Connection": "close"}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: /health counts what a log line per request would say."""


def bind(host: str, port: int) -> Server:
    """The listening server; a port in use is a one-line error naming --port."""
    try:
        return Server(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ZooError(f"port {port} on {host} is already in use", f"stop what uses it, or pass --port with a free port, e.g. --port {port + 1}") from None
        raise ZooError(f"cannot listen on {host}:{port} ({exc.strerror})", "pass --host 127.0.0.1 or another --port") from None


def serve(
    target: str, host: str, port: int, provider: str | None, variant: str | None, max_batch: int, max_wait_ms: float, plugins: Plugins, announce: Callable[[str], None]
) -> None:
    """Listen first (a port in use fails at once), load the export, then serve until Ctrl-C; /ping answers
    503 while the model loads. A REF that is not an export is refused, not exported on the fly: exporting
    would replace the user's export in ZOO_HOME/exports with a plain one at every start."""
    from zoo_core.runtime import EXPORT_INFO
    from zoo_core.predict import classify, open_classifier

    for flag, value, least in (("--max-batch", max_batch, 1), ("--max-wait-ms", max_wait_ms, 0)):
        if value < least:
            raise RecipeError(f"{flag} {value:g} is below {least}", f"pass {flag} {least} or more")
    folder = Path(target)
    if not (folder / EXPORT_INFO).is_file():
        raise RefError(f"{target} is not a zoo export (no {EXPORT_INFO})", f"make one with zoo export {target} and serve the folder it prints")
    server = bind(host, port)
    threading.Thread(target=server.serve_forever, name="zoo-http", daemon=True).start()
    batcher = None
    try:
        export, adapter, runtime = open_classifier(folder, plugins, provider, variant)
        batcher = Batcher(lambda inputs: [row.to_json() for row in classify(runtime, adapter, export, inputs)], max_batch, max_wait_ms)
        about = {"model": str(export.path), "task": export.task, "format": export.format, "variant": runtime.variant, "provider": runtime.provider, "max_batch": max_batch, "max_wait_ms": max_wait_ms}
        server.ready(batcher, about)
        announce(
            f"serving {export.path} ({export.task}, {export.format} {runtime.variant} on {runtime.provider}) at http://{host}:{port}/invocations"
            f"  (batches of up to {max_batch} inputs within {max_wait_ms:g} ms; Ctrl-C stops it)"
        )
        threading.Event().wait()  # until Ctrl-C (or SIGTERM, which the CLI turns into KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        if batcher is not None:
            batcher.close()
