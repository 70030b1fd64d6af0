"""The ONNX path on the real MiniLM sentiment classifier: accuracy of every variant, then speed.

    .venv/bin/python bench/onnx_sentiment.py [--model models:/sentiment-lora/1] [--home /tmp/zoo-bench-sentiment] [--test FILE]

Run after bench/sentiment.py (it uses that ZOO_HOME, its registered classifier and
its held-out test split), or after `python3 dev.py run` with `--home ~/.zoo --test
~/.zoo/data/rotten-tomatoes/test.csv`. Exports with --optimize --quantize int8 --data,
then `zoo bench` at batch 1 and 32, sequence 128, 2 threads, in interleaved rounds,
and writes both tables to BENCHMARKS.md with the machine's load before and after.
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

ZOO = Path(sys.executable).with_name("zoo")


def zoo(*args: str, env: dict[str, str]) -> dict:
    return json.loads(subprocess.run([str(ZOO), *args, "--json"], env=env, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/sentiment-lora/1")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-sentiment")
    parser.add_argument("--test", type=Path, help="held-out data (default: HOME/data/test.csv)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    test = args.test or args.home / "data" / "test.csv"
    exported = zoo("export", args.model, "--optimize", "--quantize", "int8", "--data", str(test), "--accept-drop", "100", env=env)
    metrics = exported["metrics"]
    accuracy = [
        "| variant | test accuracy | change vs PyTorch | max abs diff of logits vs PyTorch |",
        "| --- | ---: | ---: | ---: |",
        f"| PyTorch | {metrics['pytorch']['accuracy']:.3f} | | |",
        *(
            f"| ONNX {name} | {metrics[name]['accuracy']:.3f} | {0.0 - metrics[name]['drop_points']:+.1f} pt | {exported['variants'][name]['max_abs_diff']['logits']:.1e} |"
            for name in exported["variants"]
        ),
    ]
    speed = zoo("bench", exported["path"], "--batch", "1,32", "--length", "128", "--threads", "2", "--runs", str(args.runs), "--rounds", str(args.rounds), env=env)
    timing = [
        "| batch | engine | median latency (ms) | min-max of round medians (ms) | items/s | vs PyTorch eager |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {row['batch']} | {row['engine']} | {row['median_ms']:.1f} | {row['min_ms']:.1f}-{row['max_ms']:.1f} | {row['items_per_s']:.0f} | {row['speedup']:.2f}x |"
            for row in speed["rows"]
        ),
    ]
    how = (
        f"Measured by `bench/onnx_sentiment.py --rounds {args.rounds} --runs {args.runs}` on {machine()} ({speed['device']}): {args.model}, "
        f"{metrics['examples']} held-out snippets for accuracy; timing at sequence {speed['length']}, {speed['threads']} threads, "
        f"engines interleaved in {args.rounds} rounds of {args.runs} runs, median of the round medians; 1-minute load average {speed['load_before']} before, {speed['load_after']} after. "
        "Targets: int8 >= 2x PyTorch eager with <= 1 point lost; fused fp32 >= 1.2x. The fp16 graph runs only on a GPU."
    )
    write_section("onnx", "ONNX export: all-MiniLM-L6-v2 sentiment classifier", how, [*accuracy, "", *timing])


if __name__ == "__main__":
    main()
