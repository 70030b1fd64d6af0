"""`zoo export`: a REF to a validated export folder, logged beside the run it came from.

The exporter plugin writes into a temporary sibling folder; only a complete,
validated export is renamed into place, so a failed export leaves nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.disk import disk_full, ensure_writable, out_of_space
from zoo_core.errors import PluginError, RecipeError, RefError, ZooError
from zoo_core.plugins import Plugins
from zoo_core.refs import resolve, task_for
from zoo_core.scores import metric_name
from zoo_core.store import folder_size, refused_pickle, replace_folder
from zoo_core.types import Columns, ExportReport, Runtime, TaskAdapter

EXPORT_INFO = "zoo-export.json"


class AccuracyDropError(ZooError):
    """A variant loses more accuracy than the user accepted."""


@dataclass(frozen=True)
class Export:
    """An export folder, as its `zoo-export.json` describes it."""

    path: Path
    format: str
    domain: str
    task: str
    source: str
    run_id: str | None
    report: ExportReport
    metrics: dict[str, Any] = field(default_factory=dict)
    served_as: str | None = None  # the MLflow pyfunc model `mlflow models serve -m` takes (models:/NAME/VERSION)


def read_export(folder: Path) -> Export:
    """The export in `folder`; a missing or damaged `zoo-export.json` is a one-line error."""
    file = folder / EXPORT_INFO
    if not file.is_file():
        raise RefError(f"{folder} is not a zoo export (no {EXPORT_INFO})", "make one with zoo export REF")
    try:
        info = json.loads(file.read_text())
        return Export(folder, info["format"], info["domain"], info["task"], info["source"], info.get("run_id"), ExportReport.from_json(info), info.get("metrics") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise RefError(f"{file} is damaged ({type(exc).__name__}: {exc})", "export the model again with zoo export") from None


def open_runtime(export: Export, plugins: Plugins, provider: str | None = None, variant: str | None = None, threads: int | None = None) -> Runtime:
    """The export opened by the exporter that wrote it, checked as it runs."""
    exporter = plugins.lookup("exporter", export.format)
    if variant is not None and variant not in export.report.variants:
        raise RefError(f"this export has no {variant} variant", f"pass --variant {' or '.join(export.report.variants)}")
    blame = f"exporter '{export.format}' (plugin '{plugins.owner('exporter', export.format)}')"
    with plugin_errors(blame, "open"):
        runtime = exporter.open(export.path, export.report, provider, variant, threads)
    missing = [name for name in ("variant", "provider", "run", "prepare") if not hasattr(runtime, name)]
    if missing:
        raise PluginError(f"{blame} opened a runtime without {', '.join(missing)}", "fix the plugin: a Runtime has variant, provider, run and prepare (docs/plugins.md)")
    return CheckedRuntime(runtime, blame)


class CheckedRuntime:
    """A plugin's runtime whose mistakes come out as one line naming the plugin, not as a crash in zoo."""

    def __init__(self, runtime: Runtime, blame: str) -> None:
        self.runtime, self.blame = runtime, blame
        self.variant, self.provider = runtime.variant, runtime.provider

    def run(self, inputs: Any, graph: str = "model") -> list[Any]:
        with plugin_errors(self.blame, "run"):
            outputs = self.runtime.run(inputs, graph)
        if not isinstance(outputs, (list, tuple)) or not all(hasattr(output, "shape") for output in outputs):
            raise PluginError(f"{self.blame} returned {type(outputs).__name__} from run, not a list of arrays", "fix the plugin: run returns one numpy array per output, in a list")
        return list(outputs)

    def prepare(self, inputs: Any, static: bool = False) -> Callable[[], Any]:
        with plugin_errors(self.blame, "prepare"):
            return self.runtime.prepare(inputs, static)


@contextlib.contextmanager
def plugin_errors(blame: str, step: str) -> Iterator[None]:
    """A plugin's own ZooErrors pass through; anything else is a bug in it, named as such."""
    try:
        with refused_pickle("the model"):
            yield
    except ZooError:
        raise
    except Exception as exc:
        raise PluginError(f"{blame} failed in {step}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}", "report it to the plugin's authors; ZOO_DEBUG=1 shows the traceback") from exc


def export_model(
    ref: str,
    fmt: str,
    out: Path | None,
    options: dict[str, Any],
    catalog: Catalog,
    plugins: Plugins,
    report: Callable[[str], None] = lambda line: None,
) -> Export:
    """Export `ref` with the `fmt` exporter, check it on `options["data"]`, log it to MLflow."""
    exporter = plugins.lookup("exporter", fmt)
    model = resolve(ref, catalog, plugins, bool(options.get("allow_pickle")), report=report)
    domain = options.get("domain") or model.domain
    with refused_pickle(model.name):
        task, adapter = plugins.task_adapter(domain, task_for(model, domain, catalog, plugins), ref)
    if options.get("data") and not (adapter.labelled or hasattr(adapter, "score_export")):
        raise RecipeError(f"--data compares the scores of PyTorch and the export; zoo cannot score a {task} export", "evaluate the model with zoo eval REF --data FILE")
    target = (out or settings.zoo_home() / "exports" / f"{model.name}-{fmt}").resolve()
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
            export = replace(export, metrics=check_metrics(str(model.path), export, adapter, Path(options["data"]), float(options.get("accept_drop") or 1.0), catalog, plugins))
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
    from zoo_core.predict import is_classifier

    return replace(export, served_as=_log_to_mlflow(export, exporter.log_model, is_classifier(adapter)))


def check_metrics(ref: str, export: Export, adapter: TaskAdapter, data: Path, accept_drop: float, catalog: Catalog, plugins: Plugins) -> dict[str, Any]:
    """The task's scores for PyTorch and for each variant on held-out data (a classifier's accuracy, a
    tagger's entity F1, ...); a variant that loses more than `accept_drop` points of the headline score is refused."""
    from zoo_core.finetune import evaluate

    headline = "accuracy" if adapter.labelled else getattr(adapter, "export_metric", None)
    evaluated = evaluate(ref, data, Columns(), catalog, plugins)
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
