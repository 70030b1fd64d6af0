"""Errors users can act on.

Every failure a user can fix is a `ZooError`: one line that names the problem and
the fix. The CLI edge (`zoo_core.cli.app.main`) turns them into that line and exit
code 2; nothing below the edge prints or exits.
"""

from __future__ import annotations

import os
from pathlib import Path


class ZooError(Exception):
    """A problem the user can fix; `str()` is the one line the CLI prints."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class CardError(ZooError):
    """A catalog card that does not parse or validate."""


class UnknownModelError(ZooError):
    """A name that is not in the catalog."""


class PluginError(ZooError):
    """A plugin that cannot be used as it stands."""


def shown_path(path: Path) -> str:
    """A path as a message should show it: relative to the working directory when shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return relative if len(relative) < len(str(path)) else str(path)


class SourceError(ZooError):
    """One source could not deliver a model (the next source in the card is tried)."""


class IntegrityError(SourceError):
    """Downloaded bytes do not match their pinned digest, or a path escapes the store."""


class PullError(ZooError):
    """No source could deliver the model; says why for each."""


class NotInStoreError(ZooError):
    """A model that has not been pulled, where it must be present."""


class PickleRefusedError(ZooError):
    """Loading pickle weights without `--allow-pickle`."""


class RemoteCodeRefusedError(ZooError):
    """A checkpoint that needs its own Python code, without `--trust-remote-code`."""


class DiskFullError(ZooError):
    """The disk filled up while zoo wrote; what was half-written is gone."""


class HomeNotWritableError(ZooError):
    """A folder zoo must write to (ZOO_HOME, an export folder) that it cannot write."""


class NameRuleError(ZooError):
    """A name that breaks the naming rule (`zoo_core.names`)."""


class DataError(ZooError):
    """A data file that cannot be used for the task as it stands."""


class RefError(ZooError):
    """A model reference that resolves to nothing."""


class RecipeError(ZooError):
    """A recipe or option that makes no sense."""
