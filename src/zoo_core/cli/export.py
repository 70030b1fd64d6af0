"""`zoo export`, `zoo predict`, `zoo bench`: exports and the runtimes of the exporters that wrote them."""

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo_core import settings
from zoo_core.cli.context import Context
from zoo_core.cli.options import AllowPickle, AsJson, TrustRemoteCode


def _report(line: str) -> None:
    print(line, file=sys.stderr)


def register(app: typer.Typer, context: Context) -> None:
    formats = ", ".join(context.plugins.exporters()) or "none installed"
    default_format = next(iter(context.plugins.exporters()), None)  # the first loaded: zoo's own before any plugin's

    @app.command(help=f"Export a model, validate it against PyTorch, and optionally optimise and quantise it. Installed formats: {formats}.")
    def export(
        model: Annotated[str, typer.Argument(help="REF of a fine-tuned model (name, folder, models:/..., runs:/...).")],
        format: Annotated[Optional[str], typer.Option("--format", help=f"Export format: {formats} [{default_format}].")] = default_format,
        out: Annotated[Optional[Path], typer.Option(help="Export folder (default: ZOO_HOME/exports/<model>-<format>).")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", metavar="KEY=VALUE", help="An option of the format, e.g. -o opset=18 (repeatable); zoo plugins FORMAT lists them.")] = None,
        opset: Annotated[Optional[int], typer.Option(help="The format's opset (-o opset=N).")] = None,
        optimize: Annotated[bool, typer.Option(help="Also write a fused graph (-o optimize=true).")] = False,
        quantize: Annotated[Optional[str], typer.Option(help="int8: also write an int8 graph for CPUs (-o quantize=int8).")] = None,
        fp16: Annotated[bool, typer.Option(help="Also write a fused fp16 graph for GPUs (-o fp16=true).")] = False,
        data: Annotated[Optional[Path], typer.Option(help="Held-out labelled data: compare the score of PyTorch and every variant (accuracy; entity F1 for taggers, F1 for question answering).")] = None,
        accept_drop: Annotated[Optional[float], typer.Option(help="Points of that score an int8/fp16 variant may lose [1.0].")] = None,
        allow_pickle: AllowPickle = False,
        trust_remote_code: TrustRemoteCode = False,
        domain: Annotated[Optional[str], typer.Option(help="The domain of a folder zoo cannot place (a plugin's domain, say).")] = None,
        task: Annotated[Optional[str], typer.Option(help="The task of a folder no card describes (zoo plugins lists each domain's tasks).")] = None,
        as_json: AsJson = False,
    ) -> None:
        if trust_remote_code:
            settings.allow_remote_code()
        from rich.console import Console
        from rich.table import Column

        from zoo_core.cli.tables import fitted_table

        from zoo_core.adapters import SPAN_EXTRACTOR
        from zoo_core.export import export_model
        from zoo_core.runtime import EXPORT_INFO
        from zoo_core.scores import metric_name

        from zoo_core.options import parse_pairs

        if format is None:
            from zoo_core.errors import PluginError

            raise PluginError("no export format is installed", "install an exporter plugin (zoo plugins shows what is installed)")
        # Flags kept from before formats owned their options: aliases of -o KEY=VALUE (given ones only).
        aliases = {key: value for key, value in dict(opset=opset, optimize=optimize or None, quantize=quantize, fp16=fp16 or None).items() if value is not None}
        options = {"data": data, "accept_drop": accept_drop, "allow_pickle": allow_pickle, "domain": domain, "task": task}
        plugin_options = {**aliases, **parse_pairs(option or [])}
        spelled = {key: f"--{key}" for key in aliases}
        from zoo_core.tracking import tracking_uri, uses_default_store

        store = f"MLFLOW_TRACKING_URI={tracking_uri()} " if uses_default_store() else ""  # before MLflow sets the variable itself
        with contextlib.redirect_stdout(sys.stderr):
            done = export_model(model, format, out, options, context.catalog, context.plugins, _report, plugin_options, spelled)
        info = json.loads((done.path / EXPORT_INFO).read_text())
        if as_json:
            print(json.dumps({"path": str(done.path), **info, "served_as": done.served_as}, indent=2, default=str))
            return
        columns = [Column("variant", no_wrap=True), Column("files", overflow="fold"), Column("max abs diff vs PyTorch", justify="right", min_width=9)]
        scored = done.metrics.get("metric") if done.metrics else None  # accuracy, F1, ...: the score --data compared
        if scored:
            columns.append(Column(metric_name(scored), justify="right", no_wrap=True))
        greedy = done.report.details.get("greedy_match") or {}
        if greedy:
            columns.append(Column("greedy tokens = PyTorch", justify="right", min_width=8))
        rows = []
        for name, variant in done.report.variants.items():
            diffs = list(variant.max_abs_diff.values())
            shown = ", ".join(f"{value:.1e}" for value in diffs) if len(diffs) <= 2 else f"{max(diffs):.1e} (worst of {len(diffs)} outputs)"
            row = [name, ", ".join(variant.files.values()), shown]
            if greedy:
                row.append(f"{greedy.get(name, 0.0):.0%} of prompts")
            if scored:
                row.append(f"{done.metrics[name][scored]:.3f} ({0.0 - done.metrics[name]['drop_points']:+.1f} pt)")
            rows.append(row)
        if scored:
            rows.append(["pytorch", "", "", *([""] * bool(greedy)), f"{done.metrics['pytorch'][scored]:.3f}"])
        console = Console()
        console.print(fitted_table(str(done.path), columns, rows, console.width, drop=("files",)))
        kind = context.plugins.task_adapter(done.domain, done.task, str(done.path))[1].kind
        example = '--question "..." --context "..."' if kind == SPAN_EXTRACTOR else '"..."'
        print(f"zoo predict {done.path} {example}")
        if done.served_as:
            print(f"zoo serve {done.path}")
            print(f"{store}mlflow models serve -m {done.served_as} --env-manager local")

    @app.command()
    def predict(
        target: Annotated[str, typer.Argument(metavar="EXPORT", help="An export folder from zoo export (or a REF of a model whose task answers without an export: every task but classifiers).")],
        inputs: Annotated[Optional[list[str]], typer.Argument(metavar="INPUT...", help="Texts, prompts (generators), texts with [MASK] (masked language models), or image paths.")] = None,
        file: Annotated[Optional[Path], typer.Option(help="More inputs: a .txt (one per line), .jsonl ({\"text\": ...} or {\"question\": ..., \"context\": ...}) or .csv file.")] = None,
        provider: Annotated[Optional[str], typer.Option(help="cpu, cuda or tensorrt (default: the best present).")] = None,
        variant: Annotated[Optional[str], typer.Option(help="A variant of the export: fp32, optimized, int8, fp16 for ONNX (default: the fastest for the provider).")] = None,
        top: Annotated[int, typer.Option("--top", "-k", help="Show the K most likely labels per input.")] = 1,
        labels: Annotated[Optional[str], typer.Option(help="Zero-shot models: candidate labels, comma-separated.")] = None,
        question: Annotated[Optional[str], typer.Option(help="Question answering: the question (with --context).")] = None,
        context_text: Annotated[Optional[str], typer.Option("--context", help="Question answering: the passage the answer is found in.")] = None,
        max_new_tokens: Annotated[int, typer.Option(help="Generators: tokens to generate per input.")] = 32,
        temperature: Annotated[float, typer.Option(help="Generators: 0 is greedy; above 0 samples (with --top-k, --top-p).")] = 0.0,
        top_k: Annotated[int, typer.Option("--top-k", help="Generators, sampling: keep the K most likely tokens (0: all).")] = 0,
        top_p: Annotated[float, typer.Option(help="Generators, sampling: keep the most likely tokens up to this probability mass.")] = 1.0,
        seed: Annotated[Optional[int], typer.Option(help="Generators, sampling: random seed, for repeatable samples.")] = None,
        allow_pickle: Annotated[bool, typer.Option(help="Allow loading pickle weights (models predicted from a REF).")] = False,
        trust_remote_code: TrustRemoteCode = False,
        domain: Annotated[Optional[str], typer.Option(help="The domain of a folder zoo cannot place (a plugin's domain, say).")] = None,
        task: Annotated[Optional[str], typer.Option(help="The task of a folder no card describes (zoo plugins lists each domain's tasks).")] = None,
        as_json: AsJson = False,
    ) -> None:
        """Run an export on its format's runtime (the best provider present) and print each input's label and score, or stream generated text."""
        if trust_remote_code:
            settings.allow_remote_code()
        from zoo_core.predict import predict as run_predict, read_inputs

        candidates = None if labels is None else [label.strip() for label in labels.split(",")]
        if (question is None) != (context_text is None):
            from zoo_core.errors import DataError

            raise DataError(f"{'--context' if question is not None else '--question'} is missing: question answering needs both", 'pass --question "Who?" --context "the passage"')
        asked = [{"question": question, "context": context_text}] if question is not None else []
        decoding = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}
        out = sys.stdout

        def stream(text: str) -> None:
            out.write(text)
            out.flush()

        with contextlib.redirect_stdout(sys.stderr):
            results, used = run_predict(
                target, [*(inputs or []), *asked, *read_inputs(file)], provider, variant, context.plugins, top, candidates, context.catalog, allow_pickle,
                decoding, None if as_json else stream, domain, task,
            )
        if as_json:
            print(json.dumps([result.to_json() for result in results], indent=2))
            return
        print(f"# {used}", file=sys.stderr)
        for result in results:  # each task's row type says how it reads (generated text was streamed already)
            for line in result.lines(top):
                print(line)

    @app.command()
    def bench(
        model: Annotated[str, typer.Argument(help="An export folder, or a REF to export first.")],
        batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1,32",
        length: Annotated[int, typer.Option(help="Sequence length (generators: prompt length).")] = 128,
        new_tokens: Annotated[int, typer.Option(help="Generators: tokens generated per timed call (batch 1, greedy).")] = 32,
        runs: Annotated[int, typer.Option(help="Timed runs per engine in each round.")] = 5,
        rounds: Annotated[int, typer.Option(help="Rounds; engines are interleaved in each, and the median of round medians is reported.")] = 5,
        threads: Annotated[Optional[int], typer.Option(help="CPU threads for PyTorch and the runtime (default: all).")] = None,
        cuda_graph: Annotated[bool, typer.Option(help="On CUDA, also time each variant replayed as a CUDA graph (fixed shapes).")] = False,
        allow_pickle: Annotated[bool, typer.Option(help="Allow loading pickle weights (PyTorch's side loads the export's source).")] = False,
        trust_remote_code: TrustRemoteCode = False,
        as_json: AsJson = False,
    ) -> None:
        """PyTorch against every variant of an export, side by side: latency (median, min-max), throughput, ratio."""
        if trust_remote_code:
            settings.allow_remote_code()
        from rich.console import Console
        from rich.table import Column

        from zoo_core.cli.tables import fitted_table

        from zoo_core.bench import benchmark

        try:
            sizes = [int(size) for size in batch.split(",")]
        except ValueError:
            raise typer.BadParameter(f"'{batch}' is not a list of batch sizes like 1,32", param_hint="--batch") from None
        with contextlib.redirect_stdout(sys.stderr):
            result = benchmark(model, sizes, length, runs, threads, context.catalog, context.plugins, _report, rounds=rounds, cuda_graph=cuda_graph, allow_pickle=allow_pickle, new_tokens=new_tokens)
        if as_json:
            print(json.dumps(result, indent=2))
            return
        load = f", load {result['load_before']} -> {result['load_after']}" if result["load_before"] is not None else ""
        shape = f"prompt {result['length']} + {result['new_tokens']} new tokens" if result["unit"] == "tokens" else f"sequence {result['length']}"
        title = f"{result['model']}: {shape}, {result['threads']} threads, {result['device']}, {result['rounds']} rounds{load}"
        columns = [Column("batch", justify="right", no_wrap=True), Column("engine", min_width=12)]
        several = len({row["engine"] for row in result["rows"] if row["engine"].startswith(("pytorch", "torch.compile"))}) > 1  # on a GPU
        headers = ("median ms", "min-max ms", f"{result['unit']}/s", "vs PyTorch", *(("vs best PyTorch",) if several else ()))
        columns += [Column(name, justify="right", no_wrap=True) for name in headers]
        rows = [
            (
                str(row["batch"]), row["engine"], f"{row['median_ms']:.1f}", f"{row['min_ms']:.1f}-{row['max_ms']:.1f}", f"{row['items_per_s']:.0f}", f"{row['speedup']:.2f}x",
                *((f"{row['vs_best_pytorch']:.2f}x",) if several else ()),
            )
            for row in result["rows"]
        ]
        console = Console()
        console.print(fitted_table(title, columns, rows, console.width, drop=(f"{result['unit']}/s", "min-max ms", "vs PyTorch")))
        print(f"saved {result['saved']}")
