"""Pretrained vs scratch on real data: all-MiniLM-L6-v2 on Rotten Tomatoes snippets.

    .venv/bin/python bench/sentiment.py [--train 2000] [--epochs 3]

For each method (lora, freeze, full) runs `zoo finetune ... --baseline scratch`
and scores both models with `zoo eval` on 1,000 held-out snippets, then writes
the table to BENCHMARKS.md. Uses its own ZOO_HOME so it leaves yours alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(sys.executable).with_name("zoo")
LEARNING_RATES = {"lora": 1e-3, "freeze": 1e-3, "full": 5e-5}


def zoo(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([str(ZOO), *args], env=env, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--methods", default="lora,freeze,full")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-sentiment")
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    data = args.home / "data"
    subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_data.py"), str(data), "--train", str(args.train)], check=True)
    zoo("pull", "all-MiniLM-L6-v2", env=env)
    rows = []
    for method in args.methods.split(","):
        outcomes = json.loads(
            zoo(
                "finetune", "all-MiniLM-L6-v2", "--data", str(data / "train.csv"), "--val", str(data / "val.csv"),
                "--method", method, "--epochs", str(args.epochs), "--head-lr" if method == "freeze" else "--lr", str(LEARNING_RATES[method]),
                "--batch-size", "32", "--max-length", "64", "--baseline", "scratch", "--register", f"sentiment-{method}", "--json",
                env=env,
            )
        )
        for outcome in outcomes:
            test = json.loads(zoo("eval", outcome["model_dir"], "--data", str(data / "test.csv"), "--json", env=env))
            rows.append((method, outcome, test))
            print(method, outcome["init"], f"test accuracy {test['accuracy']:.3f}", f"{outcome['seconds']:.0f} s", flush=True)
    lines = [
        "| method | weights | test accuracy | test macro-F1 | trainable / total params | wall time |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {method} | {outcome['init']} | {test['accuracy']:.3f} | {test['macro_f1']:.3f} | {outcome['trainable']:,} / {outcome['total']:,} | {outcome['seconds']:.0f} s |"
            for method, outcome, test in rows
        ),
    ]
    how = (
        f"Measured by `bench/sentiment.py --train {args.train} --epochs {args.epochs}` on {machine()}: {args.train} training, "
        "500 validation and 1,000 held-out test snippets (fresh/rotten, fixed split), max length 64, batch 32, learning rates "
        f"{', '.join(f'{m} {lr:g}' for m, lr in LEARNING_RATES.items())}; the best epoch on validation is kept."
    )
    write_section("sentiment", "Fine-tuning: pretrained vs scratch", how, lines)

if __name__ == "__main__":
    main()
