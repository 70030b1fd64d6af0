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
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.errors import RecipeError, ZooError
from zoo_core.plugins import Plugins
from zoo_core.refs import ResolvedModel, resolve
from zoo_core.store import replace_folder
from zoo_core.types import Columns, TaskAdapter

EXPORT_INFO = "zoo-export.json"
VARIANT_ORDER = ("fp32", "optimized", "int8", "fp16")


class AccuracyDropError(ZooError):
    """A quantised variant loses more accuracy than the user accepted."""


def task_adapter(model: ResolvedModel, plugins: Plugins) -> tuple[str, TaskAdapter]:
    domains = plugins.domains()
    if model.domain not in domains or domains[model.domain].adapter is None:
        raise RecipeError(f"{model.ref} is a '{model.domain}' model and no installed plugin handles that domain", "see `zoo plugins`")
    task = (model.info or {}).get("task") or domains[model.domain].tasks[0]
    return task, domains[model.domain].adapter(task)


def export_model(
    ref: str,
    fmt: str,
    out: Path | None,
    options: dict[str, Any],
    catalog: Catalog,
    plugins: Plugins,
    report: Callable[[str], None] = lambda line: None,
) -> tuple[Path, dict[str, Any]]:
    exporters = plugins.exporters()
    if fmt not in exporters:
        raise RecipeError(f"no exporter for format '{fmt}'", f"formats are {', '.join(sorted(exporters)) or 'none (install zoo_onnx)'}")
    model = resolve(ref, catalog, plugins, bool(options.get("allow_pickle")), report=report)
    task, adapter = task_adapter(model, plugins)
    target = (out or settings.zoo_home() / "exports" / f"{model.name}-{fmt}").resolve()
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        result = exporters[fmt].export(model.path, adapter, staging, options)
        info = {
            "source": ref,
            "base": (model.info or {}).get("base", model.name),
            "revision": model.revision,
            "run_id": (model.info or {}).get("run_id"),
            "domain": model.domain,
            "task": task,
            "format": fmt,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **result,
            "max_length": (model.info or {}).get("max_length") or result["max_length"],
        }
        if options.get("data") and not adapter.labelled:
            raise RecipeError("--data checks a classifier's accuracy; this model is not a classifier", "evaluate retrieval with zoo eval REF --data pairs.csv")
        if options.get("data"):
            info["metrics"] = check_metrics(str(model.path), staging, info, adapter, Path(options["data"]), float(options.get("accept_drop") or 1.0), catalog, plugins)
        (staging / EXPORT_INFO).write_text(json.dumps(info, indent=2))
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _log_to_mlflow(target, info)
    return target, info


def check_metrics(ref: str, export_dir: Path, info: dict, adapter: TaskAdapter, data: Path, accept_drop: float, catalog: Catalog, plugins: Plugins) -> dict[str, Any]:
    """Accuracy of PyTorch and of each variant on held-out data; a drop beyond `accept_drop` points is refused."""
    from zoo_core.finetune import evaluate

    reference = evaluate(ref, data, Columns(), catalog, plugins)["accuracy"]
    dataset = adapter.read(data, Columns())
    metrics = {"data": str(data), "examples": len(dataset), "pytorch": {"accuracy": reference}}
    for name in VARIANT_ORDER:
        if name not in info["variants"]:
            continue
        accuracy = onnx_accuracy(export_dir, info["variants"][name]["file"], info, adapter, dataset)
        drop = (reference - accuracy) * 100
        metrics[name] = {"accuracy": accuracy, "drop_points": round(drop, 2)}
        if name in ("int8", "fp16") and drop > accept_drop:
            raise AccuracyDropError(
                f"the {name} variant loses {drop:.1f} accuracy points on {data.name} ({reference:.3f} -> {accuracy:.3f}); nothing was kept",
                f"pass --accept-drop {drop:.1f} to keep it anyway, or export without it",
            )
    return metrics


def onnx_accuracy(export_dir: Path, file: str, info: dict, adapter: TaskAdapter, dataset: Any, batch: int = 64) -> float:
    from zoo_onnx.runtime import run, session

    runtime = session(export_dir / file, provider="cpu")
    label_ids = {label: index for index, label in enumerate(info["labels"])}
    inputs = list(dataset[next(name for name in dataset.column_names if name != "label")])  # texts or image paths
    correct = 0
    for start in range(0, len(inputs), batch):
        chunk = inputs[start : start + batch]
        logits = run(runtime, adapter.onnx_inputs(export_dir, chunk, info["max_length"]))[0]
        truth = [label_ids[label] for label in dataset["label"][start : start + batch]]
        correct += int((logits.argmax(-1) == truth).sum())
    return correct / len(inputs)


def _log_to_mlflow(target: Path, info: dict[str, Any]) -> None:
    """Attach the export to the run the model came from, as an ONNX model MLflow can serve."""
    if not info.get("run_id"):
        return
    import mlflow
    import onnx

    from zoo_core import tracking

    tracking.connect()
    with mlflow.start_run(run_id=info["run_id"]):
        mlflow.log_artifacts(str(target), "export")
        mlflow.set_tag("zoo.export", str(target))
        if "file" in info["variants"]["fp32"]:  # one graph: also an ONNX model MLflow can serve
            model_info = mlflow.onnx.log_model(onnx.load(str(target / info["variants"]["fp32"]["file"])), name="onnx")
            mlflow.set_tag("zoo.onnx_model", model_info.model_uri)
    from mlflow import MlflowClient

    client = MlflowClient()
    for version in client.search_model_versions(f"run_id='{info['run_id']}'"):
        client.set_model_version_tag(version.name, version.version, "onnx_export", str(target))
