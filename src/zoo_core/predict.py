"""`zoo predict`: labels and scores from an export, on the runtime of the exporter that wrote it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core.catalog import Catalog
from zoo_core.errors import DataError, PluginError, RefError
from zoo_core.plugins import Plugins
from zoo_core.refs import task_for
from zoo_core.results import Label, Result
from zoo_core.runtime import EXPORT_INFO, Export, open_runtime, read_export
from zoo_core.scores import ranked, softmax
from zoo_core.store import refused_pickle
from zoo_core.types import Runtime

BATCH = 64


def read_inputs(file: Path | None) -> list[Any]:
    """A .txt file (one input per line), .jsonl ({"text": ...}, a JSON string, or an object such as
    {"question": ..., "context": ...} per line) or .csv (a text column, or the columns as an object)."""
    if file is None:
        return []
    if not file.is_file():
        raise DataError(f"input file {file} does not exist", "give a .txt, .jsonl or .csv file")
    if file.suffix == ".csv":
        return _csv_inputs(file)
    lines = [line for line in file.read_text().splitlines() if line.strip()]
    if file.suffix != ".jsonl":
        return lines
    inputs: list[Any] = []
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{file.name} line {number} is not JSON", "write one {\"text\": ...} object per line") from None
        inputs.append(value["text"] if isinstance(value, dict) and "text" in value else value)
        if not isinstance(inputs[-1], (str, dict)):
            raise DataError(f"{file.name} line {number} has no text", "write one {\"text\": ...} object per line")
    return inputs


def _csv_inputs(file: Path) -> list[Any]:
    import csv

    with file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "text" in rows[0]:
        return [row["text"] for row in rows if (row["text"] or "").strip()]
    return [dict(row) for row in rows]


def predict(
    target: str,
    inputs: list[Any],
    provider: str | None,
    variant: str | None,
    plugins: Plugins,
    top: int = 1,
    labels: list[str] | None = None,
    catalog: Catalog | None = None,
    allow_pickle: bool = False,
    decoding: dict[str, Any] | None = None,
    on_text: Callable[[str], None] | None = None,
    domain: str | None = None,
    task: str | None = None,
) -> tuple[list[Result], str]:
    """Predict with an export on its exporter's runtime, or (models that answer without an export) with a REF
    in PyTorch. Generators stream their text to `on_text` as it comes, a newline after each input.
    `domain` and `task` place a folder no card describes."""
    export_dir = Path(target)
    if not inputs:
        raise DataError("nothing to predict", "give inputs as arguments or with --file")
    decoding = decoding or {}
    if decoding.get("max_new_tokens", 1) < 1:
        raise DataError(f"--max-new-tokens {decoding['max_new_tokens']} generates nothing", "pass --max-new-tokens 1 or more (default 32)")
    if not (export_dir / EXPORT_INFO).is_file():
        return _predict_model(target, inputs, labels or [], top, plugins, catalog, allow_pickle, decoding, on_text, domain, task)
    export = read_export(export_dir)
    domain, task = domain or export.domain, task or export.task
    _, adapter = plugins.task_adapter(domain, task, target)
    runtime = open_runtime(export, plugins, provider, variant)
    used = f"{export.format} {runtime.variant} on {runtime.provider}"
    with plugins.guarded("task", f"{domain}/{task}", "predict_export"):
        if adapter.generates:
            return _generate(lambda prompt, stream: adapter.generate_export(runtime, export_dir, prompt, decoding, stream), inputs, on_text), used
        if not adapter.labelled:  # the task answers in its own way (entities, spans, zero-shot labels ...)
            return checked_rows(adapter.predict_export(runtime, export_dir, inputs, labels or [], top), inputs, plugins.blamed("task", f"{domain}/{task}")), used
        if not all(isinstance(item, str) for item in inputs):
            raise DataError(f"a {export.task} model takes texts or image paths, not {next(item for item in inputs if not isinstance(item, str))!r}", "give one input per argument, or a .txt file with --file")
        return [result for start in range(0, len(inputs), BATCH) for result in classify(runtime, adapter, export, inputs[start : start + BATCH], top)], used


def checked_rows(rows: Any, inputs: list[Any], blamed: str) -> list[Result]:
    """A task's answers, one `Result` row per input, or a `PluginError` naming the task's plugin."""
    if not isinstance(rows, list) or len(rows) != len(inputs) or not all(isinstance(row, Result) for row in rows):
        got = type(rows[0]).__name__ if isinstance(rows, list) and rows else type(rows).__name__
        raise PluginError(f"{blamed} answered with {got} rows, not one zoo_core result row per input", "fix the plugin: predict returns Label, Entities, Answer, Generated or Vector rows (docs/plugins.md)")
    return rows


def open_classifier(export_dir: Path, plugins: Plugins, provider: str | None = None, variant: str | None = None, what: str = "zoo serve") -> tuple[Export, Any, Runtime]:
    """A classifier export opened once, for callers that classify many batches (zoo serve, the MLflow pyfunc)."""
    export = read_export(export_dir)
    _, adapter = plugins.task_adapter(export.domain, export.task, str(export_dir))
    if not adapter.labelled:
        raise RefError(f"{what} batches classifiers; {export_dir} is a {export.task} export", f"run it with zoo predict {export_dir} INPUT...")
    return export, adapter, open_runtime(export, plugins, provider, variant)


def classify(runtime: Runtime, adapter: Any, export: Export, inputs: list[str], top: int = 1) -> list[Label]:
    """One runtime call for a batch of texts or image paths: each input's label and scores."""
    logits = runtime.run(adapter.export_inputs(export.path, inputs, export.report.max_length))[0]
    return [Label(input=item, **ranked(row, export.report.labels, top)) for item, row in zip(inputs, softmax(logits))]


def _generate(generate: Callable[[str, Callable[[str], None] | None], Result], inputs: list[str], on_text: Callable[[str], None] | None) -> list[Result]:
    results = []
    for prompt in inputs:
        results.append(generate(prompt, on_text))
        if on_text:
            on_text("\n")
    return results


def _predict_model(
    ref: str,
    inputs: list[str],
    labels: list[str],
    top: int,
    plugins: Plugins,
    catalog: Catalog | None,
    allow_pickle: bool,
    decoding: dict[str, Any],
    on_text: Callable[[str], None] | None,
    domain_name: str | None,
    task: str | None,
) -> tuple[list[Result], str]:
    """Models whose task answers without an export (zero-shot, fill-mask, generation, entities, spans) answer straight
    from a REF; classifiers are served from their export."""
    from zoo_core.refs import resolve

    not_export = RefError(f"{ref} is not a zoo export (no {EXPORT_INFO})", "make one with zoo export REF and predict with the export folder")
    if catalog is None:
        raise not_export
    model = resolve(ref, catalog, plugins, allow_pickle)
    domain = plugins.domains().get(domain_name or model.domain or "")
    if domain is None or not plugins.tasks()[domain.name]:
        if domain_name is None and model.domain is None and (model.path / "config.json").is_file():  # a model, of no domain zoo knows
            raise RefError(f"zoo cannot tell which domain {ref} belongs to", f"pass --domain NAME (domains: {', '.join(sorted(plugins.domains())) or 'none'})")
        raise not_export
    with refused_pickle(model.name):
        task, adapter = plugins.task_adapter(domain.name, task or task_for(model, domain.name, catalog, plugins), ref)
    if adapter.labelled:
        if model.info is None and (domain.task_of is None or domain.task_of(model.path) is None):
            raise RefError(f"{ref} has no task head to predict with (its checkpoint holds the encoder alone)", "train one first: zoo finetune adds a classifier (then export it), zoo adapt a masked-LM head for [MASK]")
        raise not_export
    import torch

    used = f"{task}, pytorch on {'cuda' if torch.cuda.is_available() else 'cpu'}"
    with refused_pickle(model.name), plugins.guarded("task", f"{domain.name}/{task}", "predict_model"):
        if adapter.generates:
            return _generate(lambda prompt, stream: adapter.generate_model(model.path, prompt, decoding, stream), inputs, on_text), used
        return checked_rows(adapter.predict_model(model.path, inputs, labels, top), inputs, plugins.blamed("task", f"{domain.name}/{task}")), used
