"""Disk faults as users meet them: a home they cannot write, a disk that fills up.

Both become one line that names the folder; the work that hit them removes what it
had half-written before the error leaves.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from zoo_core.errors import DiskFullError, HomeNotWritableError

MB = 1024 * 1024


def ensure_writable(folder: Path) -> None:
    """Create `folder` if needed and check it can be written, before any work starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HomeNotWritableError(
            f"cannot write to {folder}: {exc.strerror}",
            "make it writable, or set ZOO_HOME to a folder you can write (zoo list, info and predict work without writing)",
        ) from None
    if not os.access(folder, os.W_OK):
        raise HomeNotWritableError(
            f"cannot write to {folder}: permission denied",
            "make it writable, or set ZOO_HOME to a folder you can write (zoo list, info and predict work without writing)",
        )


def out_of_space(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, is the disk filling up."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full(folder: Path, needed: int) -> DiskFullError:
    """The error for a write that ran out of space under `folder`, with what the work needs."""
    existing = next((path for path in (folder, *folder.parents) if path.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    return DiskFullError(
        f"no space left on device under {folder}: need about {max(1, round(needed / MB))} MB, {free / MB:.0f} MB free",
        "free some space (zoo cache --prune, zoo rm NAME) or set ZOO_HOME to a bigger disk; nothing half-written was kept",
    )
