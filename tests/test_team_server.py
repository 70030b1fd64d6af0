"""A team's MLflow: `mlflow server` on a real PostgreSQL, artifacts proxied by the server, zoo as a client.

PostgreSQL is a throw-away cluster (initdb into a temp dir, 127.0.0.1 on a free port, trust auth),
run as the `postgres` user when the tests run as root, since initdb refuses root.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import assert_error_line, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv


def _postgres_bin() -> Path | None:
    """The newest PostgreSQL's binaries: Debian keeps them out of PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


BIN = _postgres_bin()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(BIN is None, reason="no PostgreSQL binaries (initdb) on this machine: apt-get install postgresql (.ci/run does)")]
QUIET_SERVER = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner: zoo starts no server-side jobs, and it forks seven processes
TRAIN = ["--method", "full", "--epochs", "2", "--lr", "5e-3", "--batch-size", "16", "--json"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Postgres:
    """A throw-away cluster; superuser `zoo`, database `mlflow`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="zoo-postgres-"))  # not under pytest's root-only tmp: the postgres user must reach it
        self.port = free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.uri = f"postgresql+psycopg2://zoo@127.0.0.1:{self.port}/mlflow"
        self._owner([BIN / "initdb", "-D", self.root / "data", "-U", "zoo", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        self.start()
        self.psql("CREATE DATABASE mlflow", database="postgres")

    def _owner(self, command: list) -> None:
        subprocess.run([*self.as_owner, *map(str, command)], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._owner([BIN / "pg_ctl", "-D", self.root / "data", "-l", self.root / "log", "-o", options, "-w", "-t", "30", "start"])

    def stop(self) -> None:
        self._owner([BIN / "pg_ctl", "-D", self.root / "data", "-m", "fast", "-w", "stop"])

    def psql(self, sql: str, database: str = "mlflow") -> str:
        command = [BIN / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "zoo", "-d", database, "-tAc", sql]
        return subprocess.run(list(map(str, command)), check=True, capture_output=True, text=True, timeout=30).stdout.strip()

    def remove(self) -> None:
        subprocess.run([*self.as_owner, str(BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    cluster = Postgres()
    yield cluster
    cluster.remove()


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory):
    """`mlflow server` as a team runs it: PostgreSQL for runs and the registry, artifacts in a folder it serves."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", postgres.uri, "--artifacts-destination", str(folder / "artifacts")]
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **QUIET_SERVER}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL) if process.poll() is None else None
                pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.25)
    yield {"url": url, "artifacts": folder / "artifacts"}
    os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever of its group outlived it (uvicorn's worker)
    log.close()


def api(server_url: str, endpoint: str, **params: str) -> dict:
    """A GET on MLflow's REST API, as any client of the team's server would make it."""
    with urllib.request.urlopen(f"{server_url}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}", timeout=30) as response:
        return json.loads(response.read())


def listed(server_url: str, run_id: str, path: str = "") -> set[str]:
    return {item["path"] for item in api(server_url, "artifacts/list", run_id=run_id, path=path).get("files", [])}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("team-data")
    zoo("pull", str(tiny_bert(folder / "ckpt")), "--name", "team-bert")
    return {"train": write_csv(folder / "train.csv", sentiment_rows(240, 1)), "val": write_csv(folder / "val.csv", sentiment_rows(60, 2))}


@pytest.fixture(scope="module")
def trained(server: dict, data: dict[str, Path]) -> dict:
    result = zoo("finetune", "team-bert", "--data", str(data["train"]), "--val", str(data["val"]), *TRAIN, "--register", "team-reviews", env={"MLFLOW_TRACKING_URI": server["url"]})
    return json.loads(result.stdout)[0]


def test_the_run_its_artifacts_and_its_version_are_on_the_server_and_in_postgresql(trained: dict, server: dict, postgres: Postgres) -> None:
    url, run_id = server["url"], trained["run_id"]
    run = api(url, "runs/get", run_id=run_id)["run"]
    assert run["info"]["status"] == "FINISHED"
    params = {item["key"]: item["value"] for item in run["data"]["params"]}
    metrics = {item["key"]: item["value"] for item in run["data"]["metrics"]}
    assert params["base_model"] == "team-bert" and params["method"] == "full" and params["epochs"] == "2"
    assert metrics["final_accuracy"] == pytest.approx(trained["metrics"]["accuracy"]) and "val_accuracy" in metrics
    artifact_uri = run["info"]["artifact_uri"]
    assert artifact_uri.startswith("mlflow-artifacts:/"), "the server proxies artifacts: clients need no storage of their own"
    assert {"model", "recipe.yaml", "plots"} <= listed(url, run_id)
    assert {"plots/confusion_matrix.png", "plots/learning_curve.png"} <= listed(url, run_id, "plots")
    assert "model/model.safetensors" in listed(url, run_id, "model")
    stored = list(server["artifacts"].glob(f"**/{run_id}/artifacts/model/model.safetensors"))
    assert stored and stored[0].stat().st_size == (Path(trained["model_dir"]) / "model.safetensors").stat().st_size, "uploaded to the server's --artifacts-destination"
    version = api(url, "model-versions/get", name="team-reviews", version="1")["model_version"]
    assert version["run_id"] == run_id and version["source"] == f"{artifact_uri}/model"
    assert api(url, "registered-models/get", name="team-reviews")["registered_model"]["name"] == "team-reviews"
    # the data really is in PostgreSQL, not in a SQLite file somewhere
    assert postgres.psql(f"SELECT status FROM runs WHERE run_uuid = '{run_id}'") == "FINISHED"
    assert postgres.psql(f"SELECT count(*) FROM metrics WHERE run_uuid = '{run_id}' AND key = 'val_accuracy'") == "2", "one per epoch"
    assert postgres.psql("SELECT run_id FROM model_versions WHERE name = 'team-reviews' AND version = 1") == run_id


def test_runs_models_eval_and_ui_work_against_the_server(trained: dict, server: dict, data: dict[str, Path]) -> None:
    env = {"MLFLOW_TRACKING_URI": server["url"]}
    runs = json.loads(zoo("runs", "--json", env=env).stdout)
    assert {"run_id": trained["run_id"], "status": "FINISHED", "registered": "models:/team-reviews/1"}.items() <= next(row for row in runs if row["run_id"] == trained["run_id"]).items()
    assert server["url"] in zoo("runs", env=env).stdout
    models = json.loads(zoo("models", "--json", env=env).stdout)
    assert [(row["name"], row["version"], row["run_id"]) for row in models if row["name"] == "team-reviews"] == [("team-reviews", 1, trained["run_id"])]
    # eval downloads the registered model through the server and scores exactly what was trained
    scored = json.loads(zoo("eval", "models:/team-reviews/1", "--data", str(data["val"]), "--json", env=env).stdout)
    assert scored["examples"] == 60 and scored["accuracy"] == pytest.approx(trained["metrics"]["accuracy"])
    cached = list((Path(os.environ["ZOO_HOME"]) / "cache" / "mlflow").glob("*/model/model.safetensors"))
    assert any(path.read_bytes() == (Path(trained["model_dir"]) / "model.safetensors").read_bytes() for path in cached)
    # the server is the UI: zoo ui says where it is instead of serving a second one
    started = time.monotonic()
    shown = zoo("ui", env=env).stdout
    assert time.monotonic() - started < 30 and f"open {server['url']}/#/experiments/" in shown
    experiment = shown.split("/#/experiments/")[1].split()[0].split("?")[0]
    assert api(server["url"], "experiments/get", experiment_id=experiment)["experiment"]["name"] == "zoo"


class DyingProxy:
    """Forwards to the MLflow server until the first upload of a model file, then dies: the port
    closes mid-upload, as a server that crashes while a fine-tune logs its model."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.died_at: float | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def forward(self) -> None:
                if proxy.died_at is not None or (self.command == "PUT" and "/model/" in self.path):
                    proxy.die()
                    self.close_connection = True
                    return  # no response at all: the connection just closes
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key: value for key, value in self.headers.items() if key.lower() not in ("host", "content-length", "connection")}
                request = urllib.request.Request(f"{proxy.target}{self.path}", data=body if self.command in ("POST", "PUT", "PATCH") else None, headers=headers, method=self.command)
                try:
                    response = urllib.request.urlopen(request, timeout=60)
                except urllib.error.HTTPError as error:
                    response = error
                with response:
                    payload = response.read()
                    self.send_response(response.status)
                    for key, value in response.headers.items():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward  # noqa: N815 (http.server's naming)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def die(self) -> None:
        if self.died_at is None:
            self.died_at = time.monotonic()
            threading.Thread(target=lambda: (self.httpd.shutdown(), self.httpd.server_close()), daemon=True).start()  # then connections are refused


def test_a_server_that_dies_while_the_model_uploads_loses_nothing_and_resume_logs_it(server: dict, data: dict[str, Path]) -> None:
    proxy = DyingProxy(server["url"])
    result = zoo("finetune", "team-bert", "--data", str(data["train"]), "--val", str(data["val"]), *TRAIN, "--register", "team-lost", env={"MLFLOW_TRACKING_URI": proxy.url}, check=False)
    assert proxy.died_at is not None, result.stderr
    assert time.monotonic() - proxy.died_at < 30, "the error comes within seconds of the server dying"
    assert_error_line(result, f"the MLflow store at {proxy.url} failed during run", "the trained model is kept in", "zoo finetune --resume")
    run_id = result.stderr.split("failed during run ")[1].split()[0]
    model = Path(os.environ["ZOO_HOME"]) / "runs" / run_id / "model"
    assert str(model) in result.stderr and (model / "model.safetensors").is_file(), "the trained model stays on disk"
    assert api(server["url"], "runs/get", run_id=run_id)["run"]["info"]["status"] == "RUNNING", "the server died before the run could end"
    # the server is back (here: reached directly): --resume logs and registers the model without training again
    resumed = json.loads(zoo("finetune", "--resume", run_id, "--json", env={"MLFLOW_TRACKING_URI": server["url"]}).stdout)[0]
    assert resumed["run_id"] == run_id and resumed["registered"] == "models:/team-lost/1"
    assert api(server["url"], "runs/get", run_id=run_id)["run"]["info"]["status"] == "FINISHED"
    assert "model/model.safetensors" in listed(server["url"], run_id, "model")
    assert len(api(server["url"], "metrics/get-history", run_id=run_id, metric_key="val_accuracy")["metrics"]) == 2, "no epoch trained twice"
    assert api(server["url"], "model-versions/get", name="team-lost", version="1")["model_version"]["run_id"] == run_id


def test_a_server_whose_database_is_down_fails_fast_naming_it(server: dict, postgres: Postgres, trained: dict) -> None:
    postgres.stop()
    try:
        started = time.monotonic()
        result = zoo("runs", env={"MLFLOW_TRACKING_URI": server["url"]}, check=False)
        assert time.monotonic() - started < 30
    finally:
        postgres.start()
    assert_error_line(result, f"the MLflow tracking server at {server['url']} answers but cannot work (HTTP 503", "psycopg2.OperationalError", "the database it stores runs in")
    assert len(result.stderr.strip().splitlines()) == 1
    assert zoo("runs", "--json", env={"MLFLOW_TRACKING_URI": server["url"]}).stdout.count(trained["run_id"]) == 1, "and works again once the database is back"
