"""Extractive question answering as a user runs it: SQuAD-style data, zoo finetune --task
question-answering, zoo eval (exact match and F1), zoo predict --question/--context on a REF and
on its ONNX export. The data is generated (tests/tiny_qa.py), the BERT tiny and trained here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_one_line_error, zoo
from tiny_qa import qa_rows, tiny_qa_bert, write_jsonl, write_nested_squad

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

WINDOW = "64"  # tokens: a quarter of the contexts are longer, so their answers sit in a later window


def _client():
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("qa")
    test_rows = qa_rows(60, 2)
    return {
        "folder": folder,
        "bert": tiny_qa_bert(folder / "bert"),
        "train": write_jsonl(folder / "train.jsonl", qa_rows(300, 1)),
        "test": write_jsonl(folder / "test.jsonl", test_rows),
        "nested": write_nested_squad(folder / "test-squad.json", test_rows),
    }


@pytest.fixture(scope="module")
def trained(qa: dict[str, Path]) -> dict[str, Any]:
    """The tiny BERT fine-tuned (every weight) on 300 generated questions for 4 epochs, registered as people-qa."""
    result = zoo("finetune", str(qa["bert"]), "--task", "question-answering", "--data", str(qa["train"]), "--epochs", "4",
                 "--lr", "3e-3", "--max-length", WINDOW, "--register", "people-qa", "--json")
    return json.loads(result.stdout)[0]


def test_finetune_learns_to_answer_and_tracks_squad_scores(trained: dict[str, Any]) -> None:
    before, after = trained["before"], trained["metrics"]
    assert set(before) == {"exact_match", "f1"}, before
    assert after["exact_match"] >= 0.6 and after["f1"] >= before["f1"] + 0.4, trained
    assert trained["registered"] == "models:/people-qa/1"
    run = _client().get_run(trained["run_id"])
    assert run.data.metrics["final_exact_match"] == pytest.approx(after["exact_match"])
    assert run.data.metrics["final_f1"] == pytest.approx(after["f1"])
    assert run.data.metrics["initial_f1"] == pytest.approx(before["f1"])
    assert _client().get_model_version("people-qa", "1").tags["task"] == "question-answering"


def test_eval_scores_flat_rows_and_nested_squad_json_alike(qa: dict[str, Path], trained: dict[str, Any]) -> None:
    flat = json.loads(zoo("eval", "models:/people-qa/1", "--data", str(qa["test"]), "--json").stdout)
    assert set(flat) == {"model", "data", "examples", "exact_match", "f1"} and flat["examples"] == 60
    assert flat["exact_match"] >= 0.6, flat
    nested = zoo("eval", "models:/people-qa/1", "--data", str(qa["nested"])).stdout
    assert f"(60 examples): exact match {flat['exact_match']:.3f}, F1 {flat['f1']:.3f}" in nested, nested


def test_predict_from_the_model_and_its_export_give_the_same_spans(qa: dict[str, Path], trained: dict[str, Any]) -> None:
    long = next(row for row in qa_rows(60, 2) if len(row["context"]) > 300)  # past one window: the answer is at the end
    asked = ["--question", long["question"], "--context", long["context"]]
    questions = write_jsonl(qa["folder"] / "questions.jsonl", [{"question": row["question"], "context": row["context"]} for row in qa_rows(8, 3, long_share=0.5)])
    from_model = json.loads(zoo("predict", "models:/people-qa/1", *asked, "--file", str(questions), "--json").stdout)
    answer = from_model[0]
    assert len(from_model) == 9 and answer["question"] == long["question"]
    assert long["context"][answer["start"] : answer["end"]] == answer["answer"] and answer["start"] > 200 and 0 < answer["score"] <= 1

    export = qa["folder"] / "people-qa-onnx"
    table = zoo("export", "models:/people-qa/1", "--out", str(export), "--data", str(qa["test"]), "--accept-drop", "0").stdout
    scores = json.loads((export / "zoo-export.json").read_text())["metrics"]  # SQuAD F1 of PyTorch and the export, compared
    assert scores["metric"] == "f1" and scores["fp32"]["f1"] == pytest.approx(scores["pytorch"]["f1"], abs=1e-9) and scores["pytorch"]["exact_match"] >= 0.6
    assert f"{scores['fp32']['f1']:.3f} (+0.0 pt)" in table and "F1" in table, table
    printed = zoo("predict", str(export), *asked, "--file", str(questions)).stdout.strip().splitlines()
    from_export = [line.split("\t") for line in printed]  # answer, score, [start:end], question
    assert [(row[0], row[2], row[3]) for row in from_export] == [(row["answer"], f"[{row['start']}:{row['end']}]", row["question"]) for row in from_model]
    assert [float(row[1]) for row in from_export] == pytest.approx([row["score"] for row in from_model], abs=2e-3)


def test_lora_trains_only_adapters_and_the_span_head(qa: dict[str, Path]) -> None:
    result = zoo("finetune", str(qa["bert"]), "--task", "question-answering", "--method", "lora", "--data", str(qa["test"]), "--epochs", "1",
                 "--max-length", WINDOW, "--register", "people-qa-lora", "--json")
    [outcome] = json.loads(result.stdout)
    assert 0 < outcome["trainable"] < outcome["total"] / 4 and outcome["registered"] == "models:/people-qa-lora/1"
    assert {"exact_match", "f1"} <= set(outcome["metrics"])
    assert (Path(outcome["model_dir"]) / "adapter" / "adapter_config.json").is_file()


def test_an_answer_start_that_misses_the_answer_is_one_line(qa: dict[str, Path]) -> None:
    rows = qa_rows(6, 4)
    rows[3]["answers"]["answer_start"] = [rows[3]["answers"]["answer_start"][0] + 2]
    bad = write_jsonl(qa["folder"] / "shifted.jsonl", rows)
    result = zoo("finetune", str(qa["bert"]), "--task", "question-answering", "--data", str(bad), check=False)
    assert_one_line_error(result, "shifted.jsonl: line 4", repr(rows[3]["answers"]["text"][0]), "set answer_start to")


def test_squad_scores_normalise_answers_like_the_official_script() -> None:
    from zoo_nlp.question_answering import squad_scores

    scores = squad_scores(["the Cape Town!", "Blue Harbor", "Oslo"], [["Cape Town"], ["Blue Harbor Bank"], ["Lima", "oslo."]])
    assert scores["exact_match"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx((1 + 0.8 + 1) / 3)
