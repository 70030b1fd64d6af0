"""A tracking server or database that is down, silent, locked or not MLflow: one line naming it, within seconds."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import assert_error_line, assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


class NotMlflow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class Locked(BaseHTTPRequestHandler):
    """An MLflow server with authentication on: /health answers, the API wants credentials."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status, body = (200, b"OK") if self.path == "/health" else (401, json.dumps({"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."}).encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def locked():
    yield from serve(Locked)


@pytest.fixture
def not_mlflow():
    yield from serve(NotMlflow)


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
    [
        ("closed", "does not answer ([Errno 111] Connection refused)"),
        ("silent", "does not answer (timed out)"),
        ("not_mlflow", "refused zoo: API request to endpoint"),
        ("locked", "refuses zoo (HTTP 401: You are not authenticated.); set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
    ],
)
def test_a_tracking_server_that_cannot_be_used_fails_fast_naming_it(server: str, message: str, request: pytest.FixtureRequest) -> None:
    uri = request.getfixturevalue(server)
    started = time.monotonic()
    result = zoo("runs", env={"MLFLOW_TRACKING_URI": uri}, check=False)
    assert time.monotonic() - started < 30
    assert_one_line_error(result, "the MLflow", f"at {uri}", message, "to use zoo's own store")


@pytest.mark.parametrize(("server", "message"), [("closed", "Connection refused"), ("silent", "timeout expired")])
def test_a_database_store_that_does_not_answer_fails_fast_naming_it(server: str, message: str, request: pytest.FixtureRequest) -> None:
    """MLflow itself retries a database connection for most of an hour; zoo gives up after seconds."""
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver comes with the test extra (zoo-models[team])")
    port = request.getfixturevalue(server).rsplit(":", 1)[1]
    uri = f"postgresql+psycopg2://zoo:secret@127.0.0.1:{port}/mlflow"
    started = time.monotonic()
    result = zoo("runs", env={"MLFLOW_TRACKING_URI": uri}, check=False)
    assert time.monotonic() - started < 30
    assert_one_line_error(result, f"the MLflow store at postgresql+psycopg2://zoo:***@127.0.0.1:{port}/mlflow does not answer", message, "start the database")
    assert "secret" not in result.stderr


def test_a_database_uri_whose_driver_is_missing_says_how_to_install_it() -> None:
    result = zoo("runs", env={"MLFLOW_TRACKING_URI": "postgresql+pg8000://zoo@127.0.0.1:1/mlflow"}, check=False)
    assert_one_line_error(result, "needs the Python database driver pg8000", "pip install 'zoo-models[team]'", "postgresql+psycopg2://")


def test_finetune_against_a_server_that_does_not_answer_fails_before_training(closed: str, tmp_path: Path) -> None:
    """Nothing is trained for nothing, and nothing half-written is left under ZOO_HOME/runs."""
    zoo("pull", str(tiny_bert(tmp_path / "ckpt")), "--name", "unreachable-bert")
    train = write_csv(tmp_path / "train.csv", sentiment_rows(64, 1))
    runs = Path(os.environ["ZOO_HOME"]) / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    started = time.monotonic()
    result = zoo("finetune", "unreachable-bert", "--data", str(train), "--method", "full", "--epochs", "1", "--json", env={"MLFLOW_TRACKING_URI": closed}, check=False)
    assert time.monotonic() - started < 30
    assert_error_line(result, f"the MLflow tracking server at {closed} does not answer", "unset it to use zoo's own store")
    assert "epoch" not in result.stderr.lower() and result.stdout == ""
    assert (set(runs.iterdir()) if runs.is_dir() else set()) == before
