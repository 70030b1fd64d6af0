"""The third-party example plugin, installed as a user would install it."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ROOT, zoo
from transformers import BertConfig, BertForSequenceClassification

from zoo_core.plugins import load_plugins


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
