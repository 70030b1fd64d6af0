"""`zoo pull` throughput against curl on the same file from the same local server.

    .venv/bin/python bench/pull.py [--size-mb 200] [--rounds 3]

Serves one file from 127.0.0.1 (the test suite's server), downloads it with curl
and with `zoo pull --force` in alternating rounds, then times a re-pull of the
model already present. Results go to BENCHMARKS.md as medians and ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from local_server import LocalServer  # noqa: E402
from report import machine, write_section  # noqa: E402

ZOO = Path(sys.executable).with_name("zoo")


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zoo-bench-pull-"))
    data = os.urandom(args.size_mb << 20)
    (work / "weights.safetensors").write_bytes(data)
    server = LocalServer()
    url = server.add_file("/weights.safetensors", work / "weights.safetensors")
    pinned = f"{url}#sha256={hashlib.sha256(data).hexdigest()}"
    env = {**os.environ, "ZOO_HOME": str(work / "home")}
    curl = ["curl", "-sf", "-o", str(work / "curl.out"), url]
    zoo = [str(ZOO), "pull", pinned, "--name", "bench", "--force"]
    timings: dict[str, list[float]] = {"curl": [], "zoo pull": []}
    for _ in range(args.rounds):
        timings["curl"].append(timed(curl, env))
        timings["zoo pull"].append(timed(zoo, env))
    server.reset_counts()
    repull = [timed([str(ZOO), "pull", pinned, "--name", "bench"], env) for _ in range(args.rounds)]
    repull_bytes = server.bytes_sent
    server.close()

    size_mb = len(data) / 1e6
    curl_s, zoo_s = statistics.median(timings["curl"]), statistics.median(timings["zoo pull"])
    rows = [
        "| what | median (s) | throughput (MB/s) | vs curl |",
        "| --- | ---: | ---: | ---: |",
        f"| `curl` {args.size_mb} MiB | {curl_s:.2f} | {size_mb / curl_s:.0f} | 1.00x |",
        f"| `zoo pull --force` {args.size_mb} MiB (download + sha256 + manifest) | {zoo_s:.2f} | {size_mb / zoo_s:.0f} | {curl_s / zoo_s:.2f}x |",
        f"| `zoo pull` of the present model | {statistics.median(repull):.2f} | {repull_bytes} bytes fetched | |",
    ]
    how = (
        f"Measured by `bench/pull.py --size-mb {args.size_mb} --rounds {args.rounds}` on {machine()}, server and clients on 127.0.0.1. "
        "Targets: >= 0.8x curl; re-pull < 0.5 s with 0 bytes."
    )
    write_section("pull", "Pull", how, rows)

if __name__ == "__main__":
    main()
