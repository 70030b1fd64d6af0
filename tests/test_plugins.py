"""`zoo plugins` and plugin loading, as installed packages."""

from __future__ import annotations

import pytest

import json
from pathlib import Path

from helpers import ROOT, assert_one_line_error, install_plugin, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv


def plugins_json(env: dict[str, str] | None = None) -> dict[str, dict]:
    return {info["name"]: info for info in json.loads(zoo("plugins", "--json", env=env).stdout)}


def test_first_party_plugins_load_through_entry_points() -> None:
    infos = plugins_json()
    for name in ("nlp", "cv", "multimodal"):
        info = infos[name]
        assert info["distribution"] == "zoo-models" and info["version"]
        assert info["hooks"] == (["zoo_catalogs", "zoo_domains", "zoo_tasks"] if name == "nlp" else ["zoo_catalogs", "zoo_domains"])
        assert info["provides"]["domains"] == [name]
        assert info["error"] is None
    table = zoo("plugins").stdout
    assert "zoo-models" in table and "domains: nlp" in table


def test_zoo_load_plugins_narrows_loading() -> None:
    env = {"ZOO_LOAD_PLUGINS": "nlp"}
    assert list(plugins_json(env)) == ["nlp"]
    cards = json.loads(zoo("list", "--json", env=env).stdout)
    assert {card["domain"] for card in cards} == {"nlp"}


def test_zoo_load_plugins_can_leave_one_out(tmp_path: Path) -> None:
    install_broken_plugin(tmp_path)
    infos = plugins_json({"PYTHONPATH": str(tmp_path), "ZOO_LOAD_PLUGINS": "-broken"})
    assert "broken" not in infos and {"nlp", "onnx", "methods"} <= set(infos)
    assert all(info["error"] is None for info in infos.values())


def test_zoo_load_plugins_naming_a_missing_plugin() -> None:
    result = zoo("list", env={"ZOO_LOAD_PLUGINS": "nlp,speech"}, check=False)
    assert_one_line_error(result, "ZOO_LOAD_PLUGINS names speech, which is not installed", "installed plugins are")


def install_broken_plugin(site: Path) -> None:
    """An installed distribution whose plugin module fails to import."""
    install_plugin(site, "broken", "import a_module_that_is_not_installed\n")


def test_a_plugin_that_fails_to_import_is_reported_and_the_cli_works(tmp_path: Path) -> None:
    install_broken_plugin(tmp_path)
    env = {"PYTHONPATH": str(tmp_path)}
    broken = plugins_json(env)["broken"]
    assert broken["distribution"] == "zoo-broken"
    assert broken["error"] == "import failed: ModuleNotFoundError: No module named 'a_module_that_is_not_installed'"
    assert "import failed" in zoo("plugins", env=env).stdout
    assert "bert-base-uncased" in zoo("list", env=env).stdout


WRONG_TYPE = """
from zoo_core import hookimpl

@hookimpl
def zoo_methods():
    yield "layernorm"   # should be a zoo_core.Method
"""


def test_a_hook_yielding_the_wrong_type_disables_that_plugin_alone(tmp_path: Path) -> None:
    install_plugin(tmp_path, "wrongtype", WRONG_TYPE)
    env = {"PYTHONPATH": str(tmp_path)}
    result = zoo("plugins", "--json", env=env)
    infos = {info["name"]: info for info in json.loads(result.stdout)}
    assert infos["wrongtype"]["error"] == "zoo_methods yielded str 'layernorm' instead of a zoo_core.Method"
    assert sorted(infos["methods"]["provides"]["methods"]) == ["freeze", "full", "lora", "self-training"] and infos["methods"]["error"] is None
    assert "zoo_methods yielded str" in zoo("plugins", env=env).stdout
    assert "bert-base-uncased" in zoo("list", env=env).stdout
    missing, folder = tmp_path / "missing.csv", str(tiny_bert(tmp_path / "ckpt"))
    # --method full still resolves: the command goes on to the next problem, the missing data
    assert_one_line_error(zoo("finetune", folder, "--method", "full", "--data", str(missing), env=env, check=False), "missing.csv")
    assert_one_line_error(
        zoo("finetune", folder, "--method", "layernorm", "--data", str(missing), env=env, check=False),
        "unknown method 'layernorm', and plugin 'wrongtype' did not load (zoo_methods yielded str",
        "use one of: freeze, full, lora",
    )


def test_asking_for_what_a_plugin_that_failed_to_import_provides_names_it(tmp_path: Path) -> None:
    install_broken_plugin(tmp_path)
    env = {"PYTHONPATH": str(tmp_path)}
    for args, kind in (
        (["finetune", "bert-base-uncased", "--method", "layernorm", "--data", "x.csv"], "method 'layernorm'"),
        (["export", "bert-base-uncased", "--format", "tflite"], "exporter 'tflite'"),
        (["pull", "s3://bucket/model"], "source 's3'"),
    ):
        assert_one_line_error(zoo(*args, env=env, check=False), f"unknown {kind}, and plugin 'broken' did not load (import failed: ModuleNotFoundError")
    result = zoo("licenses", env=env, check=False)
    assert result.returncode == 2 and "No such command 'licenses'" in result.stderr
    assert "plugin 'broken' did not load (import failed: ModuleNotFoundError" in result.stderr


PROSE_DOMAIN = """
from zoo_core import Domain, hookimpl

def _adapter(task):
    from zoo_nlp.text_classification import TextClassification
    return TextClassification()

@hookimpl
def zoo_domains():
    yield Domain(name="prose", summary="long-form text", tasks=("text-classification",), adapter=_adapter)
"""


@pytest.mark.slow  # trains
def test_finetune_domain_trains_an_uncatalogued_folder_with_a_plugin_domain(tmp_path: Path) -> None:
    install_plugin(tmp_path / "site", "prose", PROSE_DOMAIN)
    env = {"PYTHONPATH": str(tmp_path / "site")}
    folder = tiny_bert(tmp_path / "ckpt")
    train = write_csv(tmp_path / "train.csv", sentiment_rows(120, 1))
    assert_one_line_error(zoo("finetune", str(folder), "--data", str(train), "--domain", "prose", check=False), "unknown domain 'prose'")
    [outcome] = json.loads(zoo("finetune", str(folder), "--domain", "prose", "--data", str(train), "--epochs", "1", "--json", env=env).stdout)
    info = json.loads((Path(outcome["model_dir"]) / "zoo-model.json").read_text())
    assert info["domain"] == "prose"
    scores = json.loads(zoo("eval", outcome["model_dir"], "--data", str(train), "--json", env=env).stdout)
    assert scores["examples"] == 120 and 0 <= scores["accuracy"] <= 1

    (tmp_path / "mystery").mkdir()
    (tmp_path / "mystery" / "config.json").write_text('{"model_type": "wav2vec2"}')
    assert_one_line_error(
        zoo("finetune", str(tmp_path / "mystery"), "--data", str(train), check=False), "zoo cannot tell which domain", "pass --domain NAME (domains: cv, multimodal, nlp)"
    )
    for command in ("eval", "export"):  # every command that can meet such a folder has the flag the error names
        assert_one_line_error(zoo(command, str(tmp_path / "mystery"), "--data", str(train), check=False), "pass --domain NAME")
    assert_one_line_error(zoo("predict", str(tmp_path / "mystery"), "a text", check=False), "pass --domain NAME")
    for command in ("finetune", "eval", "export", "predict"):
        shown = zoo(command, "--help").stdout
        assert "--domain" in shown and "--task" in shown


def test_card_library_is_whatever_a_plugin_loads(tmp_path: Path) -> None:
    card = (ROOT / "tests" / "sample_cards" / "audio" / "tiny-wav2vec2.yaml").read_text()
    (tmp_path / "tiny-speech.yaml").write_text(card.replace("tiny-wav2vec2", "tiny-speech").replace("library: transformers", "library: speechbrain"))
    shown = json.loads(zoo("info", "tiny-speech", "--json", env={"ZOO_CATALOG": str(tmp_path)}).stdout)
    assert shown["library"] == "speechbrain"


NOT_CALLABLE = """
from zoo_core import Exporter, hookimpl

@hookimpl
def zoo_exporters():
    yield Exporter(format="half-done", summary="forgot the runtime", export=lambda *args: None, open=None)
"""


def test_a_descriptor_missing_its_callables_is_refused_at_load(tmp_path: Path) -> None:
    install_plugin(tmp_path, "halfdone", NOT_CALLABLE)
    env = {"PYTHONPATH": str(tmp_path)}
    infos = plugins_json(env)
    assert infos["halfdone"]["error"] == "zoo_exporters yielded Exporter 'half-done' whose open is not callable"
    assert "half-done" not in zoo("export", "--help", env=env).stdout
    assert "Installed formats: onnx." in " ".join(zoo("export", "--help", env=env).stdout.split())
    schemes = " ".join(zoo("pull", "--help").stdout.split())
    assert "Installed sources: hf://, https://, http://, file://, pypi://" in schemes
