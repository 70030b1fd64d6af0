"""The `zoo` Typer app and its error boundary.

`create_app(plugins)` builds the CLI from a set of loaded plugins, so tests can
build one with their own; `main()` is the one place errors become messages.
"""

import sys

import typer
from typer._click.exceptions import UsageError  # typer 0.28 vendors click as typer._click
from typer.core import TyperGroup

from zoo_core import settings
from zoo_core.version import __version__
from zoo_core.cli import catalog, export, finetune, plugins as plugins_cli, serve, store, tracking
from zoo_core.cli.context import Context
from zoo_core.errors import ZooError
from zoo_core.plugins import Plugins, load_plugins


def _version(value: bool) -> None:
    if value:
        print(f"zoo {__version__}")
        raise typer.Exit()


def _group_naming_broken_plugins(plugins: Plugins) -> type[TyperGroup]:
    """A command group whose "No such command" also names plugins that failed to load (one may have added it)."""

    class ZooGroup(TyperGroup):
        def resolve_command(self, ctx: typer.Context, args: list[str]):
            try:
                return super().resolve_command(ctx, args)
            except UsageError as exc:
                broken = plugins.broken()
                if broken and args and args[0] not in self.commands:
                    blamed = "; ".join(f"plugin '{info.name}' did not load ({(info.error or '').splitlines()[0]})" for info in broken)
                    exc.message = f"{exc.message.rstrip('.')}. {blamed}: it may have provided the command; `zoo plugins` shows every plugin."
                raise

    return ZooGroup


def create_app(plugins: Plugins) -> typer.Typer:
    """The CLI with the core commands plus whatever the plugins add."""
    app = typer.Typer(
        cls=_group_naming_broken_plugins(plugins),
        name="zoo",
        help="Pull, fine-tune and export pretrained models.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # rich help pulls in markdown-it and pygments: +0.1 s per call
        add_completion=False,
    )

    context = Context(plugins)

    @app.callback()
    def root(
        ctx: typer.Context,
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ) -> None:
        """Pull, fine-tune and export pretrained models."""
        ctx.obj = context  # plugin commands reach the catalog and plugins through ctx.obj
    catalog.register(app, context)
    store.register(app, context)
    finetune.register(app, context)
    export.register(app, context)
    serve.register(app, context)
    tracking.register(app, context)
    plugins_cli.register(app, context)
    plugins.add_commands(app)
    return app


def main() -> None:
    """Console entry point: a `ZooError` becomes one line on stderr and exit code 2."""
    try:
        create_app(load_plugins())()
    except ZooError as exc:
        if settings.debug():
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
