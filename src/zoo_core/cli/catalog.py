"""`zoo list` and `zoo info`: browse the catalog."""

import json
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from zoo_core.cli import store, tables
from zoo_core.cli.context import Context
from zoo_core.errors import ZooError
from zoo_core.cli.options import AsJson

if TYPE_CHECKING:
    from rich.table import Table

    from zoo_core.cards import Card


def human_count(count: int) -> str:
    """109482240 -> '109.5M', as model cards write parameter counts."""
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def _check_filter(kind: str, value: str | None, known: set[str]) -> None:
    if value is not None and value not in known:
        raise ZooError(f"no {kind} '{value}' in the catalog", f"{kind}s are {', '.join(sorted(known))}")


def register(app: typer.Typer, context: Context) -> None:
    @app.command("list")
    def list_models(
        domain: Annotated[Optional[str], typer.Option(help=f"Only this domain ({', '.join(context.plugins.domains()) or 'none installed'}).")] = None,
        task: Annotated[Optional[str], typer.Option(help="Only models for this task (zoo plugins lists each domain's tasks).")] = None,
        search: Annotated[Optional[str], typer.Option(help="Only models whose name, architecture or summary contains TEXT.")] = None,
        local: Annotated[bool, typer.Option("--local", help="List the models pulled into the store instead.")] = False,
        as_json: AsJson = False,
    ) -> None:
        """List the models in the catalog (or, with --local, in the store)."""
        from rich.console import Console
        from rich.table import Column

        if local:
            return store.list_local(as_json)
        entries = context.catalog.entries.values()
        _check_filter("domain", domain, {entry["domain"] for entry in entries})
        _check_filter("task", task, {name for entry in entries for name in entry["tasks"]})
        found = context.catalog.search(domain=domain, task=task, text=search)
        if as_json:
            print(json.dumps(found, indent=2))
            return
        columns = [
            Column("name", no_wrap=True),
            Column("domain", no_wrap=True),
            Column("tasks", overflow="fold", min_width=20),
            Column("params", justify="right", no_wrap=True),
            Column("license", no_wrap=True),
        ]
        rows = [(entry["id"], entry["domain"], ", ".join(entry["tasks"]), human_count(entry["parameters"]), entry["license"]) for entry in found]
        console = Console()
        console.print(tables.fitted_table(f"{len(found)} models", columns, rows, console.width, drop=("license", "domain")))

    @app.command()
    def info(
        name: Annotated[str, typer.Argument(help="A model name from `zoo list`.")],
        as_json: AsJson = False,
    ) -> None:
        """Show a model's card: tasks, sources, licence, paper, preprocessing."""
        from rich.console import Console

        card = context.catalog.get(name)
        if as_json:
            print(json.dumps(card.model_dump(mode="json"), indent=2))
            return
        plugins = context.plugins
        added = [task for task in plugins.tasks().get(card.domain, {}) if plugins.owner("task", f"{card.domain}/{task}") != plugins.owner("domain", card.domain)]
        Console().print(_card_table(card, added))


def _card_table(card: "Card", added: list[str]) -> "Table":
    """The card as a two-column table; `added` are the tasks other plugins add to its domain."""
    from rich.table import Table

    table = Table(title=card.id, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold", min_width=20)
    table.add_row("summary", card.summary)
    table.add_row("domain", card.domain)
    table.add_row("tasks", ", ".join(card.tasks))
    if added:  # any plugin may add a task to a domain: --task NAME reaches these too
        table.add_row("plugin tasks", ", ".join(f"{task} (--task {task})" for task in added))
    table.add_row("architecture", f"{card.architecture} ({card.library})")
    table.add_row("parameters", f"{card.parameters:,} ({human_count(card.parameters)})")
    if card.num_classes:
        table.add_row("classes", str(card.num_classes))
    table.add_row("license", card.license)
    table.add_row("paper", f"{card.paper.title} <{card.paper.url}>")
    for field, value in card.preprocessing.model_dump(exclude_none=True).items():
        table.add_row(f"preprocessing.{field}", ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
    for method, rates in card.finetune.items():
        table.add_row(f"finetune.{method}", ", ".join(f"--{key.replace('_', '-')} {value:g}" for key, value in rates.model_dump(exclude_none=True).items()))
    for number, source in enumerate(card.sources, start=1):
        pins = f" @ {source.revision}" if source.revision else ""
        pins += f" (sha256 pinned for {len(source.sha256)} files)" if source.sha256 else ""
        table.add_row(f"source {number}", source.uri + pins)
    return table
