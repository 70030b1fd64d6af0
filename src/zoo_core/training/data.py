"""Reading and splitting a run's data, and the sizes it implies (epochs, patience): what the user's
files hold, checked before any model loads. Imports nothing of the run, so `zoo eval` and prompting share it.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core.catalog import Catalog
from zoo_core.data import DataWarning
from zoo_core.errors import DataError, RecipeError, shown_path
from zoo_core.recipe import Recipe
from zoo_core.refs import ResolvedModel
from zoo_core.adapters import TaskAdapter
from zoo_core.types import Columns

MIN_ROWS_TO_SPLIT = 4  # at least one validation row and a few to train on
MIN_ROWS_PER_CLASS = 2  # one to train on and one to validate with
DEFAULT_EPOCHS = 3
MIN_STEPS = 100  # a small data set still gets enough updates to learn: 60 rows are 25 epochs, not 12 steps
MAX_DEFAULT_EPOCHS = 30
DEFAULT_PATIENCE = 2


def fingerprint(*paths: Path | None) -> str:
    """A short digest of the data files (every file, with its relative name, for a folder)."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        files = sorted(item for item in path.rglob("*") if item.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def read_data(adapter: TaskAdapter, path: Path, columns: Columns, report: Callable[[str], None]) -> Any:
    """The adapter's reading of a data file; rows it leaves out are reported, not hidden."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        data = adapter.read(path, columns)
    for warning in caught:
        if issubclass(warning.category, DataWarning):
            report(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return data


def read_unlabeled(adapter: TaskAdapter, recipe: Recipe, columns: Columns, task: str, train: Any, val: Any, report: Callable[[str], None]) -> Any:
    """The --unlabeled data through the adapter's `read_unlabeled` (its label column, if any, ignored),
    less the rows the labelled data already holds."""
    if not recipe.unlabeled.exists():
        raise DataError(f"--unlabeled {shown_path(recipe.unlabeled)} does not exist", "give a file (or, for images, a folder) of examples without labels")

    class Unlabeled:  # the engine's reader reports the rows an adapter leaves out
        def read(self, path: Path, columns: Columns) -> Any:
            return adapter.read_unlabeled(path, columns)

    pool = read_data(Unlabeled(), recipe.unlabeled, Columns(columns.text, columns.text_pair), report)
    inputs = pool.column_names
    labelled = {tuple(row[name] for name in inputs) for data in (train, val) for row in data.select_columns(inputs)}
    fresh = [index for index, row in enumerate(pool) if tuple(row[name] for name in inputs) not in labelled]
    if len(fresh) < len(pool):  # pseudo-labelling validation rows would score the model on its own labels
        report(f"{recipe.unlabeled.name}: left out {len(pool) - len(fresh)} of {len(pool)} rows that are in --data or --val")
        pool = pool.select(fresh)
    if len(pool) == 0:
        raise DataError(f"{recipe.unlabeled.name} has no rows that are not in --data or --val", "give data without labels that the labelled files do not hold")
    return pool


def stratified_split(data: Any, fraction: float, seed: int, path: Path) -> tuple[Any, Any]:
    """Hold out `fraction` of each class (one row at least), so validation sees every class."""
    import numpy as np

    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(data["label"]):
        by_class.setdefault(label, []).append(index)
    scarce = sorted((len(rows), label) for label, rows in by_class.items() if len(rows) < MIN_ROWS_PER_CLASS)
    if scarce:
        count, label = scarce[0]
        raise DataError(
            f"{path.name}: class '{label}' has {count} usable row{'s' * (count != 1)}; training and validating need at least {MIN_ROWS_PER_CLASS} of each class",
            "add rows of that class, or pass --val FILE with validation rows",
        )
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for rows in by_class.values():
        held.extend(rng.permutation(rows)[: max(1, round(len(rows) * fraction))].tolist())
    chosen = set(held)
    return data.select([index for index in range(len(data)) if index not in chosen]), data.select(sorted(held))


def check_labels(train: Any, val: Any, data: Path) -> list[str]:
    """The classes, sorted; every validation class must have been seen in training."""
    labels = sorted(set(train["label"]))
    if len(labels) < 2:
        raise DataError(f"{data.name} has a single class ('{labels[0]}')", "a classifier needs examples of at least two labels")
    unseen = sorted(set(val["label"]) - set(labels))
    if unseen:
        raise DataError(f"validation labels never seen in training: {', '.join(unseen[:5])}", "add training examples of them or drop those rows")
    return labels


def label_set(adapter: TaskAdapter, train: Any, val: Any) -> list[str]:
    """The labels of a task whose labels are not one per row (a tagger's tags), as the adapter reads them."""
    return list(adapter.labels_of(train, val))


def default_epochs(rows: int, batch_size: int) -> int:
    """3 epochs, or as many as it takes to reach MIN_STEPS optimizer steps on small data (30 at most)."""
    steps_per_epoch = max(1, math.ceil(rows / batch_size))
    return min(MAX_DEFAULT_EPOCHS, max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch)))


def default_patience(epochs: int) -> int:
    """2 epochs without improvement, or a quarter of a long run's."""
    return max(DEFAULT_PATIENCE, math.ceil(epochs / 4))


def card_defaults(base: ResolvedModel, catalog: Catalog) -> dict[str, dict[str, float]]:
    """The learning rates the base model's card recommends per method (also for a model fine-tuned from it)."""
    for name in (base.name, (base.info or {}).get("base")):
        card_id = catalog.canonical(name) if name else None
        if card_id is not None:
            return {method: {key: value for key, value in rates.items() if value is not None} for method, rates in (catalog.entries[card_id].get("finetune") or {}).items()}
    return {}
