"""`zoo finetune --nproc 2`: two CPU processes (DDP over gloo) train one model, tracked as one run by rank 0."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ZOO, assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

TRAIN_ROWS, BATCH = 240, 16


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ddp")
    zoo("pull", str(tiny_bert(folder / "ckpt")), "--name", "tiny-bert-ddp")
    return {"checkpoint": folder / "ckpt", "train": write_csv(folder / "train.csv", sentiment_rows(TRAIN_ROWS, 1)), "val": write_csv(folder / "val.csv", sentiment_rows(60, 2))}


def train_args(data: dict[str, Path], *more: str) -> list[str]:
    return ["finetune", "tiny-bert-ddp", "--data", str(data["train"]), "--val", str(data["val"]), "--lr", "5e-3", "--batch-size", str(BATCH), "--nproc", "2", *more]


def mlflow_client():
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    return MlflowClient()


def test_two_processes_train_one_run_that_resumes_after_ctrl_c(data: dict[str, Path]) -> None:
    client = mlflow_client()
    runs = Path(os.environ["ZOO_HOME"]) / "runs"
    known = set(runs.iterdir()) if runs.exists() else set()
    process = subprocess.Popen(
        [str(ZOO), *train_args(data, "--epochs", "4", "--patience", "4", "--register", "ddp")],
        env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline, started = time.monotonic() + 120, None
    while time.monotonic() < deadline and started is None and process.poll() is None:
        done = [path for path in runs.glob("*/checkpoints/checkpoint-*/trainer_state.json") if path.parents[2] not in known]
        started = done[0].parents[2].name if done else None
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal delivers Ctrl-C: to the launcher and its workers
    _, stderr = process.communicate(timeout=60)
    assert started is not None and process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: stopped by Ctrl-C; run {started} keeps its last complete checkpoint; continue it with zoo finetune --resume {started} and the same --nproc/--nnodes flags"
    )
    assert {path.name for path in runs.iterdir()} - {path.name for path in known} == {started}, "every process checkpoints into rank 0's run"

    [outcome] = json.loads(zoo("finetune", "--resume", started, "--nproc", "2", "--json").stdout)
    assert outcome["run_id"] == started and outcome["registered"] == "models:/ddp/1"
    assert outcome["metrics"]["accuracy"] >= 0.9, "the two processes together learn the sentiment words"
    run = client.get_run(started)
    assert run.info.status == "FINISHED"
    assert [other.info.run_id for other in client.search_runs([run.info.experiment_id], "tags.zoo.base = 'tiny-bert-ddp'")] == [started], "only rank 0 logs"
    assert run.data.params["world_size"] == "2" and run.data.params["batch_size"] == str(BATCH)
    assert run.data.metrics["optimizer_steps"] == 4 * math.ceil(TRAIN_ROWS / BATCH), "each step takes one global batch, split over the processes; the resumed run finishes the schedule"
    assert len(client.search_model_versions("name='ddp'")) == 1
    assert (Path(outcome["model_dir"]) / "model.safetensors").is_file()


def test_two_nodes_each_run_the_command_and_node_0_logs(data: dict[str, Path], tmp_path: Path) -> None:
    """Two "machines" on one: each its own ZOO_HOME, meeting at node 0's address and port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [*train_args(data, "--epochs", "2", "--register", "ddp-nodes", "--json"), "--nproc", "1", "--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", str(port)]
    args[1] = str(data["checkpoint"])  # a folder both machines have
    other_home = tmp_path / "node-1"
    node_1 = subprocess.Popen([str(ZOO), *args, "--node-rank", "1"], env={**os.environ, "ZOO_HOME": str(other_home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    [outcome] = json.loads(zoo(*args, "--node-rank", "0").stdout)
    stdout, stderr = node_1.communicate(timeout=120)
    assert node_1.returncode == 0 and json.loads(stdout) == [], stderr
    assert outcome["registered"] == "models:/ddp-nodes/1"
    assert mlflow_client().get_run(outcome["run_id"]).data.metrics["optimizer_steps"] == 2 * math.ceil(TRAIN_ROWS / BATCH), "one global batch a step, half on each node"
    assert not (other_home / "mlflow.db").exists(), "node 1 logs nothing"
    assert list((other_home / "runs" / outcome["run_id"] / "checkpoints").glob("checkpoint-*/rng_state_1.pth")), "node 1 checkpoints on its own disk, to resume from"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nproc", "0"], "--nproc 0 starts no process; pass --nproc 1 or more"),
        (["--nproc", "1", "--nnodes", "2"], "--nnodes 2 needs the address of node 0; pass --master-addr HOST"),
        (["--nnodes", "2", "--node-rank", "2", "--master-addr", "10.0.0.1"], "--node-rank 2 is not one of the 2 nodes; pass --node-rank from 0 to 1"),
        (["--batch-size", "15"], "--batch-size 15 does not split evenly over 2 processes; pass --batch-size 14 or 16"),
        (["--nproc", "1", "--node-rank", "1", "--master-addr", "10.0.0.1"], "--node-rank 1 is a machine of a multi-node run, but --nnodes is 1; pass --nnodes N"),
        (["--nproc", "1", "--master-port", "29600"], "this one has a single process; add --nproc N"),
        (["--master-port", "70000"], "--master-port 70000 is not a port"),
        (["--method", "dance"], "unknown method 'dance'"),
        (["--method", "self-training", "--unlabeled", "raw.csv"], "--method self-training trains its rounds in one process; drop --nproc and --nnodes"),
    ],
)
def test_bad_distributed_input_fails_before_any_process_starts(data: dict[str, Path], args: list[str], message: str) -> None:
    result = zoo(*train_args(data), *args, check=False)
    assert_one_line_error(result, message)
    assert "launching" not in result.stderr
