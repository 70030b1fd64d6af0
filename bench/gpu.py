"""GPU inference: zoo's ONNX variants against PyTorch fp32, fp16 eager and torch.compile fp16.

    PYTHONPATH=src:plugins python bench/gpu.py [--models bert-base,bert-large] [--batches 1,32,128]
        [--length 128] [--rounds 5] [--runs 20] [--json out.json] [--markdown out.md]

Runs on a bare GPU machine that has torch, transformers, onnx and onnxruntime-gpu but
no mlflow and no network: BERT sequence classifiers with random weights are built from
configs (latency does not depend on the weights), exported by zoo's ONNX exporter
(fp32, `--optimize`, `--fp16`: the fused fp16 graph), validated against PyTorch, and
timed through zoo's ONNX runtime (I/O binding; `+ CUDA graph` replays a captured graph)
in interleaved rounds beside PyTorch on the same device-resident inputs. Without a GPU
it still runs (PyTorch fp32 against the CPU variants), which is how CI-less machines
check the script. The markdown table goes to BENCHMARKS.md by hand, with the card named.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "plugins")]

CONFIGS = {
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "bert-large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
}
# The targets for the best zoo variant, by batch: (baseline engine, ratio).
TARGETS = {1: ("pytorch fp16 eager", 5.0), 32: ("torch.compile fp16", 1.3), 128: ("torch.compile fp16", 1.1)}


def build(name: str, folder: Path):
    """A random-weight BERT classifier, its ExportSpec, and the ONNX variants zoo makes."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from zoo_nlp.text_classification import TextClassification
    from zoo_onnx.export import _torch_export, fused_fp16, optimize, validate

    torch.manual_seed(0)
    config = BertConfig(**CONFIGS[name], num_labels=2, attn_implementation="eager")
    model = BertForSequenceClassification(config).eval()
    tokenizer = SimpleNamespace(model_input_names=["input_ids", "token_type_ids", "attention_mask"], pad_token_id=0, all_special_ids=[0, 100, 101, 102, 103])
    spec = TextClassification().export_spec(model, tokenizer)
    graph = folder / f"{name}.onnx"
    _torch_export(model, spec, graph, 17)
    variants = {"fp32": graph, "optimized": optimize(graph, spec), "fp16": fused_fp16(graph, spec, folder / f"{name}.fp16.onnx")}
    diffs = {variant: validate(path, model, spec, tolerance=None)["logits"] for variant, path in variants.items()}
    return model, spec, variants, diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bert-base,bert-large")
    parser.add_argument("--batches", default="1,32,128")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    import onnxruntime
    import torch

    from zoo_core import ExportedVariant, ExportReport, ZooError
    from zoo_core.bench import _rows, load_average, pytorch_engines, time_engines
    from zoo_onnx.runtime import OnnxRuntime

    on_gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if on_gpu else f"CPU {platform.machine()}"
    print(f"{device}; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; load {load_average()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            model, spec, variants, diffs = build(name, Path(scratch))
            report = ExportReport({variant: ExportedVariant({"model": path.name}, {"logits": diffs[variant]}) for variant, path in variants.items()}, ["0", "1"], spec.max_length)
            for batch in (int(size) for size in args.batches.split(",")):
                inputs = {key: value * 0 + 1 if key == "attention_mask" else value for key, value in spec.sample(batch, args.length, 0).items()}
                engines = pytorch_engines(model, inputs, on_gpu)
                for variant in report.variants:
                    if variant == "fp16" and not on_gpu:
                        continue
                    runtime = OnnxRuntime(Path(scratch), report, "cuda" if on_gpu else "cpu", variant)
                    engines[f"zoo {variant}"] = runtime.prepare(inputs)
                    if on_gpu:
                        try:
                            engines[f"zoo {variant} + CUDA graph"] = runtime.prepare(inputs, static=True)
                        except ZooError as exc:
                            print(f"skipped zoo {variant} + CUDA graph: {exc}", flush=True)
                load = load_average()
                rows = _rows(batch, time_engines(engines, args.rounds, args.runs))
                for row in rows:
                    row.update(model=name, load=load, max_abs_diff=diffs.get(row["engine"].split()[1]) if row["engine"].startswith("zoo") else None)
                    print(f"{name:10} b{batch:<4} {row['engine']:28} {row['median_ms']:8.2f} ms ({row['min_ms']:.2f}-{row['max_ms']:.2f})  {row['speedup']:6.2f}x", flush=True)
                results.extend(rows)
    table = markdown(results, device, args)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": results}, indent=2))
    if args.markdown:
        args.markdown.write_text(table)


def markdown(rows: list[dict], device: str, args: argparse.Namespace) -> str:
    """One line per model and batch: every engine's median (min-max), and the best zoo variant against the targets."""
    engines = list(dict.fromkeys(row["engine"] for row in rows))
    lines = [
        f"Measured by `bench/gpu.py` on {device}, {time.strftime('%Y-%m-%d')}: sequence {args.length}, random-weight BERT classifiers, "
        f"median of {args.rounds} interleaved rounds of {args.runs} runs (min-max of the round medians), inputs already on the device.",
        "",
        "| model, batch | " + " | ".join(engines) + " | best zoo vs target |",
        "|---|" + "---:|" * (len(engines) + 1),
    ]
    for (model, batch) in dict.fromkeys((row["model"], row["batch"]) for row in rows):
        cells = {row["engine"]: row for row in rows if row["model"] == model and row["batch"] == batch}
        best = min((row for name, row in cells.items() if name.startswith("zoo")), key=lambda row: row["median_ms"])
        target = TARGETS.get(batch)
        verdict = ""
        if target and target[0] in cells:
            ratio = cells[target[0]]["median_ms"] / best["median_ms"]
            verdict = f"{best['engine']}: {ratio:.2f}x {target[0]} (target {target[1]}x)"
        shown = [f"{cells[name]['median_ms']:.2f} ({cells[name]['min_ms']:.2f}-{cells[name]['max_ms']:.2f})" if name in cells else "–" for name in engines]
        lines.append(f"| {model}, {batch} | " + " | ".join(shown) + f" | {verdict} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
