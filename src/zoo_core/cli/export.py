"""`zoo export`, `zoo predict`, `zoo bench`: the ONNX path."""

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from zoo_core.cli.context import Context


def _report(line: str) -> None:
    print(line, file=sys.stderr)


def register(app: typer.Typer, context: Context) -> None:
    @app.command()
    def export(
        model: Annotated[str, typer.Argument(help="REF of a fine-tuned model (name, folder, models:/..., runs:/...).")],
        format: Annotated[str, typer.Option("--format", help="Export format.")] = "onnx",
        out: Annotated[Optional[Path], typer.Option(help="Export folder (default: ZOO_HOME/exports/<model>-<format>).")] = None,
        opset: Annotated[Optional[int], typer.Option(help="ONNX opset [17].")] = None,
        optimize: Annotated[bool, typer.Option(help="Also write a fused graph (onnxruntime transformer optimizer).")] = False,
        quantize: Annotated[Optional[str], typer.Option(help="int8: also write a dynamic int8 graph for CPUs.")] = None,
        fp16: Annotated[bool, typer.Option(help="Also write an fp16 graph for GPUs.")] = False,
        data: Annotated[Optional[Path], typer.Option(help="Held-out labelled data: compare accuracy of PyTorch and every variant.")] = None,
        accept_drop: Annotated[Optional[float], typer.Option(help="Accuracy points an int8/fp16 variant may lose [1.0].")] = None,
        allow_pickle: Annotated[bool, typer.Option(help="Allow loading pickle weights.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """Export a model, validate it against PyTorch, and optionally optimise and quantise it."""
        from zoo_core.export import export_model

        options = {"opset": opset, "optimize": optimize, "quantize": quantize, "fp16": fp16, "data": data, "accept_drop": accept_drop, "allow_pickle": allow_pickle}
        with contextlib.redirect_stdout(sys.stderr):
            target, info = export_model(model, format, out, options, context.catalog, context.plugins, _report)
        if as_json:
            print(json.dumps({"path": str(target), **info}, indent=2, default=str))
            return
        table = Table(title=f"{target}", title_justify="left")
        table.add_column("variant")
        table.add_column("file")
        table.add_column("max abs diff vs PyTorch", justify="right")
        if "metrics" in info:
            table.add_column("accuracy", justify="right")
        for name, variant in info["variants"].items():
            diff = ", ".join(f"{value:.1e}" for value in variant["max_abs_diff"].values())
            row = [name, variant.get("file") or ", ".join(variant["files"].values()), diff]
            if "metrics" in info:
                row.append(f"{info['metrics'][name]['accuracy']:.3f} ({0.0 - info['metrics'][name]['drop_points']:+.1f} pt)")
            table.add_row(*row)
        if "metrics" in info:
            table.add_row("pytorch", "", "", f"{info['metrics']['pytorch']['accuracy']:.3f}")
        Console().print(table)
        print(f"zoo predict {target} \"...\"")

    @app.command()
    def predict(
        target: Annotated[str, typer.Argument(metavar="EXPORT", help="An export folder from zoo export (or, for zero-shot models, a REF).")],
        inputs: Annotated[Optional[list[str]], typer.Argument(metavar="INPUT...", help="Texts (or image paths, for image models).")] = None,
        file: Annotated[Optional[Path], typer.Option(help="More inputs: a .txt (one per line) or .jsonl ({\"text\": ...}) file.")] = None,
        provider: Annotated[Optional[str], typer.Option(help="cpu, cuda or tensorrt (default: the best present).")] = None,
        variant: Annotated[Optional[str], typer.Option(help="fp32, optimized, int8 or fp16 (default: the fastest for the provider).")] = None,
        top: Annotated[int, typer.Option("--top", "-k", help="Show the K most likely labels per input.")] = 1,
        labels: Annotated[Optional[str], typer.Option(help="Zero-shot models: candidate labels, comma-separated.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """Run an export on ONNX Runtime and print each input's label and score."""
        from zoo_core.predict import predict as run_predict, read_inputs

        candidates = None if labels is None else [label.strip() for label in labels.split(",")]
        with contextlib.redirect_stdout(sys.stderr):
            results, used = run_predict(target, [*(inputs or []), *read_inputs(file)], provider, variant, context.plugins, top, candidates, context.catalog)
        if as_json:
            print(json.dumps(results, indent=2))
            return
        print(f"# {used}", file=sys.stderr)
        for result in results:
            if top <= 1:
                print(f"{result['label']}\t{result['score']:.3f}\t{result['input']}")
                continue
            print(result["input"])
            for rank, guess in enumerate(result["top"], start=1):
                print(f"  {rank}. {guess['score']:.3f}  {guess['label']}")

    @app.command()
    def bench(
        model: Annotated[str, typer.Argument(help="An export folder, or a REF to export first.")],
        batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1,32",
        length: Annotated[int, typer.Option(help="Sequence length.")] = 128,
        runs: Annotated[int, typer.Option(help="Timed runs per cell.")] = 20,
        threads: Annotated[Optional[int], typer.Option(help="CPU threads for PyTorch and ONNX Runtime (default: all).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """PyTorch eager against every ONNX variant, side by side: latency, throughput, ratio."""
        from zoo_core.bench import benchmark

        with contextlib.redirect_stdout(sys.stderr):
            result = benchmark(model, [int(size) for size in batch.split(",")], length, runs, threads, context.catalog, context.plugins, _report)
        if as_json:
            print(json.dumps(result, indent=2))
            return
        table = Table(title=f"{result['model']}: sequence {length}, {result['threads']} threads, {result['device']}", title_justify="left")
        for column in ("batch", "engine", "median ms", "items/s", "vs PyTorch"):
            table.add_column(column, justify="left" if column == "engine" else "right")
        for row in result["rows"]:
            table.add_row(str(row["batch"]), row["engine"], f"{row['median_ms']:.1f}", f"{row['items_per_s']:.0f}", f"{row['speedup']:.2f}x")
        Console().print(table)
        print(f"saved {result['saved']}")
