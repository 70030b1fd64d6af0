"""A tracking server that is down, silent or not MLflow: one line naming it, within seconds."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import assert_one_line_error, zoo


class NotMlflow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def not_mlflow():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotMlflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def silent():
    """Accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def closed():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("server", "message"),
    [("closed", "does not answer ([Errno 111] Connection refused)"), ("silent", "does not answer (timed out)"), ("not_mlflow", "refused zoo: API request to endpoint")],
)
def test_a_tracking_server_that_cannot_be_used_fails_fast_naming_it(server: str, message: str, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue(server)
    started = time.monotonic()
    result = zoo("runs", env={"MLFLOW_TRACKING_URI": uri}, check=False)
    assert time.monotonic() - started < 30
    assert_one_line_error(result, "the MLflow", f"at {uri}", message, "unset it to use zoo's own store")
