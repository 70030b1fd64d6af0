"""No plugin can take zoo down: clashes, commands Typer cannot build, crashing hooks and
commands, and slow imports each leave the rest of zoo working, with one line naming the plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error, install_plugin, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

CLASHING = '''
from pathlib import Path

from zoo_core import Domain, Exporter, Method, Source, Task, hookimpl

def _noop(*args):
    raise RuntimeError("never called")

@hookimpl
def zoo_methods():
    yield Method(name="lora", summary="a second lora", prepare=_noop)
    yield Method(name="explode", summary="a method whose prepare crashes", prepare=_noop)

@hookimpl
def zoo_exporters():
    yield Exporter(format="onnx", summary="a second onnx", export=_noop, open=_noop)

@hookimpl
def zoo_sources():
    yield Source(scheme="hf", summary="a second hf", fetch=_noop)

@hookimpl
def zoo_domains():
    yield Domain(name="cv", summary="a second cv", tasks=("image-classification",), adapter=_noop)

@hookimpl
def zoo_tasks():
    yield Task(domain="nlp", name="text-classification", summary="a second one", adapter=_noop)
    yield Task(domain="audio", name="keyword-spotting", summary="no such domain", adapter=_noop)

@hookimpl
def zoo_catalogs():
    yield Path(__file__).parent / "clashing_cards"
'''

COMMANDS = '''
from zoo_core import hookimpl

@hookimpl
def zoo_commands(app):
    @app.command("list")
    def my_list():
        print("taken over")

    @app.command()
    def unbuildable(value: object):
        print(value)

    @app.command()
    def explode():
        raise ValueError("kaboom")

    @app.command()
    def fine():
        print("fine works")
'''

SLOW = '''
import time

time.sleep(0.5)

from zoo_core import Method, hookimpl

@hookimpl
def zoo_methods():
    yield Method(name="sleepy", summary="imports slowly", prepare=lambda model, options: model)
'''


def plugins_json(env: dict[str, str]) -> dict[str, dict]:
    return {info["name"]: info for info in json.loads(zoo("plugins", "--json", env=env).stdout)}


def assert_zoo_still_works(env: dict[str, str], tmp_path: Path) -> None:
    """`zoo --help`, `zoo list`, `zoo plugins` and `zoo finetune --method full` (up to its data check)."""
    assert "finetune" in zoo("--help", env=env).stdout
    assert "bert-base-uncased" in zoo("list", env=env).stdout
    assert zoo("plugins", env=env).returncode == 0
    missing = tmp_path / "missing.csv"
    assert_one_line_error(zoo("finetune", str(tiny_bert(tmp_path / "ckpt")), "--method", "full", "--data", str(missing), env=env, check=False), "missing.csv")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return tmp_path / "site"


def test_every_kind_of_name_clash_leaves_the_later_item_out_and_both_sides_say_so(site: Path, tmp_path: Path) -> None:
    install_plugin(site, "clashing", CLASHING)
    cards = site / "clashing_cards"
    cards.mkdir()
    (cards / "bert-base-uncased.yaml").write_text((Path(__file__).parents[1] / "zoo" / "nlp" / "bert-base-uncased.yaml").read_text().replace("summary:", "summary: a copy;"))
    env = {"PYTHONPATH": str(site)}
    assert_zoo_still_works(env, tmp_path)
    infos = plugins_json(env)
    clashing = infos["clashing"]
    assert clashing["error"] is None and clashing["provides"]["methods"] == ["explode"]
    assert sorted(clashing["left_out"]) == sorted(
        [
            "method 'lora': plugin 'methods' provides it",
            "exporter 'onnx': plugin 'onnx' provides it",
            "source 'hf': plugin 'sources' provides it",
            "domain 'cv': plugin 'cv' provides it",
            "task 'nlp/text-classification': plugin 'nlp' provides it",
            "task 'keyword-spotting': no plugin provides its domain 'audio'",
            "card 'bert-base-uncased': plugin 'nlp' provides it",
        ]
    ), clashing["left_out"]
    assert "kept method 'lora'; plugin 'clashing' also provides it and was left out" in infos["methods"]["left_out"]
    assert "kept card 'bert-base-uncased'; plugin 'clashing' also provides it and was left out" in infos["nlp"]["left_out"]
    assert sorted(infos["methods"]["provides"]["methods"]) == ["freeze", "full", "lora", "self-training"]
    table = zoo("plugins", env={**env, "COLUMNS": "600"}).stdout
    assert "left out method 'lora': plugin 'methods' provides it" in table
    assert "a copy;" not in zoo("info", "bert-base-uncased", env=env).stdout
    # zoo's own lora and onnx are the ones that run; the plugin's crashing method is one line naming it
    folder, train = tiny_bert(tmp_path / "ckpt"), write_csv(tmp_path / "train.csv", sentiment_rows(40, 1))
    result = zoo("finetune", str(folder), "--method", "explode", "--data", str(train), "--epochs", "1", env=env, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: method 'explode' (plugin 'clashing') failed in prepare: RuntimeError: never called; report it to the plugin's authors; ZOO_DEBUG=1 shows the traceback"
    )


def test_plugin_commands_cannot_take_a_built_in_name_break_the_cli_or_crash_it(site: Path, tmp_path: Path) -> None:
    install_plugin(site, "commands", COMMANDS)
    env = {"PYTHONPATH": str(site)}
    assert_zoo_still_works(env, tmp_path)
    assert "taken over" not in zoo("list", env=env).stdout
    assert zoo("fine", env=env).stdout == "fine works\n"
    left_out = plugins_json(env)["commands"]["left_out"]
    assert left_out[0] == "command 'list': a built-in command of zoo has that name"
    assert left_out[1].startswith("command 'unbuildable': Typer cannot build it (RuntimeError: Type not yet supported"), left_out
    assert_one_line_error(zoo("explode", env=env, check=False), "command 'explode' (plugin 'commands') failed: ValueError: kaboom", "ZOO_DEBUG=1")
    debug = zoo("explode", env={**env, "ZOO_DEBUG": "1"}, check=False)
    assert "Traceback" in debug.stderr and "kaboom" in debug.stderr
    result = zoo("unbuildable", "x", env=env, check=False)
    assert result.returncode == 2 and "No such command 'unbuildable'" in result.stderr


def test_a_slow_plugin_is_timed_and_named(site: Path, tmp_path: Path) -> None:
    install_plugin(site, "slow", SLOW)
    env = {"PYTHONPATH": str(site)}
    assert_zoo_still_works(env, tmp_path)
    infos = plugins_json(env)
    assert infos["slow"]["import_seconds"] >= 0.5 and infos["slow"]["slow"]
    assert infos["nlp"]["import_seconds"] < 0.2 and not infos["nlp"]["slow"]
    warning = zoo("plugins", env=env).stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: plugin 'slow' takes 0.5 s to import (over 0.2 s), and every zoo command waits for it"), warning
    assert warning[0].endswith("or leave it out with ZOO_LOAD_PLUGINS=-slow")
