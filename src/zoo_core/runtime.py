"""An export folder opened to run: its `zoo-export.json` read and its exporter's runtime, checked as it runs.

`zoo export` writes exports; predict, serve, bench, the pyfunc model and `zoo eval` read them through
here, so reading an export depends on nothing that writes one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_core import guard
from zoo_core.errors import PluginError, RefError
from zoo_core.plugins import Plugins
from zoo_core.store import refused_pickle
from zoo_core.types import ExportReport, Runtime

EXPORT_INFO = "zoo-export.json"


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
    """`zoo_core.guard.plugin_errors`, with pickle checkpoints refused while the plugin's code runs."""
    with guard.plugin_errors(blame, step), refused_pickle("the model"):
        yield
