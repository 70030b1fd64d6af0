"""`zoo plugins`: what loaded, from where, and what it provides."""

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zoo_core.cli.context import Context


def register(app: typer.Typer, context: Context) -> None:
    @app.command("plugins")
    def list_plugins(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """List installed plugins, their hooks, what they provide and any load error."""
        infos = context.plugins.describe()
        if as_json:
            print(json.dumps([asdict(info) for info in infos], indent=2))
            return
        table = Table(title=f"{len(infos)} plugins", title_justify="left")
        for column in ("name", "version", "distribution", "hooks", "provides", "error"):
            table.add_column(column, overflow="fold")
        for info in infos:
            provides = "; ".join(
                f"{kind}: {', '.join(names)}" for kind, names in info.provides.items() if names and kind != "catalogs"
            )
            if info.provides.get("catalogs"):
                provides = "; ".join(filter(None, [provides, f"catalogs: {len(info.provides['catalogs'])}"]))
            table.add_row(
                info.name,
                info.version or "",
                info.distribution or "",
                ", ".join(info.hooks),
                provides,
                f"[red]{info.error}[/red]" if info.error else "",
            )
        Console().print(table)
