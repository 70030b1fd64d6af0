"""Every hook is documented in docs/plugins.md and exercised here through a real plugin."""

from __future__ import annotations

import inspect
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import sample_plugin
import torch
from helpers import ROOT
from typer.testing import CliRunner

from zoo_core import ExportedVariant, Exporter, ExportReport, PluginError, hookimpl, hookspecs
from zoo_core.cli.app import create_app
from zoo_core.plugins import Plugins

HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("zoo_"))


@pytest.fixture
def plugins() -> Plugins:
    plugins = Plugins()
    plugins.register(sample_plugin, "sample")
    return plugins


def run(plugins: Plugins, *args: str):
    result = CliRunner().invoke(create_app(plugins), list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_implemented_and_tested(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### `{hook}", docs, re.M), f"docs/plugins.md has no section for {hook}"
    assert hasattr(sample_plugin, hook), f"tests/sample_plugin.py does not implement {hook}"
    assert f"test_hook_{hook}" in globals(), f"no test_hook_{hook} in {__file__}"


def test_hook_zoo_sources(plugins: Plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00" * 8)
    assert "pulled sampled from sample://" in run(plugins, "pull", f"sample://{weights}", "--name", "sampled")
    pulled = tmp_path / "home" / "models" / "sampled"
    assert (pulled / "weights.bin").read_bytes() == b"\x00" * 8
    assert json.loads((pulled / "zoo-manifest.json").read_text())["revision"] == "v1"
    run(plugins, "pull", f"sample://{weights}@v7", "--name", "sampled-v7")  # NAME@REV reaches a source as its revision
    assert json.loads((tmp_path / "home" / "models" / "sampled-v7" / "zoo-manifest.json").read_text())["revision"] == "v7"


def test_hook_zoo_domains(plugins: Plugins) -> None:
    assert plugins.domains()["audio"].tasks == ("audio-classification",)
    assert "domains: audio" in run(plugins, "plugins")


def test_hook_zoo_tasks(plugins: Plugins) -> None:
    assert list(plugins.tasks()["audio"]) == ["loudness"], "a domain without an adapter serves the tasks plugins add"
    adapter = plugins.task_adapter("audio", None, "a clip")[1]
    assert adapter.kind == "embedder" and not adapter.labelled and not adapter.generates
    [row] = adapter.predict_model(Path("."), ["0.5 -1.5"], [], 1)
    assert row.to_json() == {"input": "0.5 -1.5", "vector": [1.0]}
    assert "audio tasks: loudness" in run(plugins, "plugins")
    assert "task audio/loudness (plugin 'sample'): mean absolute amplitude" in run(plugins, "plugins", "loudness")


def test_hook_zoo_methods(plugins: Plugins) -> None:
    model = plugins.methods()["freeze-all"].prepare(torch.nn.Linear(2, 2), {})
    assert not any(parameter.requires_grad for parameter in model.parameters())


def test_hook_zoo_exporters(plugins: Plugins, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"hidden_size": 4}')
    (tmp_path / "out").mkdir()
    exporter = plugins.exporters()["copy"]
    report = exporter.export(tmp_path / "model", None, tmp_path / "out", {})
    assert report.variants["copy"].files == {"model": "config.json"}
    assert ExportReport.from_json(json.loads(json.dumps(report.to_json()))) == report, "the report survives zoo-export.json"
    runtime = exporter.open(tmp_path / "out", report, None, None, None)
    assert runtime.config == {"hidden_size": 4}
    assert runtime.run({"b": [2], "a": [1]}) == [[1], [2]]
    assert "exporters: copy" in run(plugins, "plugins")


def test_hook_zoo_catalogs(plugins: Plugins) -> None:
    cards = json.loads(run(plugins, "list", "--json"))
    assert [card["id"] for card in cards] == ["tiny-wav2vec2"]


def test_hook_zoo_commands(plugins: Plugins) -> None:
    assert "card-summary" in run(plugins, "--help")
    assert "prove plugins can add catalogs" in run(plugins, "card-summary", "tiny-wav2vec2")


class SameMethod:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def zoo_methods(self):
        yield sample_plugin.Method(name="lora", summary=self.name, prepare=sample_plugin.freeze_everything)


def test_two_plugins_claiming_one_name_keep_the_first_and_both_say_so() -> None:
    plugins = Plugins()
    plugins.register(SameMethod("a"), "first-lora")
    plugins.register(SameMethod("b"), "second-lora")
    assert plugins.methods()["lora"].summary == "a", "the later plugin's item is left out, nothing fails"
    shown = {info.name: (info.error, info.left_out) for info in plugins.describe()}  # `zoo plugins` shows both sides
    assert shown["first-lora"] == (None, ["kept method 'lora'; plugin 'second-lora' also provides it and was left out"])
    assert shown["second-lora"] == (None, ["method 'lora': plugin 'first-lora' provides it"])


class Misspelt:
    @hookimpl
    def zoo_method(self):  # should be zoo_methods
        yield from ()


class Crashing:
    @hookimpl
    def zoo_methods(self):
        raise RuntimeError("boom")


def test_broken_plugins_are_reported_and_the_rest_work(plugins: Plugins) -> None:
    plugins.register(Misspelt(), "misspelt")
    plugins.register(Crashing(), "crashing")
    assert "freeze-all" in plugins.methods()
    errors = {info.name: info.error for info in plugins.describe()}
    assert "unknown hook 'zoo_method'" in errors["misspelt"] and errors["misspelt"].endswith("did you mean zoo_methods?")
    assert errors["crashing"] == "zoo_methods failed: RuntimeError: boom"
    assert errors["sample"] is None
    assert "zoo_methods failed: RuntimeError: boom" in run(plugins, "plugins")


class MisbehavingExporters:
    """Two exporters with the bugs plugin authors make: a runtime returning a bare array, an export that crashes."""

    @staticmethod
    def copy_folder(model_dir: Path, adapter, out_dir: Path, options) -> ExportReport:
        shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
        return ExportReport({"fp32": ExportedVariant({"model": "config.json"}, {})}, labels=["negative", "positive"], max_length=16)

    class BareArrayRuntime:
        variant, provider = "fp32", "python"

        def __init__(self, *args) -> None:
            pass

        def run(self, inputs, graph="model"):
            return np.zeros((len(inputs["input_ids"]), 2))  # should be [array]

        def prepare(self, inputs, static=False):
            return lambda: None

    @staticmethod
    def crash(model_dir, adapter, out_dir, options):
        raise KeyError("variants")

    @hookimpl
    def zoo_exporters(self):
        yield Exporter("bare", "returns a bare array", export=self.copy_folder, open=self.BareArrayRuntime)
        yield Exporter("crash", "raises KeyError", export=self.crash, open=self.BareArrayRuntime)


def test_a_misbehaving_exporter_is_named_not_a_crash_in_zoo(tmp_path: Path) -> None:
    import zoo_nlp
    from tiny_models import tiny_bert

    plugins = Plugins()
    plugins.register(zoo_nlp, "nlp")
    plugins.register(MisbehavingExporters(), "careless")
    app = create_app(plugins)
    folder = str(tiny_bert(tmp_path / "ckpt"))
    crashed = CliRunner().invoke(app, ["export", folder, "--format", "crash", "--out", str(tmp_path / "never")])
    assert isinstance(crashed.exception, PluginError)
    assert str(crashed.exception).startswith("exporter 'crash' (plugin 'careless') failed in export: KeyError: 'variants'")
    assert not (tmp_path / "never").exists() and not list(tmp_path.glob(".never*")), "nothing half-written"
    assert CliRunner().invoke(app, ["export", folder, "--format", "bare", "--out", str(tmp_path / "bare")]).exit_code == 0
    predicted = CliRunner().invoke(app, ["predict", str(tmp_path / "bare"), "a wonderful film"])
    assert isinstance(predicted.exception, PluginError)
    assert "exporter 'bare' (plugin 'careless') returned ndarray from run, not a list of arrays" in str(predicted.exception)
