"""`zoo pull`, `zoo rm`, `zoo verify`, `zoo cache`: the local model store."""

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from zoo_core.cli.context import Context


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def register(app: typer.Typer, context: Context) -> None:
    @app.command()
    def pull(
        target: Annotated[str, typer.Argument(help="A catalog name (NAME[@REV]), a URI (hf://, https://, pypi://, file://) or a local path.")],
        name: Annotated[Optional[str], typer.Option(help="Store it under this name (default: from the target).")] = None,
        force: Annotated[bool, typer.Option(help="Download again even if it is already in the store.")] = False,
    ) -> None:
        """Download a model into the store, verified by sha256; interrupted pulls resume."""
        from zoo_core.pull import plan_pull, pull as pull_model

        plan = plan_pull(target, context.catalog, name)
        result = pull_model(plan, context.plugins.sources(), force=force, report=lambda line: print(f"skipped {line}", file=sys.stderr))
        manifest = result.manifest
        revision = f" @ {manifest.revision}" if manifest.revision else ""
        if not result.downloaded:
            print(f"{manifest.name} is already in the store ({manifest.source}{revision}); --force downloads it again")
            return
        print(f"pulled {manifest.name} from {manifest.source}{revision}: {len(manifest.files)} files, {human_size(manifest.size)}, sha256 verified")
        if manifest.pickle:
            print("note: only pickle weights were found; loading them will need --allow-pickle")
        print(result.path)

    @app.command()
    def rm(name: Annotated[str, typer.Argument(help="A model in the store (see `zoo list --local`).")]) -> None:
        """Remove a model from the store."""
        from zoo_core.store import Store

        freed = Store().remove(name)
        print(f"removed {name} ({human_size(freed)} freed)")

    @app.command()
    def verify(name: Annotated[str, typer.Argument(help="A model in the store.")]) -> None:
        """Recompute every file's sha256 and name the ones that changed."""
        from zoo_core.store import Store

        store = Store()
        manifest = store.require(name)
        problems = store.verify(name)
        if problems:
            print(f"{name} is corrupted ({len(problems)} of {len(manifest.files)} files):")
            for problem in problems:
                print(f"  {problem}")
            print(f"fix: zoo pull {name} --force")
            raise typer.Exit(1)
        print(f"{name}: all {len(manifest.files)} files match their sha256 ({human_size(manifest.size)})")

    @app.command()
    def cache(
        prune: Annotated[bool, typer.Option(help="Delete what interrupted pulls left behind.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """Show how much disk the store uses, per model and in total."""
        from zoo_core.store import Store

        store = Store()
        freed = store.prune() if prune else 0
        models = [(manifest.name, manifest.size) for manifest in store.installed()]
        partial = [(path.name, size) for path, size in store.partial_downloads()]
        total = sum(size for _, size in models + partial)
        if as_json:
            print(json.dumps({"home": str(store.home), "models": dict(models), "partial": dict(partial), "total": total, "freed": freed}))
            return
        table = Table(title=f"store {store.home}", title_justify="left")
        table.add_column("model")
        table.add_column("size", justify="right")
        for model, size in models:
            table.add_row(model, human_size(size))
        for model, size in partial:
            table.add_row(f"{model} (interrupted pull)", human_size(size))
        table.add_row("[bold]total[/bold]", f"[bold]{human_size(total)}[/bold]")
        Console().print(table)
        if prune:
            print(f"pruned {human_size(freed)} of interrupted pulls")
        elif partial:
            print("`zoo cache --prune` deletes the interrupted pulls (a new pull resumes them instead)")


def list_local(as_json: bool) -> None:
    """`zoo list --local`: what the store holds."""
    from zoo_core.store import Store

    manifests = Store().installed()
    if as_json:
        from dataclasses import asdict

        print(json.dumps([{**asdict(manifest), "size": manifest.size} for manifest in manifests], indent=2))
        return
    table = Table(title=f"{len(manifests)} models in the store", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("source", overflow="fold")
    for column in ("revision", "files", "size", "weights"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("files", "size") else "left")
    for manifest in manifests:
        table.add_row(
            manifest.name,
            manifest.source,
            (manifest.revision or "")[:12],
            str(len(manifest.files)),
            human_size(manifest.size),
            "[yellow]pickle[/yellow]" if manifest.pickle else "safetensors" if any(entry.path.endswith(".safetensors") for entry in manifest.files) else "",
        )
    Console().print(table)

