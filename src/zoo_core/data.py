"""Reading users' data files: which column holds what, why a file does not parse, which rows were left out."""

from __future__ import annotations

import csv
import io
import json
import warnings
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


class DataWarning(UserWarning):
    """Something about the data a user should know but that does not stop the work (rows dropped)."""


def warn_dropped(path: Path, dropped: int, total: int, why: str) -> None:
    """Say how many rows were left out and why; the engine shows it and the run goes on."""
    if dropped:
        warnings.warn(DataWarning(f"{path.name}: left out {dropped} of {total} rows ({why})"), stacklevel=2)


def read_problem(path: Path, exc: Exception) -> str:
    """Why a data file does not parse, with the line it fails at, from the file itself where a library hides it."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = raw.count(b"\n", 0, bad.start) + 1
        return f"line {line} is not UTF-8 (byte 0x{raw[bad.start]:02X}): {bad.reason}"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json") and not text.lstrip().startswith("["):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as broken:
                    return f"line {number} is not JSON: {broken}"
    if suffix in (".csv", ".tsv"):
        rows = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            header = next(rows, [])
            for row in rows:
                if row and len(row) != len(header):
                    return f"line {rows.line_num} has {len(row)} fields where the header has {len(header)}"
        except csv.Error as broken:
            return f"line {rows.line_num}: {broken}"
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
