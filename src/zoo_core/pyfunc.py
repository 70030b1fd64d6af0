"""A classifier export as an MLflow pyfunc model, so `mlflow models serve -m models:/NAME/VERSION` serves it.

The export folder travels as the model's artifact; `predict` runs it through zoo's own
path (`open_classifier`, `classify`) on the exporter's runtime, so MLflow's server answers
what `zoo predict` and `zoo serve` answer. Imported only when an export is logged or loaded.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow

from zoo_core.predict import BATCH


@contextlib.contextmanager
def _unshown_warnings() -> Iterator[None]:
    """No warning printed: MLflow shows its advice "once" under its own filters, whatever the caller's say."""
    shown, warnings.showwarning = warnings.showwarning, lambda *args, **kwargs: None
    try:
        yield
    finally:
        warnings.showwarning = shown


# MLflow advises, in raw ANSI colour, to type predict() when the class is made: zoo's inputs are untyped on purpose.
with _unshown_warnings():

    class ExportModel(mlflow.pyfunc.PythonModel):
        """Texts or image paths in (a list, a one-column table or array), each input's label and scores out."""

        def load_context(self, context: Any) -> None:
            from zoo_core.plugins import load_plugins
            from zoo_core.predict import open_classifier

            self.export, self.adapter, self.runtime = open_classifier(Path(context.artifacts["export"]), load_plugins(), what="the zoo pyfunc model")

        def predict(self, context, model_input, params=None):  # untyped: MLflow infers no schema from Any, and warned twice
            """Each input's label and scores, as `zoo predict --json` gives them."""
            from zoo_core.predict import classify

            inputs = _texts(model_input)
            return [result for start in range(0, len(inputs), BATCH) for result in (row.to_json() for row in classify(self.runtime, self.adapter, self.export, inputs[start : start + BATCH]))]


def _texts(model_input: Any) -> list[str]:
    """MLflow hands `inputs` over as a numpy array, `dataframe_split` as a DataFrame: its first column."""
    if hasattr(model_input, "iloc") and getattr(model_input, "ndim", 1) == 2:
        model_input = model_input.iloc[:, 0]
    if hasattr(model_input, "tolist"):
        model_input = model_input.tolist()
    if isinstance(model_input, str):
        model_input = [model_input]
    return [item[0] if isinstance(item, list) and len(item) == 1 else item for item in model_input]


def log_pyfunc(export_dir: Path, registered_name: str | None) -> str:
    """Log the export as a pyfunc model in the active run (registered as a new version of `registered_name`
    when given); returns the URI to serve: models:/NAME/VERSION, or the logged model's own URI."""
    import logging
    from importlib.metadata import version

    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # its CloudPickle caution: the model class is zoo's own
    info = mlflow.pyfunc.log_model(
        name="pyfunc",
        python_model=ExportModel(),
        artifacts={"export": str(export_dir)},
        pip_requirements=[f"zoo-models=={version('zoo-models')}"],  # explicit: no slow requirement inference
        registered_model_name=registered_name,
    )
    if registered_name and info.registered_model_version:
        return f"models:/{registered_name}/{info.registered_model_version}"
    return info.model_uri
