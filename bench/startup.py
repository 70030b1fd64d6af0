"""Start-up time of `zoo` commands against `mlflow --help`, measured side by side.

    .venv/bin/python bench/startup.py [--runs 21]

Runs each command round-robin (so machine noise hits all of them alike), after one
warm-up each, and writes the medians and their ratio to mlflow into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
BEGIN, END = "<!-- startup:begin -->", "<!-- startup:end -->"

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
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    section = "\n".join(
        [BEGIN, f"Measured by `bench/startup.py --runs {args.runs}` on {machine}, {time.strftime('%Y-%m-%d')}. Target: zoo <= 0.3 s median.", "", *rows, END]
    )
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Start-up\n\n" + section + "\n"
    BENCHMARKS.write_text(text)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
