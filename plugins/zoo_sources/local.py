"""Import a checkpoint from the local disk: `zoo pull ./my-ckpt --name my-bert`."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zoo_core import IntegrityError, SourceError

SKIPPED = {".git", "__pycache__", ".ipynb_checkpoints"}


def local_path(uri: str) -> Path:
    """`file:///abs/path` or a plain path."""
    return Path(unquote(urlsplit(uri).path)) if uri.startswith("file://") else Path(uri)


def links_out(source: Path) -> list[tuple[Path, Path]]:
    """Symlinks under `source` that lead out of it: (link, target).

    A Hugging Face cache snapshot (`models--org--name/snapshots/<rev>/`) links every
    file into its repository's `blobs/`, so that folder counts as inside.
    """
    inside = [source.resolve()]
    if source.parent.name == "snapshots":
        inside.append((source.parent.parent / "blobs").resolve())
    found = []
    for path in sorted(source.rglob("*")):
        if path.is_symlink():
            target = path.resolve()
            if not any(target.is_relative_to(folder) for folder in inside):
                found.append((path, target))
    return found


def fetch(uri: str, dest: Path, revision: str | None) -> str | None:
    """Copy a folder or a single file; symlinks are followed only while they stay inside the folder."""
    source = local_path(uri).expanduser()
    if source.is_dir():
        escaping = links_out(source)
        if escaping:
            link, target = escaping[0]
            more = f" (and {len(escaping) - 1} more)" if len(escaping) > 1 else ""
            raise IntegrityError(f"refused {link.relative_to(source)}: a symlink to {target}, outside {source}{more}", "copy the files the link points to into the folder, or remove the link")
        for path in sorted(source.rglob("*")):  # file by file, so the first failure (a full disk) stops the copy as itself
            relative = path.relative_to(source)
            if path.is_file() and not SKIPPED.intersection(relative.parts):
                (dest / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest / relative)
    elif source.is_file():
        shutil.copy2(source, dest / source.name)
    else:
        raise SourceError(f"{source} does not exist", "give the path of a checkpoint folder or file")
    return None
