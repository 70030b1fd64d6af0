"""Plugin commands checked before they join the CLI: one that Typer cannot build is left out
(it would otherwise break every command), and what one raises names its plugin."""

from __future__ import annotations

import copy
import functools
from typing import Any

from typer.exceptions import Abort, Exit, TyperException  # ClickException and UsageError derive from TyperException

from zoo_core.guard import plugin_errors


def buildable(command: Any) -> str | None:
    """Why Typer cannot turn a registered command into a click command, or None."""
    import typer.main

    try:
        typer.main.get_command_from_info(command, pretty_exceptions_short=True, rich_markup_mode=None)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return None


def guarded(command: Any, plugin: str) -> Any:
    """The command with its callback wrapped: exits and usage errors pass, a crash is one line."""
    callback = command.callback
    name = command.name or callback.__name__.replace("_", "-")

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (Abort, Exit, TyperException):
            raise
        except Exception:
            with plugin_errors(f"command '{name}' (plugin '{plugin}')", None):
                raise

    wrapped = copy.copy(command)
    wrapped.callback = run
    return wrapped
