"""The conformance suite every (domain, task) passes, zoo's own and third parties' alike: the CLI,
run in-process as a user would type it, through train, eval, predict, export, predict on the export
and bench, on a tiny model.

    from zoo_core.testing import check_task

    def test_sentence_embedding(tmp_path):
        check_task("nlp", "sentence-embedding", tiny_bert_folder, ["a sentence"], tmp_path)

Point `ZOO_HOME` (and, if you use one, `MLFLOW_TRACKING_URI`) at a temporary folder first: the
suite trains, registers and exports for real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_core.plugins import Plugins, load_plugins


@dataclass
class Checked:
    """What the suite ran, for further assertions of the task's own."""

    model: str  # the REF predicted and exported: the fine-tuned folder, or the model itself for a task that does not train
    scores: dict[str, Any] | None  # zoo eval --json (tasks that train)
    model_rows: list[dict[str, Any]] | None  # zoo predict REF --json (tasks that answer without an export)
    export: Path
    export_rows: list[dict[str, Any]]  # zoo predict EXPORT --json
    bench: dict[str, Any] | None  # zoo bench EXPORT --json (single-graph exports)


def zoo(plugins: Plugins, *args: Any) -> str:
    """`zoo ARGS` in this process with these plugins; its stdout, or an AssertionError with what it said."""
    from typer.testing import CliRunner

    from zoo_core.cli.app import create_app

    result = CliRunner().invoke(create_app(plugins), [str(arg) for arg in args])
    if result.exit_code != 0:
        raise AssertionError(f"zoo {' '.join(map(str, args))} exited {result.exit_code}: {result.exception or ''}\n{result.output}") from result.exception
    return result.stdout


def check_task(
    domain: str,
    task: str,
    model: Path | str,
    inputs: list[str],
    workdir: Path,
    data: Path | None = None,
    export_format: str | None = None,
    plugins: Plugins | None = None,
    finetune_args: tuple[str, ...] = (),
    predict_args: tuple[str, ...] = (),
) -> Checked:
    """Run the task through zoo end to end and check what a user would see at each step.

    `model` is a tiny model folder of the domain; `data` a small training file (tasks that train);
    `inputs` what `zoo predict` gets (with `predict_args`, e.g. `--question Q --context C`)."""
    plugins = plugins or load_plugins()
    adapter = plugins.task_adapter(domain, task, str(model))[1]
    place = ("--domain", domain, "--task", task)
    answers = len(inputs) or 1
    ref, scores = str(model), None
    if adapter.trains:
        assert data is not None, f"{task} trains: check_task needs data="
        [outcome] = json.loads(zoo(plugins, "finetune", ref, *place, "--data", data, "--epochs", "1", "--json", *finetune_args))
        info = json.loads((Path(outcome["model_dir"]) / "zoo-model.json").read_text())
        assert (info["domain"], info["task"]) == (domain, task), info
        assert outcome["registered"], "a fine-tune registers a model version"
        ref = outcome["model_dir"]
        scores = json.loads(zoo(plugins, "eval", ref, "--data", data, "--json"))
        assert scores["examples"] > 0 and all(isinstance(value, float) for key, value in scores.items() if key not in ("model", "data", "examples")), scores
    model_rows = None
    if not adapter.labelled:  # a classifier answers from its export; every other kind also from the model
        model_rows = json.loads(zoo(plugins, "predict", ref, *inputs, *place, *predict_args, "--json"))
        assert len(model_rows) == answers, model_rows
    export = workdir / f"{task}-export"
    formats = ("--format", export_format) if export_format else ()
    zoo(plugins, "export", ref, *place, *formats, "--out", export, "--json")
    assert (export / "zoo-export.json").is_file()
    export_rows = json.loads(zoo(plugins, "predict", export, *inputs, *predict_args, "--json"))
    assert len(export_rows) == answers, export_rows
    if model_rows is not None:
        for from_model, from_export in zip(model_rows, export_rows):
            assert_same_answer(from_model, from_export)
    bench = None
    if not adapter.generates and len(json.loads((export / "zoo-export.json").read_text())["graphs"]) == 1:
        bench = json.loads(zoo(plugins, "bench", export, "--batch", "1", "--length", "8", "--runs", "1", "--rounds", "1", "--threads", "1", "--json"))
        assert {row["engine"].split()[0] for row in bench["rows"]} >= {"pytorch"} and len(bench["rows"]) >= 2, bench["rows"]
    return Checked(ref, scores, model_rows, export, export_rows, bench)


def assert_same_answer(model: dict[str, Any], export: dict[str, Any]) -> None:
    """The export answers as the model does: the same label, entities, span or text; vectors within 1e-3."""
    assert model.keys() == export.keys(), (model, export)
    if "vector" in model:
        assert max(abs(a - b) for a, b in zip(model["vector"], export["vector"])) < 1e-3, (model, export)
    for key in ("label", "answer", "output"):
        if key in model:
            assert model[key] == export[key], (model, export)
    if "entities" in model:
        assert [entity["entity_group"] for entity in model["entities"]] == [entity["entity_group"] for entity in export["entities"]], (model, export)
