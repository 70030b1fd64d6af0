"""`zoo finetune` and `zoo eval`."""

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo_core import settings
from zoo_core.cli.context import Context
from zoo_core.errors import RecipeError
from zoo_core.options import parse_pairs
from zoo_core.scores import metric_name
from zoo_core.cli.options import AllowPickle, AsJson, MasterAddr, MasterPort, NodeRank, Nnodes, Nproc, TrustRemoteCode, launch


def _report(line: str) -> None:
    print(line, file=sys.stderr)


def register(app: typer.Typer, context: Context) -> None:
    methods = ", ".join(context.plugins.methods()) or "none installed"
    objectives = ", ".join(dict.fromkeys(objective for domain in context.plugins.domains().values() for objective in domain.objective_tasks)) or "none installed"
    tasks = "; ".join(f"{domain}: {', '.join(names)}" for domain, names in context.plugins.tasks().items() if names) or "none installed"

    @app.command()
    def finetune(
        model: Annotated[Optional[str], typer.Argument(help="REF: catalog name, store name, folder, models:/NAME/VERSION or runs:/ID/model.")] = None,
        data: Annotated[Optional[Path], typer.Option(help="Training data: CSV, TSV, JSONL or parquet; a folder of class folders or a path,label CSV for images; an image,text CSV for CLIP.")] = None,
        config: Annotated[Optional[Path], typer.Option("--config", "-c", help="A YAML recipe; flags given here override it.")] = None,
        method: Annotated[Optional[str], typer.Option(help=f"The method: {methods} (zoo plugins METHOD shows its options) [full].")] = None,
        val: Annotated[Optional[Path], typer.Option(help="Validation data (default: --val-split of --data).")] = None,
        val_split: Annotated[Optional[float], typer.Option(help="Fraction of --data held out for validation [0.1].")] = None,
        task: Annotated[Optional[str], typer.Option(help=f"Task (default: the domain's first): {tasks}.")] = None,
        domain: Annotated[Optional[str], typer.Option(help="Train with this domain (a plugin's, say) instead of the one zoo detects.")] = None,
        epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: 3, more on small data: at least 100 steps, at most 30 epochs).")] = None,
        lr: Annotated[Optional[float], typer.Option(help="Learning rate of the pretrained weights or adapters (default: the method's).")] = None,
        head_lr: Annotated[Optional[float], typer.Option(help="Learning rate of the new task head (default: the method's).")] = None,
        batch_size: Annotated[Optional[int], typer.Option(help="Batch size [16].")] = None,
        max_length: Annotated[Optional[int], typer.Option(help="Tokens per example [128].")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed [42].")] = None,
        patience: Annotated[Optional[int], typer.Option(help="Epochs without improvement before stopping early (default: 2, or a quarter of the epochs).")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Column holding the text (default: detected).")] = None,
        text_pair_col: Annotated[Optional[str], typer.Option(help="Column holding the second text of a pair.")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Column holding the label (default: detected).")] = None,
        source_col: Annotated[Optional[str], typer.Option(help="Text-to-text: column holding the source text (default: detected).")] = None,
        target_col: Annotated[Optional[str], typer.Option(help="Text-to-text: column holding the target text (default: detected).")] = None,
        prefix: Annotated[Optional[str], typer.Option(help='Text-to-text: put before every source text, e.g. "summarize: " (-o prefix=TEXT).')] = None,
        mlm_probability: Annotated[Optional[float], typer.Option(help="Masked language modelling: share of tokens masked [0.15] (-o mlm_probability=P).")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", metavar="KEY=VALUE", help="An option of the method, e.g. -o rank=16 (repeatable); zoo plugins METHOD lists a method's options.")] = None,
        rank: Annotated[Optional[int], typer.Option(help="LoRA rank [8] (-o rank=N).")] = None,
        alpha: Annotated[Optional[int], typer.Option(help="LoRA alpha [16] (-o alpha=N).")] = None,
        target_modules: Annotated[Optional[str], typer.Option(help="LoRA target modules, comma-separated (default: per architecture).")] = None,
        unfreeze_last: Annotated[Optional[int], typer.Option(help="With --method freeze: also train the top N layers (-o unfreeze_last=N).")] = None,
        unlabeled: Annotated[Optional[Path], typer.Option(help="Data without labels, for a method that trains in rounds (the format of --data; a label column is ignored).")] = None,
        rounds: Annotated[Optional[int], typer.Option(help="Pseudo-labelling rounds after round 0 [3] (-o rounds=N).")] = None,
        confidence: Annotated[Optional[float], typer.Option(help="Least probability a pseudo-label needs, above 0 and below 1 [0.9] (-o confidence=P).")] = None,
        max_per_class: Annotated[Optional[int], typer.Option(help="Pseudo-labels per class and round at most (-o max_per_class=N).")] = None,
        base_method: Annotated[Optional[str], typer.Option(help="The method each round trains with [full] (-o base_method=NAME).")] = None,
        baseline: Annotated[Optional[str], typer.Option(help="'scratch': also train the same architecture from random weights.")] = None,
        register_as: Annotated[Optional[str], typer.Option("--register", help="Registered model name (default: <model>-<method>).")] = None,
        allow_pickle: AllowPickle = False,
        trust_remote_code: TrustRemoteCode = False,
        resume: Annotated[Optional[str], typer.Option(metavar="RUN_ID", help="Continue run RUN_ID from its last checkpoint (a method that trains in rounds: from its finished rounds), on the same data.")] = None,
        nproc: Nproc = 1,
        nnodes: Nnodes = 1,
        node_rank: NodeRank = 0,
        master_addr: MasterAddr = None,
        master_port: MasterPort = None,
        as_json: AsJson = False,
    ) -> None:
        """Fine-tune a pretrained model on your data; tracked in MLflow and registered as a model version."""
        if trust_remote_code:
            settings.allow_remote_code()
        from rich.console import Console
        from rich.table import Column

        from zoo_core.cli.tables import fitted_table

        from zoo_core.recipe import load_recipe
        from zoo_core.training import finetune as engine
        from zoo_core.training.launch import finetune_distributed
        from zoo_core.training.resume import resume as resume_run

        overrides = dict(
            model=model, data=data, val=val, val_split=val_split, task=task, domain=domain, method=method, epochs=epochs, lr=lr, head_lr=head_lr,
            batch_size=batch_size, max_length=max_length, seed=seed, patience=patience, text_col=text_col or source_col,
            target_col=target_col,
            text_pair_col=text_pair_col, label_col=label_col,
            baseline=baseline, register=register_as, allow_pickle=allow_pickle or None, unlabeled=unlabeled,
        )
        # Flags kept from before methods owned their options: aliases of -o KEY=VALUE.
        aliases = dict(
            rank=rank, alpha=alpha, target_modules=target_modules, unfreeze_last=unfreeze_last, rounds=rounds, confidence=confidence, max_per_class=max_per_class,
            base_method=base_method, prefix=prefix, mlm_probability=mlm_probability,
        )
        options = {key: value for key, value in aliases.items() if value is not None}
        spelled = {key: "--" + key.replace("_", "-") for key in options}
        options.update(parse_pairs(option or []))
        # Training chatter (the Trainer prints its logs) goes to stderr; stdout is the result.
        where = launch(nproc, nnodes, node_rank, master_addr, master_port)
        with contextlib.redirect_stdout(sys.stderr):
            if where.distributed:
                recipe = None if resume else load_recipe(config, overrides, options, spelled)
                outcomes = finetune_distributed(where, recipe, resume, context.catalog, context.plugins, _report)
            elif resume:
                outcomes = [resume_run(resume, context.catalog, context.plugins, _report)]
            else:
                outcomes = engine.finetune(load_recipe(config, overrides, options, spelled), context.catalog, context.plugins, _report)
        if not outcomes:
            print("[]" if as_json else f"node {node_rank} finished its share; node 0 logged the run and holds the model")
            return
        if as_json:
            print(json.dumps([outcome.to_json() for outcome in outcomes], indent=2))
            return
        shown = [key for key in outcomes[0].metrics if key != "loss"]
        columns = [
            Column("run", no_wrap=True),
            Column("init", no_wrap=True),
            *(Column(metric_name(key), justify="right", no_wrap=True) for key in shown),
            Column("trainable params", justify="right", min_width=12),
            Column("wall time", justify="right", no_wrap=True),
        ]
        rows = [
            (outcome.run_id, outcome.init, *(f"{outcome.metrics.get(key, float('nan')):.3f}" for key in shown), f"{outcome.trainable:,} of {outcome.total:,}", f"{outcome.seconds:.0f} s")
            for outcome in outcomes
        ]
        console = Console()
        console.print(fitted_table("fine-tuning results (validation)", columns, rows, console.width, drop=("wall time", "init")))
        for outcome in outcomes:
            if outcome.registered:
                print(f"registered {outcome.registered}  (model folder: {outcome.model_dir})")
        print("browse runs and versions: zoo ui")

    @app.command()
    def adapt(
        model: Annotated[str, typer.Argument(help="REF: catalog name, store name, folder, models:/NAME/VERSION or runs:/ID/model.")],
        data: Annotated[Path, typer.Option(help="Unlabelled domain text: .txt (one document per line), or CSV, JSONL, parquet with --text-col.")],
        val: Annotated[Optional[Path], typer.Option(help="Held-out text for perplexity (default: --val-split of --data).")] = None,
        val_split: Annotated[Optional[float], typer.Option(help="Fraction of --data held out [0.1].")] = None,
        objective: Annotated[Optional[str], typer.Option(help=f"The pretraining objective: {objectives} (default: the model's own).")] = None,
        method: Annotated[Optional[str], typer.Option(help="full or lora.")] = None,
        epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: 3, more on a small corpus: at least 100 steps, at most 30).")] = None,
        lr: Annotated[Optional[float], typer.Option(help="Learning rate (default: the method's).")] = None,
        batch_size: Annotated[Optional[int], typer.Option(help="Batch size [16].")] = None,
        max_length: Annotated[Optional[int], typer.Option(help="Tokens per packed block [128].")] = None,
        mlm_probability: Annotated[Optional[float], typer.Option(help="mlm: share of tokens masked [0.15].")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Column holding the text, for CSV, JSONL or parquet (default: detected).")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed [42].")] = None,
        register_as: Annotated[Optional[str], typer.Option("--register", help="Registered model name (default: <model>-<objective>).")] = None,
        allow_pickle: AllowPickle = False,
        trust_remote_code: TrustRemoteCode = False,
        nproc: Nproc = 1,
        nnodes: Nnodes = 1,
        node_rank: NodeRank = 0,
        master_addr: MasterAddr = None,
        master_port: MasterPort = None,
        as_json: AsJson = False,
    ) -> None:
        """Continue pretraining on unlabelled domain text (masked, causal or span objective); held-out perplexity before and after. The result is a REF zoo finetune takes."""
        if trust_remote_code:
            settings.allow_remote_code()
        from zoo_core.recipe import load_recipe
        from zoo_core.training import finetune as engine
        from zoo_core.training.launch import finetune_distributed

        overrides = dict(
            model=model, data=data, val=val, val_split=val_split, objective=objective, method=method, epochs=epochs, lr=lr, batch_size=batch_size,
            max_length=max_length, text_col=text_col, seed=seed, register=register_as, allow_pickle=allow_pickle or None,
        )
        options = {"mlm_probability": mlm_probability} if mlm_probability is not None else {}
        where = launch(nproc, nnodes, node_rank, master_addr, master_port)
        with contextlib.redirect_stdout(sys.stderr):
            recipe = engine.adapt_recipe(load_recipe(None, overrides, options, {key: "--mlm-probability" for key in options}), context.catalog, context.plugins, _report)
            if where.distributed:
                outcomes = finetune_distributed(where, recipe, None, context.catalog, context.plugins, _report)
            else:
                outcomes = engine.finetune(recipe, context.catalog, context.plugins, _report)
        if not outcomes:
            print("[]" if as_json else f"node {node_rank} finished its share; node 0 logged the run and holds the model")
            return
        outcome = outcomes[0]
        from zoo_core.refs import MODEL_INFO

        task = json.loads((outcome.model_dir / MODEL_INFO).read_text()).get("task")
        result = {
            "run_id": outcome.run_id,
            "task": task,
            "perplexity_before": outcome.before.get("perplexity"),
            "perplexity_after": outcome.metrics.get("perplexity"),
            "trainable": outcome.trainable,
            "total": outcome.total,
            "seconds": outcome.seconds,
            "registered": outcome.registered,
            "model_dir": str(outcome.model_dir),
        }
        if as_json:
            print(json.dumps(result, indent=2))
            return
        print(f"held-out perplexity {result['perplexity_before']:.2f} -> {result['perplexity_after']:.2f}  ({result['task']}, {outcome.seconds:.0f} s, run {outcome.run_id})")
        print(f"registered {outcome.registered}  (model folder: {outcome.model_dir})")
        print(f"fine-tune it: zoo finetune {outcome.registered} --data train.csv --task TASK  (zoo plugins lists the tasks)")

    @app.command("eval")
    def evaluate(
        model: Annotated[str, typer.Argument(help="REF of a fine-tuned model (or, with --prompt, any causal or text-to-text model).")],
        data: Annotated[Path, typer.Option(help="Held-out data: CSV, TSV, JSONL, parquet, a .txt corpus (language models), an image folder, or image,text pairs.")],
        text_col: Annotated[Optional[str], typer.Option(help="Column holding the text (default: detected).")] = None,
        text_pair_col: Annotated[Optional[str], typer.Option(help="Column holding the second text of a pair.")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Column holding the label (default: detected).")] = None,
        source_col: Annotated[Optional[str], typer.Option(help="Text-to-text models: column holding the source text (default: detected).")] = None,
        target_col: Annotated[Optional[str], typer.Option(help="Text-to-text models: column holding the target text (default: detected).")] = None,
        prompt: Annotated[Optional[str], typer.Option(help='Classify by prompting, no training: a template with {text}, e.g. "Review: {text}\nSentiment:".')] = None,
        choices: Annotated[Optional[str], typer.Option(help="With --prompt: the answers, comma-separated (the data's labels).")] = None,
        shots: Annotated[int, typer.Option(help="With --prompt: solved examples from --train put before each one.")] = 0,
        train: Annotated[Optional[Path], typer.Option(help="With --shots: labelled data the solved examples come from.")] = None,
        domain: Annotated[Optional[str], typer.Option(help="The domain of a folder zoo cannot place (a plugin's domain, say).")] = None,
        task: Annotated[Optional[str], typer.Option(help="The task of a folder no card describes (zoo plugins lists each domain's tasks).")] = None,
        allow_pickle: AllowPickle = False,
        trust_remote_code: TrustRemoteCode = False,
        as_json: AsJson = False,
    ) -> None:
        """Accuracy and macro-F1 of a classifier (or of a prompted language model, with --prompt), entity precision, recall and F1 of a tagger, exact match and F1 of question answering, perplexity or ROUGE-L/BLEU of a language model, or retrieval recall of an image-text model, on held-out data."""
        if trust_remote_code:
            settings.allow_remote_code()
        from zoo_core.training.evaluate import evaluate as run_eval
        from zoo_core.types import Columns

        columns = Columns(text_col or source_col, text_pair_col, label_col, target_col)
        if prompt is None and (shots or train is not None):
            raise RecipeError("--shots and --train only apply to prompting", 'add --prompt "Review: {text}\\nSentiment:" --choices positive,negative')
        if prompt is not None or choices is not None:
            from zoo_core.prompting import evaluate_prompt

            if prompt is None or choices is None:
                raise RecipeError(f"{'--choices' if prompt is not None else '--prompt'} is missing: prompting needs both", 'pass --prompt "Review: {text}\\nSentiment:" --choices positive,negative')
            with contextlib.redirect_stdout(sys.stderr):
                result = evaluate_prompt(model, data, columns, prompt, choices, shots, train, context.catalog, context.plugins, allow_pickle=allow_pickle, report=_report)
        else:
            result = run_eval(model, data, columns, context.catalog, context.plugins, domain=domain, allow_pickle=allow_pickle, report=_report, task=task)
        if as_json:
            print(json.dumps(result))
            return
        scores = ", ".join(f"{metric_name(key)} {value:.3f}" for key, value in result.items() if key not in ("model", "data", "examples", "method", "run_id"))
        how = f" by {result['method']}" if "method" in result else ""
        print(f"{result['model']}{how} on {Path(result['data']).name} ({result['examples']} examples): {scores}")
