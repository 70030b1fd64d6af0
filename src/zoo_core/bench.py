"""`zoo bench`: PyTorch against every variant of an export, side by side in one run.

Noise is the enemy of a ratio: engines are timed in rounds, interleaved (each
round runs every engine, in a rotating order), and each is reported as the
median of its round medians with their min and max, beside the machine's load.
On a GPU, PyTorch also runs in fp16 eager and under torch.compile, inputs stay
on the device, and `--cuda-graph` adds CUDA-graph replay of the export.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.errors import RecipeError, ZooError
from zoo_core.export import export_model
from zoo_core.options import fields_of
from zoo_core.plugins import Plugins
from zoo_core.refs import resolve
from zoo_core.runtime import EXPORT_INFO, Export, open_runtime, read_export
from zoo_core.store import refused_pickle

Engine = Callable[[], Any]


def time_engines(engines: dict[str, Engine], rounds: int, runs: int, warmup: int = 3) -> dict[str, dict[str, float]]:
    """Seconds per call of each engine: the median of `rounds` round medians, with their min and max.

    Each round runs every engine `runs` times, starting from a different engine
    each round, so a burst of load lands on all engines alike.
    """
    names = list(engines)
    for name in names:
        for _ in range(warmup):
            engines[name]()
    medians: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            timings = []
            for _ in range(runs):
                start = time.perf_counter()
                engines[name]()
                timings.append(time.perf_counter() - start)
            medians[name].append(statistics.median(timings))
    return {name: {"median": statistics.median(values), "min": min(values), "max": max(values)} for name, values in medians.items()}


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def pytorch_engines(network: Any, inputs: dict[str, Any], on_gpu: bool, compile_fp16: bool = True) -> dict[str, Engine]:
    """PyTorch eager fp32; on a GPU also fp16 eager and torch.compile fp16, inputs already on the device."""
    import torch

    device = "cuda" if on_gpu else "cpu"
    tensors = {name: torch.from_numpy(array).to(device) for name, array in inputs.items()}
    engines = {"pytorch eager": _torch_call(network.to(device), tensors, on_gpu)}
    if on_gpu:
        half = copy.deepcopy(network).half().eval()
        half_tensors = {name: value.half() if value.is_floating_point() else value for name, value in tensors.items()}
        engines["pytorch fp16 eager"] = _torch_call(half, half_tensors, on_gpu)
        if compile_fp16:
            engines["torch.compile fp16"] = _torch_call(torch.compile(half), half_tensors, on_gpu)
    return engines


def _torch_call(network: Any, tensors: dict[str, Any], on_gpu: bool) -> Engine:
    import torch

    def call() -> None:
        with torch.inference_mode():
            network(**tensors)
        if on_gpu:
            torch.cuda.synchronize()

    return call


def benchmark(
    target: str,
    batches: list[int],
    length: int,
    runs: int,
    threads: int | None,
    catalog: Catalog,
    plugins: Plugins,
    report: Callable[[str], None] = lambda line: None,
    rounds: int = 5,
    cuda_graph: bool = False,
    allow_pickle: bool = False,
    new_tokens: int = 32,
) -> dict[str, Any]:
    import torch

    for flag, value in (("--length", length), ("--runs", runs), ("--rounds", rounds), ("--new-tokens", new_tokens), *(("--batch", size) for size in batches)):
        if value < 1:
            raise RecipeError(f"{flag} {value} cannot be timed", f"pass {flag} 1 or more")
    folder = Path(target)
    if (folder / EXPORT_INFO).is_file():
        export = read_export(folder)
    else:
        fmt = next(iter(plugins.exporters()), None)
        if fmt is None:
            raise RecipeError("no export format is installed to benchmark with", "install an exporter plugin (zoo plugins shows what is installed)")
        exporter = plugins.exporters()[fmt]
        wanted = fields_of(exporter.options() if exporter.options else None)
        variants = {key: value for key, value in EVERY_VARIANT.items() if key in wanted}  # the fast variants the format can make
        report(f"exporting {target} ({fmt}: {', '.join(variants) or 'default'}) to benchmark it")
        export = export_model(target, fmt, None, {"allow_pickle": allow_pickle}, catalog, plugins, report, variants)
    if adapter_of(export, plugins).generates:
        result, name = benchmark_generation(export, length, new_tokens, runs, rounds, threads, catalog, plugins, report, allow_pickle)
        return _log_and_save(result, name, export.run_id)
    if len(export.report.graphs) > 1:
        raise RecipeError(f"{export.path} holds several graphs ({', '.join(export.report.graphs)}); zoo bench times single-graph exports", "benchmark a classifier's export")
    model = resolve(export.source, catalog, plugins, allow_pickle, report=report)  # PyTorch's side loads the source again
    _, adapter = plugins.task_adapter(export.domain, export.task, export.source)
    with refused_pickle(model.name):
        network, processor, _ = adapter.load_trained(model.path)
    network.eval()
    spec = adapter.export_spec(network, processor)
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    length = min(length, spec.max_length)
    on_gpu = torch.cuda.is_available()
    load_before = load_average()
    rows = []
    for batch in batches:
        inputs = spec.sample(batch, length, 0)
        inputs = {name: array * 0 + 1 if name == "attention_mask" else array for name, array in inputs.items()}  # full length, no padding
        engines = pytorch_engines(network, inputs, on_gpu)
        engines.update(export_engines(export, plugins, inputs, threads, on_gpu, cuda_graph, report))
        timed = time_engines(engines, rounds, runs)
        rows.extend(_rows(batch, timed))
    result = {
        "model": export.source,
        "export": str(export.path),
        "format": export.format,
        "length": length,
        "threads": threads,
        "rounds": rounds,
        "runs": runs,
        "device": torch.cuda.get_device_name(0) if on_gpu else f"CPU {platform.machine()}",
        "load_before": load_before,
        "load_after": load_average(),
        "unit": "items",
        "rows": rows,
    }
    return _log_and_save(result, model.name, export.run_id)


EVERY_VARIANT = {"optimize": True, "quantize": "int8"}  # what `zoo bench REF` asks of a format that has these options


def adapter_of(export: Export, plugins: Plugins) -> Any:
    return plugins.task_adapter(export.domain, export.task, export.source)[1]


def benchmark_generation(
    export: Export, length: int, new_tokens: int, runs: int, rounds: int, threads: int | None, catalog: Catalog, plugins: Plugins, report: Callable[[str], None], allow_pickle: bool
) -> tuple[dict[str, Any], str]:
    """Tokens per second of greedy generation (batch 1, the cache fed back each step): PyTorch's
    `generate` against the generation loop on every variant of the export."""
    import torch

    model = resolve(export.source, catalog, plugins, allow_pickle, report=report)
    adapter = adapter_of(export, plugins)
    with refused_pickle(model.name):
        network, processor, _ = adapter.load_trained(model.path)
    network.eval()
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        network = network.to("cuda")
    runtimes = {f"{export.format} {name}": open_runtime(export, plugins, "cuda" if on_gpu else "cpu", name, threads) for name in export.report.variants if on_gpu or name != "fp16"}
    engines = adapter.generation_engines(network, processor, runtimes, export.path, length, new_tokens)
    load_before = load_average()
    timed = time_engines(engines, rounds, runs, warmup=1)
    rows = [{**row, "items_per_s": new_tokens / (row["median_ms"] / 1000)} for row in _rows(1, timed)]
    return {
        "model": export.source,
        "export": str(export.path),
        "format": export.format,
        "length": length,
        "new_tokens": new_tokens,
        "threads": threads,
        "rounds": rounds,
        "runs": runs,
        "device": torch.cuda.get_device_name(0) if on_gpu else f"CPU {platform.machine()}",
        "load_before": load_before,
        "load_after": load_average(),
        "unit": "tokens",
        "rows": rows,
    }, model.name


def _log_and_save(result: dict[str, Any], name: str, run_id: str | None) -> dict[str, Any]:
    """The result saved under ZOO_HOME/bench and logged to a run linked to the training run."""
    saved = settings.zoo_home() / "bench" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=2))
    result["saved"] = str(saved)
    _log_to_mlflow(run_id, result)
    return result


def export_engines(
    export: Export, plugins: Plugins, inputs: dict[str, Any], threads: int, on_gpu: bool, cuda_graph: bool, report: Callable[[str], None] = lambda line: None
) -> dict[str, Engine]:
    """Every variant the export's runtime can run here (fp16 only on a GPU), through the exporter's runtime."""
    engines: dict[str, Engine] = {}
    for name in export.report.variants:
        if name == "fp16" and not on_gpu:
            continue
        runtime = open_runtime(export, plugins, "cuda" if on_gpu else "cpu", name, threads)
        engines[f"{export.format} {name}"] = runtime.prepare(inputs)
        if cuda_graph and on_gpu:
            try:
                engines[f"{export.format} {name} + CUDA graph"] = runtime.prepare(inputs, static=True)
            except ZooError as exc:  # a graph with nodes off the GPU cannot be captured; the others still can
                report(f"skipped {export.format} {name} + CUDA graph: {exc}")
    return engines


def _rows(batch: int, timed: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    reference = timed["pytorch eager"]["median"]
    best_pytorch = min(stats["median"] for name, stats in timed.items() if name.startswith(("pytorch", "torch.compile")))
    return [
        {
            "batch": batch,
            "engine": name,
            "median_ms": stats["median"] * 1000,
            "min_ms": stats["min"] * 1000,
            "max_ms": stats["max"] * 1000,
            "items_per_s": batch / stats["median"],
            "speedup": reference / stats["median"],
            "vs_best_pytorch": best_pytorch / stats["median"],
        }
        for name, stats in timed.items()
    ]


def _log_to_mlflow(run_id: str | None, result: dict[str, Any]) -> None:
    """A benchmark run of its own, linked to the training run the export came from."""
    if not run_id:
        return
    import mlflow

    from zoo_core import tracking

    with tracking.linked_run(run_id, "bench", {"zoo.export": result["export"], "zoo.device": result["device"]}):
        mlflow.log_params({"length": result["length"], "threads": result["threads"], "rounds": result["rounds"], "runs": result["runs"]})
        for row in result["rows"]:
            key = f"{row['engine'].replace(' ', '_').replace('+', '').replace('__', '_')}_b{row['batch']}"
            mlflow.log_metrics({f"{key}_ms": row["median_ms"], f"{key}_speedup": row["speedup"]})
        mlflow.log_dict(result, "bench.json")
