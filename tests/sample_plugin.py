"""A plugin implementing every zoo hook, used by test_hooks.py (as datasette does)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

from zoo_core import EMBEDDER, Domain, ExportedVariant, Exporter, ExportReport, Method, Source, Task, TaskAdapter, Vector, hookimpl


def fetch_local(uri: str, dest: Path, revision: str | None) -> str:
    source = Path(uri.removeprefix("sample://"))
    shutil.copy(source, dest / source.name)
    return revision or "v1"


def freeze_everything(model, options):
    for parameter in model.parameters():
        parameter.requires_grad = False
    return model


def export_copy(model_dir: Path, adapter, out_dir: Path, options) -> ExportReport:
    """An 'export' that copies the model's config: enough to exercise the hook."""
    shutil.copy(model_dir / "config.json", out_dir / "config.json")
    return ExportReport({"copy": ExportedVariant({"model": "config.json"}, {"echo": 0.0})}, labels=[], max_length=0)


class EchoRuntime:
    """Answers each input with itself, so tests can see what reached the runtime."""

    variant, provider = "copy", "python"

    def __init__(self, export_dir: Path, report: ExportReport, provider, variant, threads) -> None:
        self.config = json.loads((export_dir / report.variants["copy"].files["model"]).read_text())

    def run(self, inputs, graph="model"):
        return [inputs[name] for name in sorted(inputs)]

    def prepare(self, inputs, static=False):
        return lambda: self.run(inputs)


@hookimpl
def zoo_sources():
    yield Source(scheme="sample", summary="copies a local file", fetch=fetch_local)


@hookimpl
def zoo_domains():
    yield Domain(name="audio", summary="sound", tasks=("audio-classification",))


class Loudness(TaskAdapter):
    """An embedder whose one dimension is a clip's mean absolute amplitude: enough to exercise the hook."""

    kind = EMBEDDER

    def predict_model(self, model_dir, inputs, labels, top):
        return [Vector(input=item, vector=[sum(abs(float(value)) for value in item.split()) / len(item.split())]) for item in inputs]


@hookimpl
def zoo_tasks():
    yield Task(domain="audio", name="loudness", summary="mean absolute amplitude", adapter=Loudness)


@hookimpl
def zoo_methods():
    yield Method(name="freeze-all", summary="train nothing", prepare=freeze_everything)


@hookimpl
def zoo_exporters():
    yield Exporter(format="copy", summary="copies the model's config", export=export_copy, open=EchoRuntime)


@hookimpl
def zoo_catalogs():
    yield Path(__file__).parent / "sample_cards"


@hookimpl
def zoo_commands(app):
    @app.command("card-summary")
    def card_summary(ctx: typer.Context, name: str) -> None:
        """Print one card's summary."""
        print(ctx.obj.catalog.entry(name)["summary"])
