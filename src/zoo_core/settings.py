"""Environment settings, read when asked for so tests can change them."""

from __future__ import annotations

import os
from pathlib import Path


def zoo_home() -> Path:
    """Where pulled models, exports and the MLflow store live (`ZOO_HOME`, default ~/.zoo)."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".zoo").expanduser()


def extra_catalog_folders() -> list[Path]:
    """User card folders from `ZOO_CATALOG` (separated like PATH)."""
    value = os.environ.get("ZOO_CATALOG", "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part]


def selected_plugins() -> set[str] | None:
    """Plugin names from `ZOO_LOAD_PLUGINS=a,b` (`-c` leaves c out); None loads every installed plugin."""
    value = os.environ.get("ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


_trusted_code = False


def trust_remote_code() -> bool:
    """Whether the user passed `--trust-remote-code`: checkpoints' own Python code may run."""
    return _trusted_code


def allow_remote_code() -> None:
    """Called by commands given `--trust-remote-code`; adapters pass it on to `from_pretrained`."""
    global _trusted_code
    _trusted_code = True


def debug() -> bool:
    """`ZOO_DEBUG=1` shows tracebacks instead of one-line errors."""
    return os.environ.get("ZOO_DEBUG", "") not in ("", "0", "false")


def offline() -> bool:
    """`ZOO_OFFLINE=1` or `HF_HUB_OFFLINE=1`: never touch the network."""
    return any(os.environ.get(name, "") not in ("", "0", "false") for name in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"))
