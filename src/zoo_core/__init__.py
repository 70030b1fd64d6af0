"""zoo: a plugin-based model-zoo manager for people who adapt pretrained models.

This module is zoo's public API for plugins: the hook marker, the descriptors
hooks yield, the protocols they implement and the errors they raise. Everything
here is cheap to import.
"""

import pluggy

from zoo_core.adapters import CLASSIFIER, EMBEDDER, GENERATOR, LANGUAGE_MODEL, RETRIEVAL, SPAN_EXTRACTOR, TAGGER, TaskAdapter
from zoo_core.catalog import builtin_folder
from zoo_core.data import DataWarning, pick_column, read_problem, warn_dropped
from zoo_core.errors import DataError, IntegrityError, PluginError, RecipeError, SourceError, ZooError, shown_path
from zoo_core.heads import head_names
from zoo_core.quiet import quiet_transformers
from zoo_core.refs import MODEL_INFO, model_info
from zoo_core.results import Answer, Entities, Generated, Label, Result, Vector
from zoo_core.runtime import EXPORT_INFO, Export, read_export
from zoo_core.scores import ranked, softmax
from zoo_core.settings import trust_remote_code
from zoo_core.store import CARD_COPY, safe_relative
from zoo_core.tracking import tracking_client, tracking_uri
from zoo_core.version import __version__
from zoo_core.types import (
    Columns,
    Domain,
    ExportedVariant,
    Exporter,
    ExportReport,
    ExportSpec,
    Method,
    Runtime,
    Source,
    Task,
    TrainingSession,
)

hookimpl = pluggy.HookimplMarker("zoo")

__all__ = [
    "CARD_COPY",
    "CLASSIFIER",
    "EMBEDDER",
    "EXPORT_INFO",
    "GENERATOR",
    "LANGUAGE_MODEL",
    "MODEL_INFO",
    "RETRIEVAL",
    "SPAN_EXTRACTOR",
    "TAGGER",
    "Answer",
    "Columns",
    "DataError",
    "DataWarning",
    "Domain",
    "Entities",
    "Export",
    "ExportReport",
    "ExportSpec",
    "ExportedVariant",
    "Exporter",
    "Generated",
    "IntegrityError",
    "Label",
    "Method",
    "PluginError",
    "RecipeError",
    "Result",
    "Runtime",
    "Source",
    "SourceError",
    "Task",
    "TaskAdapter",
    "TrainingSession",
    "Vector",
    "ZooError",
    "__version__",
    "builtin_folder",
    "head_names",
    "hookimpl",
    "model_info",
    "pick_column",
    "quiet_transformers",
    "ranked",
    "read_export",
    "read_problem",
    "safe_relative",
    "shown_path",
    "softmax",
    "tracking_client",
    "tracking_uri",
    "trust_remote_code",
    "warn_dropped",
]
