"""`zoo serve` (MLflow's scoring protocol, dynamic batching) and `mlflow models serve` on the pyfunc `zoo export` registers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ZOO, assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

TEXTS = [text for text, _ in sentiment_rows(24, 7)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, payload: object, host: str = "127.0.0.1") -> tuple[int, dict, dict]:
    """Status, JSON body and headers of POST /invocations."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(f"http://{host}:{port}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_until_up(process: subprocess.Popen, port: int, path: str = "/ping", seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited early:\n{process.stderr.read() if process.stderr else ''}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"nothing answered on port {port} within {seconds} s")


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A server in the background; Ctrl-C reaches it as from a terminal (a test worker may ignore SIGINT)."""
    return subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=os.environ["ZOO_HOME"],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def same_predictions(got: list[dict], expected: list[dict]) -> None:
    assert [item["label"] for item in got] == [item["label"] for item in expected]
    for mine, theirs in zip(got, expected):
        assert mine["input"] == theirs["input"]
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-4)
        assert mine["scores"] == pytest.approx(theirs["scores"], abs=1e-4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("serve-data")
    zoo("pull", str(tiny_bert(folder / "ckpt")), "--name", "tiny-bert-serve")
    train = write_csv(folder / "train.csv", sentiment_rows(240, 1))
    zoo("finetune", "tiny-bert-serve", "--data", str(train), "--epochs", "3", "--lr", "5e-3", "--register", "reviews-serve", "--json")
    printed = zoo("export", "models:/reviews-serve/1", "--out", str(folder / "export")).stdout  # as a user reads it
    expected = json.loads(zoo("predict", str(folder / "export"), *TEXTS, "--json").stdout)
    assert {item["label"] for item in expected} == {"positive", "negative"}, "the model learnt something, so the comparison means something"
    return {"path": str(folder / "export"), "printed": printed, "served_as": "models:/reviews-serve-onnx/1", "expected": {item["input"]: item for item in expected}}


@pytest.fixture(scope="module")
def server(exported: dict) -> Iterator[dict]:
    port = free_port()
    # a long wait, so requests released together surely meet in one batch even on a busy machine
    process = start(str(ZOO), "serve", exported["path"], "--port", str(port), "--max-batch", "16", "--max-wait-ms", "200")
    try:
        wait_until_up(process, port)
        yield {"port": port, "process": process, "announced": process.stdout.readline()}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_zoo_export_registers_a_pyfunc_and_says_how_to_serve_it(exported: dict) -> None:
    assert f"zoo serve {exported['path']}\n" in exported["printed"]
    store = f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db"
    assert f"MLFLOW_TRACKING_URI={store} mlflow models serve -m models:/reviews-serve-onnx/1 --env-manager local" in exported["printed"]
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(store)
    client = MlflowClient()
    trained = client.get_model_version("reviews-serve", "1")
    assert trained.tags["pyfunc_model"] == "models:/reviews-serve-onnx/1"
    served = client.get_model_version("reviews-serve-onnx", "1")
    assert served.run_id == trained.tags["export_run"], "the pyfunc lives in the export's run, linked to training"
    assert "python_function" in mlflow.models.get_model_info("models:/reviews-serve-onnx/1").flavors
    assert client.get_model_version_download_uri("reviews-serve", "1").endswith("/model"), "training's version is still the plain model folder"


def test_the_server_says_what_it_serves_where(server: dict, exported: dict) -> None:
    line = server["announced"]
    assert line.startswith(f"serving {exported['path']} (text-classification, onnx fp32 on CPUExecutionProvider)")
    assert f"at http://127.0.0.1:{server['port']}/invocations" in line
    assert get(server["port"], "/ping") == (200, {"status": "ok"})


def test_concurrent_requests_are_batched_and_each_gets_its_own_answers(server: dict, exported: dict) -> None:
    before = get(server["port"], "/health")[1]
    requests = [TEXTS[index : index + 1 + index % 3] for index in range(0, 24, 3)]  # 8 requests of 1 to 3 texts
    answers: dict[int, tuple[int, dict, dict]] = {}
    gate = threading.Barrier(len(requests))

    def client(number: int) -> None:
        gate.wait()
        answers[number] = post(server["port"], {"inputs": requests[number]})

    threads = [threading.Thread(target=client, args=(number,)) for number in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for number, texts in enumerate(requests):
        status, body, headers = answers[number]
        assert status == 200, body
        same_predictions(body["predictions"], [exported["expected"][text] for text in texts])
        assert len(texts) <= int(headers["X-Zoo-Batch-Size"]) <= 16
    assert max(int(headers["X-Zoo-Batch-Size"]) for _, _, headers in answers.values()) > 3, "no two requests shared a runtime call"
    health = get(server["port"], "/health")[1]
    sent = sum(len(texts) for texts in requests)
    assert health["requests"] - before["requests"] == len(requests) and health["inputs"] - before["inputs"] == sent
    assert health["batches"] - before["batches"] < len(requests) and health["largest_batch"] > 3
    assert health["provider"] == "CPUExecutionProvider" and health["max_batch"] == 16


def test_mlflow_request_shapes_answer_alike(server: dict, exported: dict) -> None:
    texts = TEXTS[:2]
    expected = [exported["expected"][text] for text in texts]
    for payload in (
        {"instances": texts},
        {"dataframe_split": {"columns": ["text"], "data": [[text] for text in texts]}},
        {"dataframe_records": [{"text": text} for text in texts]},
    ):
        status, body, _ = post(server["port"], payload)
        assert status == 200, body
        same_predictions(body["predictions"], expected)


@pytest.mark.parametrize(
    "payload, fragment",
    [
        (b"{not json", "not JSON"),
        ({"texts": ["a"]}, "exactly one of inputs"),
        ({"inputs": [1, 2]}, "inputs must be texts"),
        ({"inputs": []}, "non-empty list"),
        ({"inputs": ["the film"] * 17}, "at most 16 (--max-batch)"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [["x", "y"]]}}, "one column"),
    ],
    ids=["not-json", "no-inputs", "numbers", "empty", "too-many", "two-columns"],
)
def test_a_malformed_request_gets_400_and_the_server_keeps_serving(server: dict, exported: dict, payload: object, fragment: str) -> None:
    status, body, _ = post(server["port"], payload)
    assert status == 400 and body["error_code"] == "BAD_REQUEST" and fragment in body["message"], body
    status, body, _ = post(server["port"], {"inputs": TEXTS[:1]})
    assert status == 200
    same_predictions(body["predictions"], [exported["expected"][TEXTS[0]]])


def test_a_get_of_invocations_says_to_post(server: dict) -> None:
    status, body = get(server["port"], "/invocations")
    assert status == 405 and "POST to /invocations" in body["message"]


def test_it_listens_on_loopback_only_by_default(server: dict) -> None:
    with pytest.raises(OSError):  # another loopback address reaches a 0.0.0.0 listener, not a 127.0.0.1 one
        socket.create_connection(("127.0.0.2", server["port"]), timeout=5).close()
    assert "--host 0.0.0.0" not in server["announced"]
    help_text = zoo("serve", "--help").stdout
    assert "0.0.0.0" in help_text and "127.0.0.1" in help_text


def test_one_request_at_a_time_and_ctrl_c_stops_the_server(exported: dict) -> None:
    port = free_port()
    process = start(str(ZOO), "serve", exported["path"], "--port", str(port), "--max-batch", "1")
    try:
        wait_until_up(process, port)
        status, body, headers = post(port, {"inputs": TEXTS[:1]})
        assert status == 200 and headers["X-Zoo-Batch-Size"] == "1"
        same_predictions(body["predictions"], [exported["expected"][TEXTS[0]]])
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0 and "Traceback" not in process.stderr.read()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # the port is free again


def test_mlflow_models_serve_answers_like_zoo(exported: dict) -> None:
    port = free_port()
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    # the store zoo wrote to; the venv's bin on PATH, as in an activated venv (MLflow runs `uvicorn` from PATH)
    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # its own process group: MLflow starts uvicorn as a child, and both must go at the end
    command = [mlflow, "models", "serve", "-m", exported["served_as"], "--env-manager", "local", "--port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, **store}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until_up(process, port, seconds=180)
        status, body, _ = post(port, {"inputs": TEXTS[:3]})
        assert status == 200, body
        same_predictions(body["predictions"], [exported["expected"][text] for text in TEXTS[:3]])
        status, body, _ = post(port, {"dataframe_split": {"columns": ["text"], "data": [[text] for text in TEXTS[:3]]}})
        assert status == 200, body
        same_predictions(body["predictions"], [exported["expected"][text] for text in TEXTS[:3]])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                os.killpg(process.pid, signal.SIGKILL)  # uvicorn's workers, should any outlive it


def test_serving_what_cannot_be_served_is_one_line(exported: dict, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    assert_one_line_error(zoo("serve", str(tmp_path), check=False), f"{tmp_path} is not a zoo export", f"zoo export {tmp_path}")
    assert_one_line_error(zoo("serve", "models:/reviews-serve/1", check=False), "models:/reviews-serve/1 is not a zoo export", "zoo export models:/reviews-serve/1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert_one_line_error(zoo("serve", exported["path"], "--port", str(busy), check=False), f"port {busy} on 127.0.0.1 is already in use", f"--port {busy + 1}")
    assert_one_line_error(zoo("serve", exported["path"], "--max-batch", "0", check=False), "--max-batch 0", "--max-batch 1")
