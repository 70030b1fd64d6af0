"""Import a checkpoint from the local disk: `zoo pull ./my-ckpt --name my-bert`."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zoo_core import SourceError

SKIPPED = shutil.ignore_patterns(".git", "__pycache__", ".ipynb_checkpoints")


def local_path(uri: str) -> Path:
    """`file:///abs/path` or a plain path."""
    return Path(unquote(urlsplit(uri).path)) if uri.startswith("file://") else Path(uri)


def fetch(uri: str, dest: Path, revision: str | None) -> str | None:
    """Copy a folder or a single file; symlinks (as in an HF cache snapshot) are followed."""
    source = local_path(uri).expanduser()
    if source.is_dir():
        shutil.copytree(source, dest, ignore=SKIPPED, dirs_exist_ok=True)
    elif source.is_file():
        shutil.copy2(source, dest / source.name)
    else:
        raise SourceError(f"{source} does not exist", "give the path of a checkpoint folder or file")
    return None
