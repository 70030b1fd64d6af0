"""`zoo runs`, `zoo models`, `zoo ui`: the MLflow side of zoo."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from zoo_core.cli.context import Context
from zoo_core.cli.tables import fitted_table
from zoo_core.cli.options import AsJson


def _time(millis: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(millis / 1000)) if millis else ""


def register(app: typer.Typer, context: Context) -> None:
    @app.command()
    def runs(
        limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
        as_json: AsJson = False,
    ) -> None:
        """Fine-tuning runs in the MLflow store, newest first."""
        from rich.console import Console
        from rich.table import Column

        import mlflow

        from zoo_core import tracking

        experiment = tracking.connect()
        found = mlflow.search_runs([experiment], max_results=limit, order_by=["attributes.start_time DESC"], output_format="list")
        rows = [
            {
                "run_id": run.info.run_id,
                "name": run.info.run_name,
                "status": run.info.status,
                "started": _time(run.info.start_time),
                "base": run.data.params.get("base_model"),
                "kind": run.data.tags.get("zoo.kind", "finetune"),  # export and bench runs are linked to their training run
                "source_run": run.data.tags.get("zoo.source_run"),
                "method": run.data.params.get("method") if "objective" not in run.data.params else f"adapt {run.data.params['objective']} ({run.data.params.get('method')})",
                "init": run.data.params.get("init"),
                "round": run.data.tags.get("zoo.round"),  # one round of a self-training run
                "accuracy": run.data.metrics.get("final_accuracy"),
                "macro_f1": run.data.metrics.get("final_macro_f1"),
                "perplexity": run.data.metrics.get("final_perplexity"),
                "rouge_l": run.data.metrics.get("final_rouge_l"),
                "f1": run.data.metrics.get("final_f1"),  # entity F1 (taggers), token F1 (question answering)
                "exact_match": run.data.metrics.get("final_exact_match"),
                "registered": run.data.tags.get("zoo.registered"),
            }
            for run in found
        ]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        shown = []
        for row in rows:
            accuracy = f"{row['accuracy']:.3f}" if row["accuracy"] is not None else ""
            if row["rouge_l"] is not None:
                accuracy = f"ROUGE-L {row['rouge_l']:.3f}"
            elif row["exact_match"] is not None:
                accuracy = f"EM {row['exact_match']:.3f}"
            elif row["f1"] is not None:
                accuracy = f"F1 {row['f1']:.3f}"
            elif not accuracy and row["perplexity"] is not None:
                accuracy = f"ppl {row['perplexity']:.1f}"
            if not accuracy and row["status"] != "FINISHED":  # so a narrow table, which drops status, still shows it
                accuracy = f"[{'red' if row['status'] in ('FAILED', 'KILLED') else 'yellow'}]{row['status'].lower()}[/]"
            method = f"{row['method']} ({row['init']})" if row["init"] == "scratch" else row["method"] or f"{row['kind']} of {(row['source_run'] or '')[:8]}"
            if row["round"] is not None:
                method = f"  {method} round {row['round']}"
            shown.append((row["run_id"], row["status"], row["base"] or "", method, accuracy, row["registered"] or ""))
        columns = [
            Column("run_id", no_wrap=True),  # whole: --resume and runs:/ID/model need all of it
            Column("status", no_wrap=True),
            Column("base", overflow="fold", min_width=10),
            Column("method", overflow="fold", min_width=9),
            Column("accuracy", justify="right", no_wrap=True),  # or the task's own score: perplexity, ROUGE-L
            Column("registered", overflow="fold", min_width=16),
        ]
        console = Console()
        title = f"the {limit} newest runs (--limit for more)" if len(rows) == limit else f"{len(rows)} runs"
        console.print(fitted_table(f"{title} in {tracking.shown_uri()}", columns, shown, console.width, drop=("registered", "status")))

    models = typer.Typer(help="Registered models and their versions.", invoke_without_command=True, no_args_is_help=False)

    @models.callback()
    def list_models(
        ctx: typer.Context,
        as_json: AsJson = False,
    ) -> None:
        """List registered model versions with their aliases and lineage."""
        from rich.console import Console
        from rich.table import Column

        if ctx.invoked_subcommand:
            return
        from mlflow import MlflowClient

        from zoo_core import tracking

        tracking.connect()
        client = MlflowClient()
        rows = []
        for model in client.search_registered_models():
            aliases = {}
            for alias, version in (model.aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            for version in client.search_model_versions(f"name='{model.name}'"):
                rows.append(
                    {
                        "name": model.name,
                        "version": int(version.version),
                        "aliases": aliases.get(str(version.version), []),
                        "run_id": version.run_id,
                        "created": _time(version.creation_timestamp),
                        "tags": dict(version.tags),
                    }
                )
        rows.sort(key=lambda row: (row["name"], -row["version"]))
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        shown = [
            (row["name"], str(row["version"]), ", ".join(row["aliases"]), row["tags"].get("base", ""), row["tags"].get("method", ""), row["tags"].get("data_fingerprint", ""), row["run_id"] or "", row["created"])
            for row in rows
        ]
        columns = [
            Column("model", no_wrap=True),
            Column("version", justify="right", no_wrap=True),
            Column("aliases", overflow="fold", min_width=8),
            Column("base", overflow="fold", min_width=10),
            Column("method", no_wrap=True),
            Column("data", no_wrap=True),
            Column("run_id", no_wrap=True),
            Column("created", no_wrap=True),
        ]
        console = Console()
        console.print(fitted_table(f"{len(rows)} model versions", columns, shown, console.width, drop=("run_id", "data", "created")))
        print("use one anywhere a model is expected: models:/NAME/VERSION or models:/NAME@ALIAS")

    @models.command()
    def alias(
        name: Annotated[str, typer.Argument(help="Registered model name.")],
        version: Annotated[int, typer.Argument(help="Version number.")],
        alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias to point at it, e.g. prod.")],
    ) -> None:
        """Point an alias (models:/NAME@ALIAS) at a version."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        from zoo_core import tracking
        from zoo_core.errors import RefError

        tracking.connect()
        try:
            MlflowClient().set_registered_model_alias(name, alias_name, str(version))
        except MlflowException as exc:
            raise RefError(f"cannot alias {name} version {version}: {exc.message.splitlines()[0]}", "`zoo models` lists the versions") from None
        print(f"models:/{name}@{alias_name} -> version {version}")

    app.add_typer(models, name="models")

    @app.command()
    def ui(
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
    ) -> None:
        """Open the MLflow UI on zoo's store (runs, metrics, plots, registered versions); on a tracking server, say where its own UI is."""
        from zoo_core import tracking

        experiment_id = tracking.connect()  # creates the store and the experiment on first use
        if tracking.uses_server():  # the server is the UI: a local one over it would be a second copy that can drift
            print(f"zoo's runs are on the MLflow server: open {tracking.tracking_uri().rstrip('/')}/#/experiments/{experiment_id}?workflowType=machine_learning in a browser")
            return
        tracking.check_port_free(port)
        command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking.tracking_uri(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}
        # its own process group, so Ctrl-C and SIGTERM alike end the server and the workers it forks;
        # its chatter goes to stderr, so stdout carries only the URL below
        server = subprocess.Popen(command, env=env, stdout=sys.stderr.fileno(), start_new_session=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM now raises KeyboardInterrupt too
        code = 0
        try:
            if _answers(server, f"http://127.0.0.1:{port}/health"):
                # MLflow opens on its GenAI home; zoo's runs are model training, in the `zoo` experiment
                url = f"http://127.0.0.1:{port}/#/experiments/{experiment_id}?workflowType=machine_learning"
                print(f"MLflow UI for {tracking.shown_uri()} at {url}  (Ctrl-C stops it)", flush=True)
            code = server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            _stop_group(server)
        raise typer.Exit(code)


def _answers(server: subprocess.Popen, url: str) -> bool:
    """Wait until the server answers `url`, so the URL is announced only once it opens; False if it exits first."""
    import urllib.request

    while server.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return True
        except OSError:
            time.sleep(0.25)
    return False


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's whole process group, then SIGKILL if it lingers."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        os.killpg(server.pid, signal.SIGKILL)  # workers that outlived their parent
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
