"""`zoo pull`, `zoo rm`, `zoo verify`, `zoo cache`: the local model store."""

import json
import sys
from typing import Annotated, Optional

import typer

from zoo_core.cli import tables
from zoo_core.cli.context import Context
from zoo_core.cli.options import AsJson


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def register(app: typer.Typer, context: Context) -> None:
    schemes = ", ".join(f"{scheme}://" for scheme in context.plugins.sources()) or "none installed"

    @app.command(help=f"Download a model into the store, verified by sha256; interrupted pulls resume. Installed sources: {schemes}.")
    def pull(
        target: Annotated[str, typer.Argument(help=f"A catalog name (NAME[@REV]), a URI ({schemes}) or a local path.")],
        name: Annotated[Optional[str], typer.Option(help="Store it under this name (default: from the target).")] = None,
        force: Annotated[bool, typer.Option(help="Download again even if it is already in the store.")] = False,
    ) -> None:
        from zoo_core.pull import plan_pull
        from zoo_core.pull import pull as pull_model

        plan = plan_pull(target, context.catalog, name)
        result = pull_model(plan, context.plugins, force=force, report=lambda line: print(f"skipped {line}", file=sys.stderr))
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
        prune: Annotated[bool, typer.Option(help="Delete what interrupted pulls and exports left behind.")] = False,
        as_json: AsJson = False,
    ) -> None:
        """Show how much disk the store uses, per model and in total."""
        from rich.console import Console
        from rich.table import Column

        from zoo_core.store import Store

        store = Store()
        freed = store.prune() if prune else 0
        models = [(manifest.name, manifest.size) for manifest in store.installed()]
        partial = [(path.name, size) for path, size in store.partial_downloads()]
        leftovers = [(path.relative_to(store.home).as_posix(), size) for path, size in store.partial_folders()]
        total = sum(size for _, size in models + partial + leftovers)
        if as_json:
            print(json.dumps({"home": str(store.home), "models": dict(models), "partial": dict(partial), "leftovers": dict(leftovers), "total": total, "freed": freed}))
            return
        rows = [(model, human_size(size)) for model, size in models]
        rows += [(f"{model} (interrupted pull)", human_size(size)) for model, size in partial]
        rows += [(f"{folder} (interrupted export)", human_size(size)) for folder, size in leftovers]
        rows.append(("[bold]total[/bold]", f"[bold]{human_size(total)}[/bold]"))
        console = Console()
        columns = [Column("model", overflow="fold", min_width=20), Column("size", justify="right", no_wrap=True)]
        console.print(tables.fitted_table(f"store {store.home}", columns, rows, console.width))
        if prune:
            print(f"pruned {human_size(freed)} of interrupted pulls and exports")
        elif partial or leftovers:
            print("`zoo cache --prune` deletes what interrupted pulls and exports left (a new pull resumes instead)")


def list_local(as_json: bool) -> None:
    """`zoo list --local`: what the store holds."""
    from rich.console import Console
    from rich.table import Column

    from zoo_core.store import Store

    manifests = Store().installed()
    if as_json:
        from dataclasses import asdict

        print(json.dumps([{**asdict(manifest), "size": manifest.size} for manifest in manifests], indent=2))
        return
    rows = [
        (
            manifest.name,
            manifest.source,
            (manifest.revision or "")[:12],
            str(len(manifest.files)),
            human_size(manifest.size),
            "[yellow]pickle[/yellow]" if manifest.pickle else "safetensors" if any(entry.path.endswith(".safetensors") for entry in manifest.files) else "",
        )
        for manifest in manifests
    ]
    columns = [
        Column("name", no_wrap=True),
        Column("source", overflow="fold", min_width=16),
        Column("revision", no_wrap=True),
        Column("files", no_wrap=True, justify="right"),
        Column("size", no_wrap=True, justify="right"),
        Column("weights", no_wrap=True),
    ]
    console = Console()
    console.print(tables.fitted_table(f"{len(manifests)} models in the store", columns, rows, console.width, drop=("files", "weights", "revision")))

