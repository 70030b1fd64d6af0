"""docs/plugins.md's worked example, built from the page itself: a third-party package that adds a
sentence-embedding task to the nlp domain, a method with an option of its own and an export format.
It installs as a user would install it, passes the conformance suite, and its option works from
`-o` and from a recipe."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, assert_one_line_error, zoo
from mlflow import MlflowClient
from tiny_models import sentiment_rows, tiny_bert, write_csv

from zoo_core.plugins import load_plugins
from zoo_core.testing import check_task
from zoo_core.testing import zoo as zoo_in_process

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def package_from_docs(target: Path) -> Path:
    """Every block of docs/plugins.md that is a file of zoo-sentence, written where its first line says."""
    blocks = BLOCK.findall((ROOT / "docs" / "plugins.md").read_text())
    files = {body.splitlines()[0].removeprefix("# "): body for kind, body in blocks if kind == "python" and body.startswith("# zoo_sentence/")}
    [pyproject] = [body for kind, body in blocks if kind == "toml" and 'name = "zoo-sentence"' in body]
    assert set(files) == {"zoo_sentence/__init__.py", "zoo_sentence/options.py", "zoo_sentence/embedding.py", "zoo_sentence/program.py"}
    (target / "zoo_sentence").mkdir(parents=True)
    (target / "pyproject.toml").write_text(pyproject)
    for name, body in files.items():
        (target / name).write_text(body)
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sentence")
    source = package_from_docs(work / "src")
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)], check=True, capture_output=True)
    return target


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return site


def blocks(header: str) -> list[str]:
    """The python blocks of docs/plugins.md whose first line is `# HEADER...`."""
    return [body for kind, body in BLOCK.findall((ROOT / "docs" / "plugins.md").read_text()) if kind == "python" and body.startswith(f"# {header}")]


def test_every_python_example_on_the_page_is_valid_python() -> None:
    for kind, body in BLOCK.findall((ROOT / "docs" / "plugins.md").read_text()):
        if kind == "python":
            compile(body, "docs/plugins.md", "exec")


def test_the_example_plugins_excerpts_are_their_real_code() -> None:
    """What the page shows of examples/zoo-plugin-example is that package's code (tests/test_example_plugin.py runs it)."""
    for header, file in (("zoo_bitfit/__init__.py", "zoo_bitfit/__init__.py"), ("zoo_bitfit/options.py", "zoo_bitfit/options.py"), ("zoo_torchscript/__init__.py", "zoo_torchscript/__init__.py")):
        [shown] = blocks(header)
        real = iter((ROOT / "examples" / "zoo-plugin-example" / file).read_text().splitlines())
        for line in shown.splitlines()[1:]:
            assert not line.strip() or any(line == candidate for candidate in real), f"{header}: {line!r} is not in the example's code (in that order)"


def test_the_docs_example_adds_a_task_to_nlp_that_passes_the_conformance_suite(installed: Path, tmp_path: Path) -> None:
    plugins = load_plugins()
    assert "sentence-embedding" in plugins.tasks()["nlp"] and "text-classification" in plugins.tasks()["nlp"]
    folder = tiny_bert(tmp_path / "tiny")
    [test_source] = blocks("tests/test_sentence.py")  # the page's own conformance test, run as it is written (its format: torch-export)
    namespace: dict = {}
    exec(compile(test_source, "docs/plugins.md", "exec"), namespace)
    namespace["test_sentence_embedding_conforms"](folder, tmp_path / "docs-test")
    checked = check_task("nlp", "sentence-embedding", folder, ["a gripping film", "a dull lifeless mess"], tmp_path, plugins=plugins)  # zoo's default format
    vector = checked.export_rows[0]["vector"]
    assert len(vector) == 32 and abs(sum(value * value for value in vector) - 1) < 1e-4, "normalised vectors"
    assert checked.scores is None and checked.bench is not None
    shown = zoo_in_process(plugins, "predict", folder, "a gripping film", "--task", "sentence-embedding")
    assert shown.strip().endswith("(32 dimensions)\ta gripping film")
    with pytest.raises(AssertionError, match="the sentence-embedding task uses a model as it is; it does not train"):
        zoo_in_process(plugins, "finetune", folder, "--task", "sentence-embedding", "--data", write_csv(tmp_path / "t.csv", sentiment_rows(20, 0)))


def test_the_docs_example_method_takes_its_option_from_the_command_line_and_a_recipe(installed: Path, tmp_path: Path) -> None:
    plugins = load_plugins()
    assert "norm_lr (float, default 0.01): learning rate of the LayerNorm weights" in zoo_in_process(plugins, "plugins", "norms")
    folder, train = tiny_bert(tmp_path / "tiny"), write_csv(tmp_path / "train.csv", sentiment_rows(40, 1))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"model: {folder}\ndata: {train}\nmethod: norms\nepochs: 1\noptions:\n  norm_lr: 0.005\n")
    client = MlflowClient(f"sqlite:///{Path(__import__('os').environ['ZOO_HOME'])}/mlflow.db")
    for args, expected in ((("-c", recipe), 0.005), (("-c", recipe, "-o", "norm_lr=0.02"), 0.02)):
        [outcome] = json.loads(zoo_in_process(plugins, "finetune", *args, "--json"))
        params = client.get_run(outcome["run_id"]).data.params
        assert float(params["method.norm_lr"]) == expected and params["method"] == "norms"
        assert outcome["trainable"] < outcome["total"] / 4, "only LayerNorms and the head train"


def test_the_docs_example_is_refused_in_one_line_where_it_does_not_fit(site: Path, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(site)}
    folder = tiny_bert(tmp_path / "tiny")
    assert_one_line_error(zoo("export", str(folder), "--task", "sentence-embedding", "--format", "torch-export", "--quantize", "int8", env=env, check=False), "--quantize is an option of exporter onnx, not of exporter torch-export", "add --format onnx, or drop --quantize")
    assert_one_line_error(zoo("finetune", str(folder), "--method", "norms", "-o", "rank=4", "--data", "x.csv", env=env, check=False), "-o rank is an option of method lora, not of method norms")
    assert "nlp tasks: text-classification" in zoo("plugins", env={**env, "COLUMNS": "400"}).stdout
    assert "sentence-embedding (--task sentence-embedding)" in zoo("info", "bert-base-uncased", env={**env, "COLUMNS": "400"}).stdout
