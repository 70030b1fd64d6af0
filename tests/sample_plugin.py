"""A plugin implementing every zoo hook, used by test_hooks.py (as datasette does)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from zoo_core import Domain, Exporter, Method, Source, hookimpl


def fetch_local(uri: str, dest: Path, revision: str | None) -> str:
    source = Path(uri.removeprefix("sample://"))
    shutil.copy(source, dest / source.name)
    return revision or "v1"


def freeze_everything(model, options):
    for parameter in model.parameters():
        parameter.requires_grad = False
    return model


def export_copy(model_dir: Path, adapter, out_dir: Path, options) -> dict:
    shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
    return {"files": sorted(path.name for path in out_dir.iterdir())}


@hookimpl
def zoo_sources():
    yield Source(scheme="sample", summary="copies a local file", fetch=fetch_local)


@hookimpl
def zoo_domains():
    yield Domain(name="audio", summary="sound", tasks=("audio-classification",))


@hookimpl
def zoo_methods():
    yield Method(name="freeze-all", summary="train nothing", prepare=freeze_everything)


@hookimpl
def zoo_exporters():
    yield Exporter(format="copy", summary="copies the model folder", export=export_copy)


@hookimpl
def zoo_catalogs():
    yield Path(__file__).parent / "sample_cards"


@hookimpl
def zoo_commands(app):
    @app.command("card-summary")
    def card_summary(ctx: typer.Context, name: str) -> None:
        """Print one card's summary."""
        print(ctx.obj.catalog.entry(name)["summary"])
