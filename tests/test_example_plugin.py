"""The third-party example plugin, installed as a user would install it."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ROOT, assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv
from transformers import BertConfig, BertForSequenceClassification

from zoo_core.plugins import load_plugins

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install` the example into a throwaway folder (a copy, so the repo stays clean)."""
    work = tmp_path_factory.mktemp("example")
    shutil.copytree(ROOT / "examples" / "zoo-plugin-example", work / "src")
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(work / "src")],
        check=True,
        capture_output=True,
    )
    return target


def test_installed_plugin_shows_in_plugins_help_and_works(site: Path) -> None:
    env = {"PYTHONPATH": str(site)}
    infos = {info["name"]: info for info in json.loads(zoo("plugins", "--json", env=env).stdout)}
    bitfit = infos["bitfit"]
    assert (bitfit["distribution"], bitfit["version"]) == ("zoo-plugin-example", "0.1.0")
    assert bitfit["provides"]["methods"] == ["bitfit"]
    assert bitfit["provides"]["commands"] == ["licenses"]
    assert "licenses" in zoo("--help", env=env).stdout
    counts = json.loads(zoo("licenses", "--json", env=env).stdout)
    catalog = json.loads(zoo("list", "--json").stdout)
    assert sum(counts.values()) == len(catalog)
    assert counts["apache-2.0"] == sum(card["license"] == "apache-2.0" for card in catalog)
    assert "licenses" not in zoo("--help").stdout, "not installed, not there"


def test_bitfit_trains_only_biases_and_the_head(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    method = load_plugins().methods()["bitfit"]
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, num_labels=2)
    torch.manual_seed(0)
    model = method.prepare(BertForSequenceClassification(config), {})
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all(name.endswith("bias") or name.startswith("classifier.") for name in trainable)
    assert "classifier.weight" in trainable and "bert.embeddings.word_embeddings.weight" not in trainable

    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(input_ids=torch.randint(0, 64, (4, 8)), labels=torch.tensor([0, 1, 0, 1])).loss
    loss.backward()
    optimizer.step()
    changed = {name for name, parameter in model.named_parameters() if not torch.equal(parameter, before[name])}
    assert changed == trainable
    assert method.options().model_validate({}).bias_lr is None and method.options().model_validate({"bias_lr": "0.01"}).bias_lr == 0.01
    assert method.lr_for("bert.encoder.layer.0.output.dense.bias", {"bias_lr": 0.01}) == 0.01, "biases train at bias_lr"
    assert method.lr_for("bert.encoder.layer.0.output.dense.weight", {"bias_lr": 0.01}) is None


def test_torchscript_export_predicts_and_benchmarks_like_an_onnx_one(site: Path, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(site)}
    zoo("pull", str(tiny_bert(tmp_path / "ckpt")), "--name", "tiny-bert-torchscript")
    train = write_csv(tmp_path / "train.csv", sentiment_rows(240, 1))
    test = write_csv(tmp_path / "test.csv", sentiment_rows(100, 3))
    [trained] = json.loads(zoo("finetune", "tiny-bert-torchscript", "--data", str(train), "--epochs", "4", "--lr", "5e-3", "--register", "sentiment-ts", "--json").stdout)
    assert "torchscript" in zoo("export", "--help", env=env).stdout, "installed formats are listed"

    out = tmp_path / "ts"
    exported = json.loads(zoo("export", "models:/sentiment-ts/1", "--format", "torchscript", "--data", str(test), "--out", str(out), "--json", env=env).stdout)
    assert exported["format"] == "torchscript" and (out / "model.pt").is_file() and (out / "tokenizer.json").is_file()
    assert exported["variants"]["fp32"]["max_abs_diff"]["logits"] < 1e-4
    assert exported["metrics"]["fp32"]["accuracy"] == exported["metrics"]["pytorch"]["accuracy"] >= 0.9
    assert exported["metrics"]["fp32"]["provider"] == "torch cpu"
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    client = MlflowClient()
    training = client.get_run(trained["run_id"])
    assert training.data.tags["zoo.export"] == str(out)
    assert {item.path for item in client.list_artifacts(training.data.tags["zoo.export_run"], "export")} >= {"export/model.pt", "export/zoo-export.json"}
    assert client.get_model_version("sentiment-ts", "1").tags["torchscript_export"] == str(out)

    predicted = zoo("predict", str(out), "the film was wonderful", "a dull and boring plot", env=env)
    assert [line.split("\t")[0] for line in predicted.stdout.splitlines()] == ["positive", "negative"]
    assert "torchscript fp32 on torch cpu" in predicted.stderr
    onnx_out = tmp_path / "onnx"
    zoo("export", trained["model_dir"], "--out", str(onnx_out))
    texts = ["a superb cast", "an awful ending"]
    scripted = json.loads(zoo("predict", str(out), *texts, "--json", env=env).stdout)
    graphed = json.loads(zoo("predict", str(onnx_out), *texts, "--json", "--variant", "fp32").stdout)
    for script, graph in zip(scripted, graphed, strict=True):
        assert abs(script["scores"]["positive"] - graph["scores"]["positive"]) < 1e-4, "both formats give the model's answer"

    bench = json.loads(zoo("bench", str(out), "--batch", "1,4", "--length", "16", "--runs", "3", "--rounds", "2", "--threads", "1", "--json", env=env).stdout)
    assert {(row["batch"], row["engine"]) for row in bench["rows"]} == {(batch, engine) for batch in (1, 4) for engine in ("pytorch eager", "torchscript fp32")}
    assert bench["format"] == "torchscript" and all(row["median_ms"] > 0 for row in bench["rows"])

    refused = tmp_path / "refused"
    assert_one_line_error(zoo("export", trained["model_dir"], "--format", "torchscript", "--quantize", "int8", "--out", str(refused), check=False, env=env), "--quantize is an option of exporter onnx, not of exporter torchscript", "add --format onnx, or drop --quantize")
    assert not refused.exists() and not list(tmp_path.glob(".refused*")), "nothing half-written"
    assert_one_line_error(zoo("predict", str(out), "text", check=False), "unknown exporter 'torchscript'", "exporters are onnx")
