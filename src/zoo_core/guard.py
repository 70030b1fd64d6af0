"""Calls into plugin code: a plugin's own `ZooError`s pass through, anything else is a bug in it,
named as such in one line (ZOO_DEBUG=1 re-raises with the traceback at the CLI edge)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from zoo_core.errors import PluginError, ZooError


def blame(kind: str, name: str, plugin: str | None) -> str:
    """How a message names a plugin's item: `method 'bitfit' (plugin 'bitfit')`."""
    return f"{kind} '{name}'" + (f" (plugin '{plugin}')" if plugin else "")


@contextlib.contextmanager
def plugin_errors(blamed: str, step: str | None) -> Iterator[None]:
    """Turn what plugin code raises (in `step`, when it has a name) into a `PluginError` naming `blamed`."""
    try:
        yield
    except ZooError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        where = f" in {step}" if step else ""
        raise PluginError(f"{blamed} failed{where}: {type(exc).__name__}: {first}", "report it to the plugin's authors; ZOO_DEBUG=1 shows the traceback") from exc
