"""`zoo serve`: an export behind MLflow's scoring protocol, concurrent requests batched dynamically."""

import contextlib
import signal
import sys
from typing import Annotated, Optional

import typer

from zoo_core.cli.context import Context


def register(app: typer.Typer, context: Context) -> None:
    @app.command()
    def serve(
        model: Annotated[str, typer.Argument(metavar="EXPORT", help="An export folder from zoo export (a classifier's).")],
        host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 answers this machine only, 0.0.0.0 exposes the server to the network.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        provider: Annotated[Optional[str], typer.Option(help="cpu, cuda or tensorrt (default: the best present).")] = None,
        variant: Annotated[Optional[str], typer.Option(help="A variant of the export: fp32, optimized, int8, fp16 for ONNX (default: the fastest for the provider).")] = None,
        max_batch: Annotated[int, typer.Option(help="Most inputs per runtime call, and per request; 1 runs one request at a time.")] = 32,
        max_wait_ms: Annotated[float, typer.Option(help="How long a batch waits for more requests. 0, as in Triton, runs what has queued at once: batches form under load only.")] = 0.0,
    ) -> None:
        """Serve a classifier export over HTTP with MLflow's scoring protocol: POST /invocations {"inputs": [...]} answers {"predictions": [...]};
        GET /ping and /health (with batch counters). Concurrent requests are batched into one runtime call."""
        from zoo_core.serve import serve as run_server

        out = sys.stdout

        def announce(line: str) -> None:
            print(line, file=out, flush=True)

        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
        with contextlib.redirect_stdout(sys.stderr):  # a runtime's chatter stays off stdout
            run_server(model, host, port, provider, variant, max_batch, max_wait_ms, context.plugins, announce)
