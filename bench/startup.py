"""Start-up time of `zoo` commands against `mlflow --help`, measured side by side.

    .venv/bin/python bench/startup.py [--runs 21]

Runs each command round-robin (so machine noise hits all of them alike), after one
warm-up each, and writes the medians and their ratio to mlflow into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, write_section

BIN = Path(sys.executable).parent

COMMANDS = {
    "zoo --help": [BIN / "zoo", "--help"],
    "zoo list": [BIN / "zoo", "list"],
    "zoo plugins": [BIN / "zoo", "plugins"],
    "mlflow --help": [BIN / "mlflow", "--help"],
}


def time_once(command: list, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": tempfile.mkdtemp(prefix="zoo-bench-")}
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():
        time_once(command, env)  # warm-up: OS page cache, zoo's card cache
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            samples[name].append(time_once(command, env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    reference = medians["mlflow --help"]
    rows = [
        "| command | median (s) | min (s) | vs `mlflow --help` |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| `{name}` | {medians[name]:.3f} | {min(samples[name]):.3f} | {medians[name] / reference:.2f}x |"
            for name in COMMANDS
        ),
    ]
    how = f"Measured by `bench/startup.py --runs {args.runs}` on {machine()} (at the end), commands interleaved round by round. Target: zoo <= 0.2 s median."
    write_section("startup", "Start-up", how, rows)

if __name__ == "__main__":
    main()
