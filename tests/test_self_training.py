"""Self-training with pseudo-labels as a user runs it: a few labels, much raw data, rounds tracked
as nested MLflow runs and the best round registered. Tiny models; data generated here."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ZOO, assert_one_line_error, zoo
from tiny_models import NEGATIVE, NEUTRAL, POSITIVE, colour_images, tiny_bert, tiny_vit, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


def _client():
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")


def _reviews(count: int, seed: int, seen: bool, unseen: bool) -> list[tuple[str, str]]:
    """Generated reviews carrying a 'seen' opinion word (the first half of each list), an 'unseen' one
    (the second half), or both. Labelled data has only seen words; the raw data has both, so only
    pseudo-labels can teach a model the unseen words the validation set also uses."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choice(["positive", "negative"])
        words = POSITIVE if label == "positive" else NEGATIVE
        sentence = rng.sample(NEUTRAL, 4) + ([rng.choice(words[:4])] if seen else []) + ([rng.choice(words[4:])] if unseen else [])
        rng.shuffle(sentence)
        rows.append((" ".join(sentence), label))
    return rows


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("self-training")
    write_csv(folder / "few.csv", _reviews(48, 1, seen=True, unseen=False))
    write_csv(folder / "raw.csv", _reviews(300, 2, seen=True, unseen=True))  # its labels are there to be ignored
    write_csv(folder / "val.csv", _reviews(30, 3, seen=False, unseen=True) + _reviews(30, 4, seen=True, unseen=False))
    tiny_bert(folder / "bert", seed=1)
    return folder


def test_pseudo_labels_teach_what_the_labels_did_not(reviews: Path) -> None:
    result = zoo("finetune", str(reviews / "bert"), "--data", str(reviews / "few.csv"), "--unlabeled", str(reviews / "raw.csv"), "--val", str(reviews / "val.csv"),
                 "--method", "self-training", "--lr", "3e-3", "--confidence", "0.51", "--rounds", "2", "--register", "reviews-st", "--json")
    assert "raw.csv: its 'label' column is ignored" in result.stderr
    assert "round 1: " in result.stderr and "pseudo-labels at probability >= 0.51" in result.stderr
    outcome = json.loads(result.stdout)[0]
    rounds = outcome["rounds"]
    assert rounds[0]["examples"] == 48 and "pseudo_labels" not in rounds[0]
    assert rounds[1]["pseudo_labels"] > 100 and rounds[1]["examples"] == 48 + rounds[1]["pseudo_labels"]
    assert rounds[1]["pseudo_share_positive"] == pytest.approx(0.5)  # class-balanced
    best = max(rounds, key=lambda row: row["macro_f1"])
    assert outcome["metrics"]["macro_f1"] == best["macro_f1"] > rounds[0]["macro_f1"] + 0.05, rounds

    client = _client()
    parent = client.get_run(outcome["run_id"])
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(int(child.data.tags["zoo.round"]) for child in children) == list(range(len(rounds)))
    round_1 = next(child for child in children if child.data.tags["zoo.round"] == "1")
    assert round_1.data.metrics["pseudo_labels"] == rounds[1]["pseudo_labels"]
    assert [metric.step for metric in client.get_metric_history(parent.info.run_id, "val_macro_f1")] == list(range(len(rounds)))
    assert parent.data.params["base_method"] == "full" and parent.data.params["method.confidence"] == "0.51"
    version = client.get_model_version("reviews-st", "1")
    assert version.run_id == parent.info.run_id and version.tags["best_round"] == str(rounds.index(best))
    info = json.loads((Path(outcome["model_dir"]) / "zoo-model.json").read_text())
    assert info["run_id"] == parent.info.run_id and info["method"] == "self-training"
    assert not any(Path(os.environ["ZOO_HOME"], "runs", child.info.run_id, "model").exists() for child in children), "only the kept round's model stays"

    evaluated = json.loads(zoo("eval", "models:/reviews-st/1", "--data", str(reviews / "val.csv"), "--json").stdout)
    assert evaluated["macro_f1"] == pytest.approx(best["macro_f1"])


def test_a_round_that_keeps_nothing_stops_and_keeps_round_0(reviews: Path) -> None:
    result = zoo("finetune", str(reviews / "bert"), "--data", str(reviews / "few.csv"), "--unlabeled", str(reviews / "raw.csv"),
                 "--method", "self-training", "--epochs", "1", "--confidence", "0.999", "--register", "reviews-nothing", "--json")
    assert "rounds are compared on 5 validation rows" in result.stderr and "--val FILE" in result.stderr  # a tenth of each class of the 48 labels
    assert "round 1: no unlabelled example was predicted" in result.stderr and "stopping with round 0" in result.stderr and "--confidence" in result.stderr
    outcome = json.loads(result.stdout)[0]
    assert len(outcome["rounds"]) == 1
    assert _client().get_model_version("reviews-nothing", "1").tags["best_round"] == "0"


def test_ctrl_c_in_a_round_then_resume_keeps_the_finished_rounds(reviews: Path) -> None:
    args = ["finetune", str(reviews / "bert"), "--data", str(reviews / "few.csv"), "--unlabeled", str(reviews / "raw.csv"), "--val", str(reviews / "val.csv"),
            "--method", "self-training", "--lr", "3e-3", "--confidence", "0.51", "--rounds", "1", "--epochs", "12", "--patience", "12"]
    runs = Path(os.environ["ZOO_HOME"]) / "runs"
    known = set(runs.iterdir()) if runs.exists() else set()
    # Ctrl-C as a terminal delivers it (a test worker may ignore SIGINT, and a child inherits that)
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen([str(ZOO), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline, training = time.monotonic() + 300, []
    while time.monotonic() < deadline and not training and process.poll() is None:  # round 0 done and round 1 checkpointed
        new = [path for path in runs.iterdir() if path not in known] if runs.exists() else []
        checkpointed = [path for path in new if list(path.glob("checkpoints/checkpoint-*/trainer_state.json"))]
        if any((path / "model").is_dir() and path not in checkpointed for path in new):  # a round's checkpoints go once it is done
            training = [path for path in checkpointed if not (path / "model").exists()]
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert training and process.returncode == 130, stderr
    client = _client()
    interrupted_round = client.get_run(training[0].name)
    parent = interrupted_round.data.tags["mlflow.parentRunId"]
    assert stderr.strip().splitlines()[-1] == (
        f"error: stopped by Ctrl-C; run {parent} keeps its finished rounds and the last complete checkpoint of the one it was training; continue it with zoo finetune --resume {parent}"
    ), stderr
    assert client.get_run(parent).info.status == "FAILED"

    assert_one_line_error(zoo("finetune", "--resume", training[0].name, check=False), f"is round 1 of self-training run {parent}; continue the whole run with zoo finetune --resume {parent}")
    resumed = zoo("finetune", "--resume", parent, "--json")
    assert "round 0: trained before the interruption" in resumed.stderr and f"round 1: continuing run {training[0].name} from its last checkpoint" in resumed.stderr
    outcome = json.loads(resumed.stdout)[0]
    assert outcome["run_id"] == parent and [row["round"] for row in outcome["rounds"]] == [0, 1]
    children = client.search_runs([interrupted_round.info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(child.data.tags["zoo.round"] for child in children) == ["0", "1"], "no round trained twice"
    assert {child.info.status for child in children} == {"FINISHED"} and client.get_run(parent).info.status == "FINISHED"
    assert outcome["registered"] and outcome["metrics"]["macro_f1"] == max(row["macro_f1"] for row in outcome["rounds"])


def test_images_self_train_with_a_frozen_backbone_from_a_flat_folder(tmp_path: Path) -> None:
    labelled = colour_images(tmp_path / "few", 8, 1)
    raw = tmp_path / "raw"
    raw.mkdir()
    for index, image in enumerate(sorted(colour_images(tmp_path / "pool", 20, 2).rglob("*.png"))):
        shutil.copy(image, raw / f"{index:03d}.png")  # no class folders: nobody labelled these
    result = zoo("finetune", str(tiny_vit(tmp_path / "vit")), "--data", str(labelled), "--val", str(colour_images(tmp_path / "val", 6, 3)),
                 "--unlabeled", str(raw), "--method", "self-training", "--base-method", "freeze", "--rounds", "1", "--confidence", "0.34",
                 "--max-per-class", "5", "--epochs", "6", "--head-lr", "0.05", "--json")
    outcome = json.loads(result.stdout)[0]
    assert outcome["trainable"] < outcome["total"]  # freeze: the head alone trains
    assert "self-training: 24 labelled and 60 unlabelled examples" in result.stderr
    assert len(outcome["rounds"]) == 2, result.stderr  # 0.34: every prediction of 3 classes is confident enough
    assert outcome["rounds"][1]["pseudo_labels"] == 15 and outcome["rounds"][1]["examples"] == 24 + 15  # 5 per class
