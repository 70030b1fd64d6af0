"""`zoo plugins`: what loaded, from where, how long it took, and what it provides or left out."""

import json
import sys
from dataclasses import asdict
from typing import Annotated, Any, Optional

import typer

from zoo_core.cli.context import Context
from zoo_core.cli.options import AsJson
from zoo_core.cli.tables import fitted_table
from zoo_core.errors import ZooError
from zoo_core.plugins import SLOW_IMPORT_SECONDS


def register(app: typer.Typer, context: Context) -> None:
    @app.command("plugins")
    def list_plugins(
        name: Annotated[Optional[str], typer.Argument(help="A plugin, method, exporter, source, domain or task: show what it is and the options it takes.")] = None,
        as_json: AsJson = False,
    ) -> None:
        """List installed plugins: their hooks, what they provide, their import time, and any load error or name clash."""
        if name is not None:
            _describe_one(context, name, as_json)
            return
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Column

        try:
            context.catalog  # cards a plugin ships that clash with another's are noted as left out
        except ZooError as exc:  # a broken card of the user's own: `zoo plugins` still lists the plugins
            print(f"warning: {exc}", file=sys.stderr)
        infos = context.plugins.describe()
        if as_json:
            print(json.dumps([asdict(info) | {"slow": info.slow} for info in infos], indent=2))
            return
        rows = []
        for info in infos:
            provides = "; ".join(_provided(kind, names) for kind, names in info.provides.items() if names and kind != "catalogs")
            if info.provides.get("catalogs"):
                provides = "; ".join(filter(None, [provides, f"catalogs: {len(info.provides['catalogs'])}"]))
            notes = [f"[red]{escape(info.error)}[/red]"] if info.error else []
            notes += [f"[yellow]left out {escape(item)}[/yellow]" if not item.startswith("kept") else escape(item) for item in info.left_out]
            seconds = "" if info.import_seconds is None else f"{info.import_seconds:.2f} s"
            rows.append((info.name, info.version or "", info.distribution or "", ", ".join(info.hooks), provides, f"[yellow]{seconds}[/yellow]" if info.slow else seconds, "; ".join(notes)))
        columns = [
            Column("name", no_wrap=True),
            Column("version", no_wrap=True),
            Column("distribution", overflow="fold", min_width=12),
            Column("hooks", overflow="fold", min_width=14),
            Column("provides", overflow="fold", min_width=20),
            Column("import", justify="right", no_wrap=True),
            Column("problems", overflow="fold", min_width=24),
        ]
        if not any(row[-1] for row in rows):  # the column only when something went wrong
            columns, rows = columns[:-1], [row[:-1] for row in rows]
        console = Console()
        console.print(fitted_table(f"{len(infos)} plugins", columns, rows, console.width, drop=("distribution", "hooks", "version", "import")))
        for info in infos:
            if info.slow:
                print(
                    f"warning: plugin '{info.name}' takes {info.import_seconds:.1f} s to import (over {SLOW_IMPORT_SECONDS} s), and every zoo command waits for it; "
                    f"its authors can import heavy libraries inside the hooks' callables, or leave it out with ZOO_LOAD_PLUGINS=-{info.name}",
                    file=sys.stderr,
                )


def _provided(kind: str, names: list[str]) -> str:
    """`methods: full, lora`; tasks by domain: `nlp tasks: text-classification, fill-mask`."""
    if kind != "tasks":
        return f"{kind}: {', '.join(names)}"
    by_domain: dict[str, list[str]] = {}
    for name in names:
        domain, _, task = name.partition("/")
        by_domain.setdefault(domain, []).append(task)
    return "; ".join(f"{domain} tasks: {', '.join(tasks)}" for domain, tasks in by_domain.items())


def _items(context: Context, name: str) -> list[tuple[str, Any]]:
    """Every method, exporter, source, domain and task called `name` (a task also as DOMAIN/TASK)."""
    plugins = context.plugins
    found: list[tuple[str, Any]] = []
    for kind, registry in (("method", plugins.methods()), ("exporter", plugins.exporters()), ("source", plugins.sources()), ("domain", plugins.domains())):
        if name in registry:
            found.append((kind, registry[name]))
    for domain, tasks in plugins.tasks().items():
        for task_name, task in tasks.items():
            if name in (task_name, f"{domain}/{task_name}"):
                found.append(("task", task))
    return found


def _describe_one(context: Context, name: str, as_json: bool) -> None:
    """`zoo plugins lora`: what the item is, which plugin provides it and its options."""
    from zoo_core.errors import PluginError
    from zoo_core.options import fields_of

    plugins = context.plugins
    infos = {info.name: info for info in plugins.describe()}
    found = _items(context, name)
    if name in infos:  # a plugin: everything it provides
        found += [(kind[:-1], item) for kind, names in infos[name].provides.items() if kind != "catalogs" for other in names for item in [dict(_items(context, other)).get(kind[:-1])] if item is not None]
    if not found:
        known = sorted({*infos, *plugins.methods(), *plugins.exporters(), *plugins.sources(), *plugins.domains()})
        raise PluginError(f"no plugin, method, exporter, source, domain or task is called '{name}'", f"zoo plugins lists them: {', '.join(known)}")
    shown = []
    for kind, item in found:
        key = f"{item.domain}/{item.name}" if kind == "task" else getattr(item, "name", None) or getattr(item, "format", None) or getattr(item, "scheme", None)
        model = item.options() if getattr(item, "options", None) is not None else None
        options = [
            {"name": field, "type": getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", ""), "default": None if info.is_required() else info.default, "help": info.description or ""}
            for field, info in fields_of(model).items()
        ]
        shown.append({"kind": kind, "name": key, "plugin": plugins.owner(kind, key), "summary": item.summary, "options": options})
    if as_json:
        print(json.dumps(shown, indent=2, default=str))
        return
    for entry in shown:
        print(f"{entry['kind']} {entry['name']} (plugin '{entry['plugin']}'): {entry['summary']}")
        if entry["kind"] in ("method", "exporter", "task"):
            if not entry["options"]:
                print("  no options")
                continue
            print("  options (-o KEY=VALUE, or under options: in a recipe):")
            for option in entry["options"]:
                print(f"    {option['name']} ({option['type']}, default {option['default']}): {option['help']}".rstrip(": "))
