"""`zoo plugins`: what loaded, from where, and what it provides."""

import json
from dataclasses import asdict

import typer

from zoo_core.cli.context import Context
from zoo_core.cli.tables import fitted_table
from zoo_core.cli.options import AsJson


def register(app: typer.Typer, context: Context) -> None:
    @app.command("plugins")
    def list_plugins(
        as_json: AsJson = False,
    ) -> None:
        """List installed plugins, their hooks, what they provide and any load error."""
        from rich.console import Console
        from rich.table import Column

        infos = context.plugins.describe()
        if as_json:
            print(json.dumps([asdict(info) for info in infos], indent=2))
            return
        rows = []
        for info in infos:
            provides = "; ".join(
                f"{kind}: {', '.join(names)}" for kind, names in info.provides.items() if names and kind != "catalogs"
            )
            if info.provides.get("catalogs"):
                provides = "; ".join(filter(None, [provides, f"catalogs: {len(info.provides['catalogs'])}"]))
            rows.append(
                (
                    info.name,
                    info.version or "",
                    info.distribution or "",
                    ", ".join(info.hooks),
                    provides,
                    f"[red]{info.error}[/red]" if info.error else "",
                )
            )
        columns = [
            Column("name", no_wrap=True),
            Column("version", no_wrap=True),
            Column("distribution", overflow="fold", min_width=12),
            Column("hooks", overflow="fold", min_width=14),
            Column("provides", overflow="fold", min_width=20),
            Column("error", overflow="fold", min_width=24),
        ]
        if not any(info.error for info in infos):  # the column only when something failed to load
            columns, rows = columns[:-1], [row[:-1] for row in rows]
        console = Console()
        console.print(fitted_table(f"{len(infos)} plugins", columns, rows, console.width, drop=("distribution", "hooks", "version")))
