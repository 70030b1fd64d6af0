"""Token classification (NER) as a user runs it: fine-tune a tagger on JSONL or CoNLL, score it entity by
entity, print entities with their character spans from the model and from its ONNX export.

A tiny BERT with a WordPiece tokenizer trained here (names split into sub-words) learns generated
sentences (templates filled with names from lists, not real annotated text): see tiny_ner.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import assert_one_line_error, zoo
from tiny_ner import sentences, tiny_ner_bert, write_conll, write_jsonl

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

SENTENCES = ["Angela Merkel visited Paris last week .", "Ada Lovelace works for Globex in Buenos Aires ."]
SPAN = {"entity_group", "word", "start", "end"}


def _client():
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")


@pytest.fixture(scope="module")
def ner(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ner")
    write_jsonl(folder / "train.jsonl", sentences(200, 1))
    write_jsonl(folder / "test.jsonl", sentences(60, 2))
    write_conll(folder / "train.conll", sentences(60, 3))
    return {"folder": folder, "bert": tiny_ner_bert(folder / "bert")}


@pytest.fixture(scope="module")
def tuned(ner: dict[str, Path]) -> dict:
    """The tiny BERT fine-tuned (full) on generated JSONL, registered as ner-bert."""
    result = zoo("finetune", str(ner["bert"]), "--task", "token-classification", "--data", str(ner["folder"] / "train.jsonl"),
                 "--epochs", "8", "--lr", "1e-2", "--max-length", "32", "--register", "ner-bert", "--json")
    return json.loads(result.stdout)[0]


def test_fine_tuning_a_tagger_raises_entity_f1(ner: dict[str, Path], tuned: dict) -> None:
    assert tuned["registered"] == "models:/ner-bert/1"
    assert tuned["before"]["f1"] < 0.3 and tuned["metrics"]["f1"] > 0.7, tuned  # measured: 0.10 before, 0.87 after
    scores = json.loads(zoo("eval", "models:/ner-bert/1", "--data", str(ner["folder"] / "test.jsonl"), "--json").stdout)
    assert set(scores) == {"model", "data", "examples", "precision", "recall", "f1"} and scores["examples"] == 60
    assert scores["f1"] > 0.7, scores

    run = _client().get_run(tuned["run_id"])
    assert run.data.metrics["final_f1"] == pytest.approx(tuned["metrics"]["f1"])
    assert run.data.metrics["initial_f1"] == pytest.approx(tuned["before"]["f1"])
    assert run.data.params["labels"] == "B-LOC,B-ORG,B-PER,I-LOC,I-ORG,I-PER,O"
    version = _client().get_model_version("ner-bert", "1")
    assert version.tags["task"] == "token-classification" and version.run_id == tuned["run_id"]


def test_predicted_entities_have_spans_and_the_export_finds_the_same(ner: dict[str, Path], tuned: dict) -> None:
    from_model = json.loads(zoo("predict", "models:/ner-bert/1", *SENTENCES, "--json").stdout)
    first = {(entity["entity_group"], entity["word"]) for entity in from_model[0]["entities"]}
    assert {("PER", "Angela Merkel"), ("LOC", "Paris")} <= first, from_model  # "a ##ng ##ela me ##rk ##el": sub-words merged back
    for result in from_model:
        for entity in result["entities"]:
            assert result["input"][entity["start"] : entity["end"]] == entity["word"] and 0 < entity["score"] <= 1

    export = ner["folder"] / "ner-onnx"
    test = ner["folder"] / "test.jsonl"
    report = json.loads(zoo("export", "models:/ner-bert/1", "--out", str(export), "--quantize", "int8", "--data", str(test), "--accept-drop", "100", "--json").stdout)
    assert report["details"]["outputs"] == ["logits"]
    scores = report["metrics"]  # entity F1 of PyTorch and of each variant on the test sentences
    assert scores["metric"] == "f1" and scores["examples"] == 60
    assert scores["pytorch"]["f1"] == pytest.approx(json.loads(zoo("eval", "models:/ner-bert/1", "--data", str(test), "--json").stdout)["f1"])
    assert scores["fp32"]["f1"] == pytest.approx(scores["pytorch"]["f1"], abs=1e-9) and scores["fp32"]["drop_points"] == 0
    assert set(scores["int8"]) >= {"precision", "recall", "f1", "drop_points"}
    from_onnx = json.loads(zoo("predict", str(export), *SENTENCES, "--variant", "fp32", "--json").stdout)  # not the int8 graph predict would pick
    for torch_result, onnx_result in zip(from_model, from_onnx):
        assert [{key: entity[key] for key in SPAN} for entity in onnx_result["entities"]] == [{key: entity[key] for key in SPAN} for entity in torch_result["entities"]]
        assert [entity["score"] for entity in onnx_result["entities"]] == pytest.approx([entity["score"] for entity in torch_result["entities"]], abs=1e-4)


def test_conll_files_and_integer_tags_train_with_lora_and_freeze(ner: dict[str, Path]) -> None:
    conll = json.loads(zoo("finetune", str(ner["bert"]), "--task", "token-classification", "--data", str(ner["folder"] / "train.conll"), "--method", "freeze",
                           "--epochs", "1", "--max-length", "32", "--register", "ner-freeze", "--json").stdout)[0]
    assert conll["trainable"] < conll["total"] and set(conll["metrics"]) >= {"precision", "recall", "f1"}

    ids = ner["folder"] / "ids"  # the Hugging Face layout of integer tags: ClassLabel names in id order
    ids.mkdir()
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    (ids / "labels.txt").write_text("\n".join(names) + "\n")
    (ids / "train.jsonl").write_text("".join(json.dumps({"words": tokens, "tags": [names.index(tag) for tag in tags]}) + "\n" for tokens, tags in sentences(60, 4)))
    lora = json.loads(zoo("finetune", str(ner["bert"]), "--task", "token-classification", "--data", str(ids / "train.jsonl"), "--method", "lora",
                          "--epochs", "1", "--max-length", "32", "--register", "ner-lora", "--json").stdout)[0]
    assert lora["trainable"] < lora["total"]
    assert _client().get_run(lora["run_id"]).data.params["labels"] == ",".join(sorted(names))


def test_tokens_and_tags_must_line_up(ner: dict[str, Path]) -> None:
    bad = ner["folder"] / "bad"
    bad.mkdir()
    rows = [json.dumps({"tokens": tokens, "ner_tags": tags}) for tokens, tags in sentences(6, 5)]
    rows[3] = json.dumps({"tokens": ["Angela", "Merkel", "spoke"], "ner_tags": ["B-PER", "I-PER"]})
    (bad / "short.jsonl").write_text("\n".join(rows) + "\n")
    (bad / "untagged.conll").write_text("Angela B-PER\nMerkel I-PER\nspoke\n\n")
    (bad / "ids.jsonl").write_text(json.dumps({"tokens": ["Paris"], "ner_tags": [5]}) + "\n")
    finetune = ("finetune", str(ner["bert"]), "--task", "token-classification", "--data")
    assert_one_line_error(zoo(*finetune, str(bad / "short.jsonl"), check=False), "short.jsonl row 4", "3 tokens and 2 ner_tags")
    assert_one_line_error(zoo(*finetune, str(bad / "untagged.conll"), check=False), "untagged.conll line 3", "no tag")
    assert_one_line_error(zoo(*finetune, str(bad / "ids.jsonl"), check=False), "ids.jsonl", "labels.txt")


def test_a_tagged_set_on_the_hub_trains_and_then_reads_from_the_cache(ner: dict[str, Path]) -> None:
    """No annotated NER set installs offline, so the real Hub path runs against a local fake of the Hub."""
    from local_server import LocalServer

    server = LocalServer()
    try:
        server.add_repo("datasets/zoo-tests/generated-ner", {name: (ner["folder"] / name).read_bytes() for name in ("train.jsonl", "test.jsonl")})
        hub = {"HF_ENDPOINT": server.url}
        result = zoo("finetune", str(ner["bert"]), "--task", "token-classification", "--data", "hf://datasets/zoo-tests/generated-ner/train.jsonl",
                     "--epochs", "1", "--max-length", "32", "--register", "ner-hub", "--json", env=hub)
        run = _client().get_run(json.loads(result.stdout)[0]["run_id"])
        assert run.data.params["data_source"] == "hf://datasets/zoo-tests/generated-ner/train.jsonl" and run.data.params["train_examples"] == "180"
        test = "hf://datasets/zoo-tests/generated-ner@main/test.jsonl"
        online = json.loads(zoo("eval", "models:/ner-hub/1", "--data", test, "--json", env=hub).stdout)
        assert online["data"] == test and online["examples"] == 60
        server.reset_counts()
        offline = json.loads(zoo("eval", "models:/ner-hub/1", "--data", test, "--json", env={"HF_ENDPOINT": "http://127.0.0.1:9"}).stdout)
        assert offline["f1"] == online["f1"]  # the cached copy, with the Hub unreachable
        missing = zoo("eval", "models:/ner-hub/1", "--data", "hf://datasets/zoo-tests/generated-ner/dev.jsonl", env=hub, check=False)
        assert_one_line_error(missing, "the dataset zoo-tests/generated-ner@main on", "has no file dev.jsonl")
    finally:
        server.close()


def test_a_text_longer_than_the_window_is_tagged_to_its_end(ner: dict[str, Path], tuned: dict) -> None:
    long = " ".join(["Angela Merkel visited Paris and"] * 12 + ["Ada Lovelace works for Globex in Buenos Aires ."])
    from_model = json.loads(zoo("predict", "models:/ner-bert/1", long, "--json").stdout)[0]["entities"]
    export = ner["folder"] / "ner-long-onnx"
    zoo("export", "models:/ner-bert/1", "--out", str(export))
    from_export = json.loads(zoo("predict", str(export), long, "--json").stdout)[0]["entities"]
    assert [(e["entity_group"], e["start"], e["end"]) for e in from_model] == [(e["entity_group"], e["start"], e["end"]) for e in from_export]
    assert from_model[-1]["word"] == "Buenos Aires" and from_model[-1]["end"] == len(long) - 2, from_model[-3:]  # 100+ tokens, windows of 32
