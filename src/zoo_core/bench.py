"""`zoo bench`: PyTorch eager against every ONNX variant of one model, in one run."""

from __future__ import annotations

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
from zoo_core.errors import RecipeError
from zoo_core.export import EXPORT_INFO, VARIANT_ORDER, export_model, task_adapter
from zoo_core.plugins import Plugins
from zoo_core.refs import resolve


def benchmark(
    target: str,
    batches: list[int],
    length: int,
    runs: int,
    threads: int | None,
    catalog: Catalog,
    plugins: Plugins,
    report: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    import torch

    from zoo_onnx.export import latency

    folder = Path(target)
    if (folder / EXPORT_INFO).is_file():
        export_dir, info = folder, json.loads((folder / EXPORT_INFO).read_text())
        source = info["source"]
    else:
        report(f"exporting {target} (fp32, optimized, int8) to benchmark it")
        export_dir, info = export_model(target, "onnx", None, {"optimize": True, "quantize": "int8"}, catalog, plugins, report)
        source = target
    if "file" not in info["variants"]["fp32"]:
        raise RecipeError(f"{export_dir} holds several graphs ({', '.join(info['graphs'])}); zoo bench times single-graph exports", "benchmark a classifier's export")
    model = resolve(source, catalog, plugins, report=report)
    _, adapter = task_adapter(model, plugins)
    network, processor, _ = adapter.load_trained(model.path)
    network.eval()
    spec = adapter.export_spec(network, processor)
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    length = min(length, spec.max_length)
    on_gpu = torch.cuda.is_available()
    rows = []
    for batch in batches:
        inputs = {name: array for name, array in spec.sample(batch, length, 0).items()}
        inputs = {name: array if name != "attention_mask" else array * 0 + 1 for name, array in inputs.items()}  # full length, no padding
        eager = _torch_latency(network, inputs, runs, on_gpu)
        rows.append(_row(batch, "pytorch eager", eager, eager))
        for name in VARIANT_ORDER:
            if name in info["variants"] and not (name == "fp16" and not on_gpu):
                timings = latency(export_dir / info["variants"][name]["file"], inputs, runs, provider="cuda" if on_gpu else "cpu", threads=threads)
                rows.append(_row(batch, f"onnx {name}", timings, eager))
    result = {
        "model": source,
        "export": str(export_dir),
        "length": length,
        "threads": threads,
        "device": torch.cuda.get_device_name(0) if on_gpu else f"CPU {platform.machine()}",
        "rows": rows,
    }
    saved = settings.zoo_home() / "bench" / f"{model.name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=2))
    result["saved"] = str(saved)
    _log_to_mlflow(info.get("run_id"), rows)
    return result


def _torch_latency(network: Any, inputs: dict[str, Any], runs: int, on_gpu: bool) -> list[float]:
    import torch

    device = "cuda" if on_gpu else "cpu"
    network.to(device)
    tensors = {name: torch.from_numpy(array).to(device) for name, array in inputs.items()}
    timings = []
    with torch.inference_mode():
        network(**tensors)
        for _ in range(runs):
            start = time.perf_counter()
            network(**tensors)
            if on_gpu:
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - start)
    return timings


def _row(batch: int, engine: str, timings: list[float], reference: list[float]) -> dict[str, Any]:
    median = statistics.median(timings)
    return {"batch": batch, "engine": engine, "median_ms": median * 1000, "items_per_s": batch / median, "speedup": statistics.median(reference) / median}


def _log_to_mlflow(run_id: str | None, rows: list[dict[str, Any]]) -> None:
    if not run_id:
        return
    import mlflow

    from zoo_core import tracking

    tracking.connect()
    with mlflow.start_run(run_id=run_id):
        for row in rows:
            key = f"bench_{row['engine'].replace(' ', '_')}_b{row['batch']}"
            mlflow.log_metrics({f"{key}_ms": row["median_ms"], f"{key}_speedup": row["speedup"]})
