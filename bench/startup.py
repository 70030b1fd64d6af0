"""Start-up time of `zoo` commands against `mlflow --help`, measured side by side.

    .venv/bin/python bench/startup.py [--runs 21] [--before GIT_REF]

Runs each command round-robin (so machine noise hits all of them alike), after one
warm-up each, and writes the medians and their ratio to mlflow into BENCHMARKS.md.
`--before REF` also times `zoo --help` and `zoo list` as they were at REF (a git worktree
put first on PYTHONPATH), in the same rounds.
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


def worktree(ref: str) -> Path:
    """A throw-away checkout of `ref`, removed with the process's temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="zoo-before-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), ref], check=True, capture_output=True, cwd=Path(__file__).parent)
    return folder


def time_once(command: list, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--before", metavar="REF", help="also time zoo --help and zoo list as they were at this git ref")
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": tempfile.mkdtemp(prefix="zoo-bench-")}
    commands = {name: (command, env) for name, command in COMMANDS.items()}
    if args.before:
        tree = worktree(args.before)
        before = {**env, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree / 'plugins'}", "ZOO_HOME": tempfile.mkdtemp(prefix="zoo-bench-")}
        commands.update({f"{name} (at {args.before})": (COMMANDS[name], before) for name in ("zoo --help", "zoo list")})
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command, command_env in commands.values():
        time_once(command, command_env)  # warm-up: OS page cache, zoo's card cache
    for _ in range(args.runs):
        for name, (command, command_env) in commands.items():
            samples[name].append(time_once(command, command_env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    reference = medians["mlflow --help"]
    rows = [
        "| command | median (s) | min (s) | vs `mlflow --help` |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| `{name}` | {medians[name]:.3f} | {min(samples[name]):.3f} | {medians[name] / reference:.2f}x |"
            for name in commands
        ),
    ]
    how = f"Measured by `bench/startup.py --runs {args.runs}{f' --before {args.before}' if args.before else ''}` on {machine()} (at the end), commands interleaved round by round. Target: zoo <= 0.2 s median."
    write_section("startup", "Start-up", how, rows)

if __name__ == "__main__":
    main()
