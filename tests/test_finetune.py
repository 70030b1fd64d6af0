"""`zoo finetune`, `zoo eval`, `zoo runs`, `zoo models`, `zoo ui` on a tiny BERT, tracked in MLflow."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import ZOO, assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

FAST = ["--lr", "5e-3", "--batch-size", "16"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    zoo("pull", str(tiny_bert(folder / "tiny-bert-ckpt")), "--name", "tiny-bert")
    return {
        "train": write_csv(folder / "train.csv", sentiment_rows(240, 1)),
        "val": write_csv(folder / "val.csv", sentiment_rows(60, 2)),
        "test": write_csv(folder / "test.csv", sentiment_rows(100, 3)),
        "folder": folder,
    }


def finetune(*args: str, **kwargs) -> list[dict]:
    return json.loads(zoo("finetune", *args, "--json", **kwargs).stdout)


def mlflow_client():
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    return MlflowClient()


@pytest.fixture(scope="module")
def trained(data: dict[str, Path]) -> list[dict]:
    """The README's flow: full fine-tune, registered as `reviews`, with a scratch baseline."""
    return finetune("tiny-bert", "--data", str(data["train"]), "--val", str(data["val"]), "--method", "full", "--epochs", "4", "--patience", "4", *FAST, "--register", "reviews", "--baseline", "scratch")


def test_finetune_trains_registers_and_compares_with_scratch(trained: list[dict]) -> None:
    pretrained, scratch = trained
    assert (pretrained["init"], scratch["init"]) == ("pretrained", "scratch")
    assert pretrained["metrics"]["accuracy"] >= 0.9, "the tiny model learns the sentiment words"
    assert pretrained["registered"] == "models:/reviews/1" and scratch["registered"] is None
    assert pretrained["trainable"] == pretrained["total"] > 0
    model_dir = Path(pretrained["model_dir"])
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "tokenizer.json").is_file()
    info = json.loads((model_dir / "zoo-model.json").read_text())
    assert info["labels"] == ["negative", "positive"] and info["base"] == "tiny-bert" and info["method"] == "full"


def test_the_run_and_version_in_mlflow(trained: list[dict], data: dict[str, Path]) -> None:
    client = mlflow_client()
    run = client.get_run(trained[0]["run_id"])
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["base_model"] == "tiny-bert" and params["method"] == "full" and params["epochs"] == "4"
    assert len(params["data_fingerprint"]) == 16 and params["labels"] == "negative,positive"
    assert float(params["lr"]) == 5e-3 and float(params["head_lr"]) == 3e-3, "the new head trains at the method's head rate"
    assert run.data.metrics["trainable_parameters"] == trained[0]["trainable"]
    assert [metric.step for metric in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2, 3, 4]
    assert run.data.tags["zoo.system.torch"] and run.data.tags["zoo.registered"] == "models:/reviews/1"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)} | {item.path for item in client.list_artifacts(run.info.run_id, "plots")}
    assert {"model", "recipe.yaml", "plots/confusion_matrix.png", "plots/learning_curve.png"} <= artifacts
    assert run.info.artifact_uri.startswith((Path(os.environ["ZOO_HOME"]) / "mlartifacts").as_uri()), "artifacts live beside the default store"
    version = client.get_model_version("reviews", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["base"] == "tiny-bert" and version.tags["method"] == "full" and version.tags["data_fingerprint"] == params["data_fingerprint"]
    sibling = client.get_run(trained[1]["run_id"])
    assert sibling.data.tags["zoo.baseline_of"] == run.info.run_id and sibling.data.params["init"] == "scratch"


def test_every_kind_of_ref_evaluates_the_same(trained: list[dict], data: dict[str, Path]) -> None:
    zoo("models", "alias", "reviews", "1", "prod")
    refs = ["models:/reviews/1", "models:/reviews@prod", f"runs:/{trained[0]['run_id']}/model", trained[0]["model_dir"]]
    results = [json.loads(zoo("eval", ref, "--data", str(data["test"]), "--json").stdout) for ref in refs]
    assert len({round(result["accuracy"], 6) for result in results}) == 1
    assert results[0]["accuracy"] >= 0.9 and results[0]["examples"] == 100
    table = zoo("eval", "models:/reviews/latest", "--data", str(data["test"])).stdout
    assert f"(100 examples): accuracy {results[0]['accuracy']:.3f}" in table, table


def test_runs_and_models_list_what_mlflow_holds(trained: list[dict]) -> None:
    runs = {run["run_id"]: run for run in json.loads(zoo("runs", "--json").stdout)}
    assert runs[trained[0]["run_id"]]["registered"] == "models:/reviews/1"
    assert runs[trained[1]["run_id"]]["init"] == "scratch"
    versions = json.loads(zoo("models", "--json").stdout)
    reviews = [version for version in versions if version["name"] == "reviews"]
    assert reviews[0]["version"] == 1 and "prod" in reviews[0]["aliases"]
    assert "models:/NAME@ALIAS" in zoo("models").stdout


def test_freeze_and_lora_train_few_parameters(data: dict[str, Path]) -> None:
    common = ["tiny-bert", "--data", str(data["train"]), "--val", str(data["val"]), "--epochs", "1", *FAST]
    [frozen] = finetune(*common, "--method", "freeze")
    assert frozen["trainable"] == 32 * 2 + 2, "only the classifier head: hidden x labels + biases"
    [unfrozen] = finetune(*common, "--method", "freeze", "--unfreeze-last", "1")
    assert frozen["trainable"] < unfrozen["trainable"] < unfrozen["total"]
    [lora] = finetune(*common, "--method", "lora", "--rank", "4")
    assert lora["trainable"] < 0.2 * lora["total"] and lora["registered"] == "models:/tiny-bert-lora/1"
    model_dir = Path(lora["model_dir"])
    assert (model_dir / "adapter" / "adapter_config.json").is_file(), "the adapter is kept"
    assert json.loads(zoo("eval", str(model_dir), "--data", str(data["test"]), "--json").stdout)["examples"] == 100, "and merged into a plain model"


def test_recipe_file_with_flags_overriding_it(data: dict[str, Path], tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"model: tiny-bert\ndata: {data['train']}\nval: {data['val']}\nmethod: freeze\nepochs: 1\nlr: 0.005\n")
    [outcome] = finetune("-c", str(recipe), "--method", "full")
    assert outcome["trainable"] == outcome["total"], "--method full won over the recipe's freeze"
    logged = mlflow_client().download_artifacts(outcome["run_id"], "recipe.yaml", str(tmp_path))
    text = Path(logged).read_text()
    assert "method: full" in text and "epochs: 1" in text


def test_ctrl_c_ends_the_run_failed(data: dict[str, Path]) -> None:
    args = ["finetune", "tiny-bert", "--data", str(data["train"]), "--epochs", "50", "--patience", "50", *FAST]
    # Ctrl-C as a terminal delivers it: a test worker may ignore SIGINT, and a child inherits that
    process = subprocess.Popen(
        [str(ZOO), *args], env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    runs = Path(os.environ["ZOO_HOME"]) / "runs"
    known = set(runs.iterdir()) if runs.exists() else set()
    deadline, started = time.monotonic() + 120, None
    while time.monotonic() < deadline and started is None:
        new = [path for path in runs.glob("*/checkpoints/checkpoint-*") if path.parents[1] not in known]
        started = new[0].parents[1].name if new else None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert started is not None and process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].endswith(f"keeps its last complete checkpoint; continue it with zoo finetune --resume {started}"), stderr
    assert mlflow_client().get_run(started).info.status == "FAILED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv"], "data file missing.csv does not exist"),
        (["--data", "{folder}/train.csv", "--method", "lora", "--target-modules", "nonexistent"], "LoRA cannot adapt this model"),
        (["--data", "{folder}/wrong-columns.csv"], "cannot tell which column holds the label; its columns are review, stars"),
        (["--data", "{folder}/train.csv", "--label-col", "grade"], "has no label column 'grade'; its columns are text, label"),
        (["--data", "{folder}/one-class.csv"], "has a single class ('positive')"),
        (["--data", "{folder}/empty.csv"], "empty.csv is empty"),
        (["--data", "{folder}/train.csv", "--method", "dance"], "unknown method 'dance'; methods are freeze, full, lora"),
        (["--data", "{folder}/train.csv", "--val", "{folder}/new-label.csv"], "validation labels never seen in training: neutral"),
        (["--data", "{folder}/one-row.csv"], "one-row.csv has 1 usable row; holding out validation rows needs at least 4; add rows (a few per label at the very least), or pass --val FILE"),
        (["--data", "{folder}/train.csv", "--register", "../x"], "'../x' cannot be a registered model name: names use ASCII letters, digits"),
    ],
    ids=["missing-file", "lora-targets", "missing-column", "wrong-column-flag", "single-class", "empty-file", "unknown-method", "unseen-val-label", "one-row", "register-name"],
)
def test_bad_training_input_is_one_line_and_starts_no_run(data: dict[str, Path], args: list[str], message: str) -> None:
    folder = data["folder"]
    write_csv(folder / "wrong-columns.csv", [("great film", "5")], header=("review", "stars"))
    write_csv(folder / "one-class.csv", [(text, "positive") for text, _ in sentiment_rows(20, 4)])
    (folder / "empty.csv").write_text("")
    write_csv(folder / "new-label.csv", [("the film", "neutral")])
    write_csv(folder / "one-row.csv", [("a great film", "positive")])
    before = len(json.loads(zoo("runs", "--json", "--limit", "1000").stdout))
    result = zoo("finetune", "tiny-bert", *[arg.format(folder=folder) for arg in args], check=False)
    assert_one_line_error(result, message)
    assert len(json.loads(zoo("runs", "--json", "--limit", "1000").stdout)) == before


def test_bad_refs_and_eval_labels(trained: list[dict], data: dict[str, Path]) -> None:
    assert_one_line_error(zoo("finetune", "no-such-model", "--data", str(data["train"]), check=False), "'no-such-model' is not a catalog name")
    assert_one_line_error(zoo("eval", "models:/reviews/99", "--data", str(data["test"]), check=False), "models:/reviews/99 does not exist")
    assert_one_line_error(zoo("eval", "./nowhere", "--data", str(data["test"]), check=False), "./nowhere does not exist")
    unseen = write_csv(data["folder"] / "unseen.csv", [("the film", "neutral")])
    assert_one_line_error(zoo("eval", "models:/reviews/1", "--data", str(unseen), check=False), "labels the model never saw in training: neutral")


def test_kill_9_then_resume_finishes_the_same_run(data: dict[str, Path]) -> None:
    # Started in the data's folder with relative paths; resumed from another folder (the helper runs in ZOO_HOME).
    args = ["finetune", "tiny-bert", "--data", "train.csv", "--val", "val.csv", "--epochs", "12", "--patience", "12", *FAST, "--register", "resumed"]
    process = subprocess.Popen([str(ZOO), *args], env=os.environ, cwd=data["folder"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = Path(os.environ["ZOO_HOME"]) / "runs"
    known = set(runs.iterdir()) if runs.exists() else set()
    deadline, checkpoint = time.monotonic() + 120, None
    while time.monotonic() < deadline and checkpoint is None:
        new = [path for path in runs.glob("*/checkpoints/checkpoint-*") if path.parents[1] not in known and (path / "trainer_state.json").exists()]
        checkpoint = new[0] if new else None
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint is not None, "training never reached its first checkpoint"
    run_id = checkpoint.parents[1].name
    assert mlflow_client().get_run(run_id).info.status == "RUNNING"

    original = data["val"].read_bytes()
    try:
        data["val"].write_bytes(original + b"an edited line,positive\r\n")
        assert_one_line_error(zoo("finetune", "--resume", run_id, check=False), f"the data of run {run_id} changed since it started", "put the files back as they were")
    finally:
        data["val"].write_bytes(original)
    [resumed] = finetune("--resume", run_id)
    assert resumed["run_id"] == run_id and resumed["registered"] == "models:/resumed/1"
    client = mlflow_client()
    assert client.get_run(run_id).info.status == "FINISHED"
    steps = [metric.step for metric in client.get_metric_history(run_id, "val_accuracy")]
    assert steps[-1] == 12 and len(set(steps)) == len(steps) >= 11, "every epoch once, the killed one possibly lost"
    assert_one_line_error(zoo("finetune", "--resume", run_id, check=False), f"run {run_id} already finished")


def test_a_sentence_embedding_checkpoint_is_mean_pooled_end_to_end(data: dict[str, Path], tmp_path: Path) -> None:
    """A sentence-transformers folder (1_Pooling says mean) trains, reloads, exports and predicts mean-pooled."""
    checkpoint = tiny_bert(tmp_path / "sentence-tiny", seed=1)
    (checkpoint / "1_Pooling").mkdir()
    (checkpoint / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}))
    [outcome] = finetune(str(checkpoint), "--data", str(data["train"]), "--val", str(data["val"]), "--epochs", "3", *FAST)
    assert outcome["metrics"]["accuracy"] >= 0.9
    config = json.loads((Path(outcome["model_dir"]) / "config.json").read_text())
    assert config["zoo_pooling"] == "mean" and config["architectures"] == ["MeanPooledBertModel"]
    from safetensors import safe_open

    with safe_open(str(Path(outcome["model_dir"]) / "model.safetensors"), "pt") as weights:
        assert not [key for key in weights.keys() if "pooler" in key], "no [CLS] pooler is built, trained or saved"
    scored = json.loads(zoo("eval", outcome["model_dir"], "--data", str(data["test"]), "--json").stdout)
    assert scored["accuracy"] == pytest.approx(outcome["metrics"]["accuracy"], abs=0.05)
    out = tmp_path / "export"
    zoo("export", outcome["model_dir"], "--out", str(out), "--data", str(data["test"]))  # validated against PyTorch
    exported = json.loads((out / "zoo-export.json").read_text())
    variants = [name for name in exported["variants"]]
    assert exported["metrics"]["pytorch"]["accuracy"] == pytest.approx(scored["accuracy"], abs=1e-6)
    assert all(exported["metrics"][name]["drop_points"] <= 1.0 for name in variants)
    predicted = json.loads(zoo("predict", str(out), "a superb gripping film", "--json").stdout)
    assert predicted[0]["label"] in ("positive", "negative")


def test_an_explicit_tracking_uri_wins(data: dict[str, Path], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    [outcome] = finetune("tiny-bert", "--data", str(data["train"]), "--epochs", "1", *FAST, env={"MLFLOW_TRACKING_URI": uri})
    ids = [run["run_id"] for run in json.loads(zoo("runs", "--json", env={"MLFLOW_TRACKING_URI": uri}).stdout)]
    assert ids == [outcome["run_id"]]
    assert not (Path(os.environ["ZOO_HOME"]) / "mlartifacts" / outcome["run_id"]).exists(), "the named store keeps its own artifacts"
    assert outcome["run_id"] not in [run["run_id"] for run in json.loads(zoo("runs", "--json", "--limit", "1000").stdout)]


def test_zoo_ui_serves_the_store(trained: list[dict]) -> None:
    port = 5000 + os.getpid() % 1000
    process = subprocess.Popen([str(ZOO), "ui", "--port", str(port)], env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        deadline, payload = time.monotonic() + 90, None
        while time.monotonic() < deadline and payload is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/search", timeout=5) as response:
                    payload = json.load(response)
            except OSError:
                time.sleep(0.5)
        assert payload is not None, "the UI never answered"
        assert "reviews" in {model["name"] for model in payload["registered_models"]}
        with socket.socket() as taken:  # the port is held: a second UI must say so, not announce another program's URL
            taken.bind(("127.0.0.1", 0))
            busy = taken.getsockname()[1]
            assert_one_line_error(zoo("ui", "--port", str(busy), check=False), f"port {busy} on 127.0.0.1 is already in use", f"--port {busy + 1}")
    finally:
        process.send_signal(signal.SIGTERM)  # to zoo alone, as a service manager would
        assert process.wait(timeout=30) == 0
    left = subprocess.run(["pgrep", "-f", f"127.0.0.1 --port {port}"], capture_output=True, text=True).stdout.split()
    assert not left, "zoo ui ended the MLflow server and its workers"
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # and the port is free again
