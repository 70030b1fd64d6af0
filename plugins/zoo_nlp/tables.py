"""Reading text data files (CSV, TSV, JSONL, parquet, and plain text for corpora) into `datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core import DataError, read_problem, shown_path

EMPTY = ("", "nan", "NaN", "None", "null")  # what pandas and JSON leave in a cell with no value
BUILDERS = {".csv": ("csv", {}), ".tsv": ("csv", {"sep": "\t"}), ".jsonl": ("json", {}), ".json": ("json", {}), ".parquet": ("parquet", {})}


def load_table(path: Path, needs: str) -> Any:
    """The file as a Dataset; a missing, empty, unknown or unparsable file is a `DataError` (`needs`: what it should hold)."""
    import datasets

    if not path.is_file():
        raise DataError(f"data file {shown_path(path)} does not exist", "give a CSV, TSV, JSONL or parquet file")
    if path.suffix.lower() not in BUILDERS:
        raise DataError(f"{path.name}: zoo reads {', '.join(BUILDERS)} files", "convert it to CSV or JSONL")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty", f"it needs {needs}")
    builder, options = BUILDERS[path.suffix.lower()]
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as exc:  # datasets wraps parser errors in several types and hides the cause
        if "corresponds to no data" in str(exc):  # a header and nothing under it
            raise DataError(f"{path.name} has no rows", f"it needs {needs}") from None
        raise DataError(f"{path.name} could not be read: {read_problem(path, exc)}", "fix that line, or save the file as UTF-8 CSV or JSON Lines") from None


def filled(value: Any) -> bool:
    return value is not None and str(value).strip() not in EMPTY
