"""zoo: a plugin-based model-zoo manager for people who adapt pretrained models.

This module is zoo's public API for plugins: the hook marker, the descriptors
hooks yield, the protocols they implement and the errors they raise. Everything
here is cheap to import.
"""

__version__ = "0.1.0"  # first: the modules below read it

import pluggy  # noqa: E402

from zoo_core.catalog import builtin_folder
from zoo_core.data import DataWarning, pick_column, read_problem, warn_dropped
from zoo_core.errors import DataError, IntegrityError, PluginError, RecipeError, SourceError, ZooError, shown_path
from zoo_core.heads import head_names
from zoo_core.settings import trust_remote_code
from zoo_core.store import CARD_COPY, safe_relative
from zoo_core.types import (
    Columns,
    Domain,
    ExportedVariant,
    Exporter,
    ExportReport,
    ExportSpec,
    Method,
    OBJECTIVE_TASKS,
    Runtime,
    Source,
    TaskAdapter,
    TrainingSession,
)

hookimpl = pluggy.HookimplMarker("zoo")

__all__ = [
    "CARD_COPY",
    "Columns",
    "DataError",
    "DataWarning",
    "Domain",
    "ExportReport",
    "ExportSpec",
    "ExportedVariant",
    "Exporter",
    "IntegrityError",
    "Method",
    "OBJECTIVE_TASKS",
    "PluginError",
    "RecipeError",
    "Runtime",
    "Source",
    "SourceError",
    "TaskAdapter",
    "TrainingSession",
    "ZooError",
    "__version__",
    "builtin_folder",
    "head_names",
    "hookimpl",
    "pick_column",
    "read_problem",
    "safe_relative",
    "shown_path",
    "trust_remote_code",
    "warn_dropped",
]
