"""`zoo export`: a REF to a validated export folder, logged beside the run it came from.

The exporter plugin writes into a temporary sibling folder; only a complete,
validated export is renamed into place, so a failed export leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.disk import disk_full, ensure_writable, out_of_space
from zoo_core.errors import PluginError, RecipeError, ZooError
from zoo_core.plugins import Plugins
from zoo_core.options import validate
from zoo_core.refs import resolve, task_for
from zoo_core.runtime import EXPORT_INFO, Export, open_runtime, plugin_errors
from zoo_core.scores import metric_name
from zoo_core.store import folder_size, refused_pickle, replace_folder
from zoo_core.training.evaluate import evaluate
from zoo_core.adapters import TaskAdapter
from zoo_core.types import Columns, ExportReport, Runtime


class AccuracyDropError(ZooError):
    """A variant loses more accuracy than the user accepted."""


def export_model(
    ref: str,
    fmt: str,
    out: Path | None,
    options: dict[str, Any],
    catalog: Catalog,
    plugins: Plugins,
    report: Callable[[str], None] = lambda line: None,
    format_options: dict[str, Any] | None = None,
    spelled: dict[str, str] | None = None,
) -> Export:
    """Export `ref` with the `fmt` exporter, check it on `options["data"]`, log it to MLflow.

    `options` are the engine's (data, accept_drop, allow_pickle, domain, task); `format_options` the
    exporter's own, validated by its options model and handed to it with the engine's."""
    exporter = plugins.lookup("exporter", fmt)
    others = {name: other.options for name, other in plugins.exporters().items()}
    with plugins.guarded("exporter", fmt, "options"):
        own = validate("exporter", fmt, exporter.options, format_options or {}, others, lambda key: (spelled or {}).get(key, f"-o {key}"), "--format")
    options = {**options, **own}
    model = resolve(ref, catalog, plugins, bool(options.get("allow_pickle")), report=report)
    domain = options.get("domain") or model.domain
    with refused_pickle(model.name):
        task, adapter = plugins.task_adapter(domain, options.get("task") or task_for(model, domain, catalog, plugins), ref)
    if options.get("data") and adapter.metric() is None:
        raise RecipeError(f"--data compares the scores of PyTorch and the export; zoo cannot score a {task} export", "evaluate the model with zoo eval REF --data FILE")
    named = f"{model.name}-{task}" if options.get("task") else model.name  # a task asked for by name: beside the model's own export, not over it
    target = (out or settings.zoo_home() / "exports" / f"{named}-{fmt}").resolve()
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    ensure_writable(target.parent)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        blame = f"exporter '{fmt}' (plugin '{plugins.owner('exporter', fmt)}')"
        with plugin_errors(blame, "export"):
            result = exporter.export(model.path, adapter, staging, options)
        if not isinstance(result, ExportReport) or not result.variants:
            shown = "an ExportReport with no variants" if isinstance(result, ExportReport) else type(result).__name__
            raise PluginError(f"{blame} returned {shown}, not an ExportReport with at least one variant", "fix the plugin (docs/plugins.md, zoo_exporters)")
        # the length the model was fine-tuned with, but never more than the export takes
        result = replace(result, max_length=min(filter(None, ((model.info or {}).get("max_length"), result.max_length))))
        export = Export(staging, fmt, domain, task, ref, (model.info or {}).get("run_id"), result)
        if options.get("data"):
            export = replace(export, metrics=check_metrics(str(model.path), export, adapter, Path(options["data"]), float(options.get("accept_drop") or 1.0), catalog, plugins, domain, task))
        info = {
            "source": ref,
            "base": (model.info or {}).get("base", model.name),
            "revision": model.revision,
            "run_id": export.run_id,
            "domain": domain,
            "task": task,
            "format": fmt,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **result.to_json(),
            **({"metrics": export.metrics} if export.metrics else {}),
        }
        (staging / EXPORT_INFO).write_text(json.dumps(info, indent=2))
        replace_folder(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if out_of_space(exc):  # an exporter's own wrapping of it (an opset complaint, say) would hide the cause
            raise disk_full(target.parent, 2 * folder_size(model.path)) from None
        raise
    export = replace(export, path=target)
    return replace(export, served_as=_log_to_mlflow(export, exporter.log_model, adapter.labelled))


def check_metrics(ref: str, export: Export, adapter: TaskAdapter, data: Path, accept_drop: float, catalog: Catalog, plugins: Plugins, domain: str | None = None, task: str | None = None) -> dict[str, Any]:
    """The task's scores for PyTorch and for each variant on held-out data (a classifier's accuracy, a
    tagger's entity F1, ...); a variant that loses more than `accept_drop` points of the headline score is refused."""
    headline = adapter.metric()
    evaluated = evaluate(ref, data, Columns(), catalog, plugins, domain=domain, task=task)
    reference = {key: value for key, value in evaluated.items() if key not in ("model", "data", "examples")}
    if headline not in reference:  # a plugin whose export_metric names no score of its own evaluate
        raise PluginError(f"the {export.task} adapter's export_metric {headline!r} is not one of its scores ({', '.join(reference)})", "fix the plugin: export_metric names a key its evaluate returns")
    dataset = adapter.read(data, Columns())
    metrics: dict[str, Any] = {"data": str(data), "examples": len(dataset), "metric": headline, "pytorch": reference}
    for name in export.report.variants:
        runtime = open_runtime(export, plugins, None, name)
        with plugin_errors(f"the {export.task} adapter", "score_export"):
            scores = {"accuracy": runtime_accuracy(runtime, export, adapter, dataset)} if adapter.labelled else adapter.score_export(runtime, export.path, export.report, dataset)
        drop = (reference[headline] - scores[headline]) * 100
        metrics[name] = {**scores, "drop_points": round(drop, 2), "provider": runtime.provider}
        if drop > accept_drop:
            raise AccuracyDropError(
                f"the {name} variant loses {drop:.1f} {metric_name(headline)} points on {data.name} ({reference[headline]:.3f} -> {scores[headline]:.3f}); nothing was kept",
                f"pass --accept-drop {drop:.1f} to keep it anyway, or export without it",
            )
    return metrics


def runtime_accuracy(runtime: Runtime, export: Export, adapter: TaskAdapter, dataset: Any, batch: int = 64) -> float:
    label_ids = {label: index for index, label in enumerate(export.report.labels)}
    inputs = list(dataset[next(name for name in dataset.column_names if name != "label")])  # texts or image paths
    correct = 0
    for start in range(0, len(inputs), batch):
        chunk = inputs[start : start + batch]
        logits = runtime.run(adapter.export_inputs(export.path, chunk, export.report.max_length))[0]
        truth = [label_ids[label] for label in dataset["label"][start : start + batch]]
        correct += int((logits.argmax(-1) == truth).sum())
    return correct / len(inputs)


def _log_to_mlflow(export: Export, log_model: Callable[[Path, ExportReport], str | None] | None, classifier: bool) -> str | None:
    """An export run of its own, linked to the training run and its versions (and, when the
    format has one, the export as an MLflow model). A classifier's export is also a pyfunc model,
    registered as `<training's registered name>-<format>`; returns the URI to serve it by."""
    if not export.run_id:
        return None
    import mlflow
    from mlflow import MlflowClient

    from zoo_core import tracking

    served_as = None
    with tracking.linked_run(export.run_id, "export", {"zoo.format": export.format, "zoo.export": str(export.path)}):
        trained = MlflowClient().search_model_versions(f"run_id='{export.run_id}'")
        mlflow.log_artifacts(str(export.path), "export")
        if export.metrics:
            mlflow.log_metrics({f"{name}_{key}": value for name, values in export.metrics.items() if isinstance(values, dict) for key, value in values.items() if isinstance(value, float) and key != "drop_points"})
        model_uri = log_model(export.path, export.report) if log_model else None
        if model_uri:
            mlflow.set_tag(f"zoo.{export.format}_model", model_uri)
        if classifier:
            from zoo_core.pyfunc import log_pyfunc

            served_as = log_pyfunc(export.path, f"{trained[0].name}-{export.format}" if trained else None)
            mlflow.set_tag("zoo.pyfunc_model", served_as)
    client = MlflowClient()
    client.set_tag(export.run_id, "zoo.export", str(export.path))
    for version in client.search_model_versions(f"run_id='{export.run_id}'"):
        client.set_model_version_tag(version.name, version.version, f"{export.format}_export", str(export.path))
        if served_as:
            client.set_model_version_tag(version.name, version.version, "pyfunc_model", served_as)
    return served_as
