"""Finding which column of a user's data file holds what: named by a flag, or detected by usual names."""

from __future__ import annotations

from pathlib import Path

from zoo_core.errors import DataError


def pick_column(kind: str, wanted: str | None, candidates: tuple[str, ...], present: list[str], path: Path, flag: str, required: bool = True) -> str | None:
    """`wanted` if the file has it, else the first usual name present; a required column not found is a `DataError`."""
    if wanted:
        if wanted not in present:
            raise DataError(f"{path.name} has no {kind} column '{wanted}'", f"its columns are {', '.join(present)}")
        return wanted
    for name in candidates:
        if name in present:
            return name
    if required:
        raise DataError(f"{path.name}: cannot tell which column holds the {kind}", f"its columns are {', '.join(present)}; name one with {flag}")
    return None
