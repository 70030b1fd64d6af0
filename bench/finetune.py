"""`zoo finetune` against a plain Hugging Face Trainer script, side by side in one run.

    .venv/bin/python bench/finetune.py [--train 1000] [--rounds 2]

Same model (all-MiniLM-L6-v2), data, and hyper-parameters (1 epoch, batch 32,
max length 64), both validating and checkpointing each epoch. Reports the
Trainer's own training throughput for both (train() including its evaluation
and checkpoint) and the whole command's wall time, then the peak memory (max
RSS) of `--method lora` against `--method full`. The wall time also holds what
only zoo does: MLflow logging, plots, saving and registering the model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def measured(command: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """stdout, wall seconds and peak RSS (MiB) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed")
    return out, time.perf_counter() - start, usage.ru_maxrss // 1024


def zoo_throughput(run_id: str, env: dict[str, str]) -> float:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{env['ZOO_HOME']}/mlflow.db")
    return mlflow.get_run(run_id).data.metrics["train_samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-finetune")
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    data = args.home / "data"
    subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_data.py"), str(data), "--train", str(args.train)], check=True)
    subprocess.run([str(BIN / "zoo"), "pull", "all-MiniLM-L6-v2"], env=env, check=True, capture_output=True)
    model = args.home / "models" / "all-MiniLM-L6-v2"
    common = ["--epochs", "1", "--batch-size", "32", "--max-length", "64"]
    results: dict[str, list] = {"plain": [], "zoo": []}
    for _ in range(args.rounds):
        out, seconds, _ = measured([sys.executable, str(ROOT / "bench" / "plain_trainer.py"), str(model), str(data / "train.csv"), str(data / "val.csv"), "--lr", "5e-5", *common], env)
        results["plain"].append((json.loads(out.strip().splitlines()[-1])["train_samples_per_second"], seconds))
        out, seconds, _ = measured([str(BIN / "zoo"), "finetune", "all-MiniLM-L6-v2", "--data", str(data / "train.csv"), "--val", str(data / "val.csv"), "--method", "full", "--lr", "5e-5", *common, "--json"], env)
        results["zoo"].append((zoo_throughput(json.loads(out)[0]["run_id"], env), seconds))
    memory = {}
    for method in ("full", "lora"):
        _, _, peak = measured([str(BIN / "zoo"), "finetune", "all-MiniLM-L6-v2", "--data", str(data / "train.csv"), "--val", str(data / "val.csv"), "--method", method, *common, "--json"], env)
        memory[method] = peak

    def median(kind: str, index: int) -> float:
        return statistics.median(value[index] for value in results[kind])

    plain_rate, zoo_rate = median("plain", 0), median("zoo", 0)
    plain_wall, zoo_wall = median("plain", 1), median("zoo", 1)
    rows = [
        "| what | training samples/s | vs plain Trainer | wall time (s) | peak RSS (MiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| plain Trainer script | {plain_rate:.1f} | 1.00x | {plain_wall:.0f} | |",
        f"| `zoo finetune --method full` | {zoo_rate:.1f} | {zoo_rate / plain_rate:.2f}x | {zoo_wall:.0f} | {memory['full']} |",
        f"| `zoo finetune --method lora` | | | | {memory['lora']} ({memory['lora'] / memory['full']:.2f}x full) |",
    ]
    how = (
        f"Measured by `bench/finetune.py --train {args.train} --rounds {args.rounds}` on {machine()}: all-MiniLM-L6-v2, "
        f"{args.train} snippets, 1 epoch, batch 32, max length 64; medians of {args.rounds} alternating rounds. Target: >= 0.95x."
    )
    write_section("finetune", "Fine-tuning overhead", how, rows)

if __name__ == "__main__":
    main()
