"""`zoo ui` as a user sees it: MLflow's React app rendered by a real headless Chromium.

The raw HTML of the MLflow UI is an empty shell; only the rendered DOM shows whether the
fine-tuning run, its metrics and its registered version reach the page. `--dump-dom` after a
virtual-time budget is enough to render it, so no browser driver is needed.
"""

from __future__ import annotations

import html
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ZOO, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
MODEL = "ui-reviews"  # its own name, so version 1 is ours whatever else this session registered
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
]  # fmt: skip

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH and none installed: .ci/run installs Debian's chromium; locally `apt-get install chromium`")]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The README's flow on a tiny BERT: pull, fine-tune, register."""
    folder = tmp_path_factory.mktemp("ui-data")
    zoo("pull", str(tiny_bert(folder / "tiny-bert-ckpt")), "--name", "tiny-bert")
    train = write_csv(folder / "train.csv", sentiment_rows(240, 1))
    val = write_csv(folder / "val.csv", sentiment_rows(60, 2))
    args = ["--method", "full", "--epochs", "2", "--lr", "5e-3", "--batch-size", "16", "--register", MODEL, "--json"]
    [outcome] = json.loads(zoo("finetune", "tiny-bert", "--data", str(train), "--val", str(val), *args).stdout)
    assert outcome["registered"] == f"models:/{MODEL}/1"
    outcome["run_name"] = next(run["name"] for run in json.loads(zoo("runs", "--json").stdout) if run["run_id"] == outcome["run_id"])
    return outcome


@pytest.fixture
def ui() -> Iterator[str]:
    """`zoo ui` on a free port; yields the URL it announces, and stops it as a service manager would."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(ZOO), "ui", "--port", str(port)], env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert select.select([process.stdout], [], [], 120)[0], "zoo ui announced nothing in 120 s"
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)\S*", line)
        assert found and found.group(1) == str(port), f"zoo ui announced no URL on port {port}: {line!r}"
        yield found.group()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def rendered(url: str, expected: list[str], profile: Path, screenshot: Path | None = None, timeout: float = 45) -> str:
    """The page's visible text once MLflow's app has rendered all of `expected`, polled until `timeout`."""
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url]
    if screenshot:
        command.insert(-2, f"--screenshot={screenshot}")
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        dom = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
        dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
        text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))
        if all(piece in text for piece in expected):
            return text
        time.sleep(0.5)
    missing = [piece for piece in expected if piece not in text]
    raise AssertionError(f"{url} never showed {missing}; it showed: {text[:1500]}")


def shown(value: float) -> str:
    """A metric as the UI prints it (JavaScript's number formatting)."""
    return str(int(value)) if value.is_integer() else repr(value)


def test_the_ui_shows_the_run_its_metrics_and_the_registered_version(finetuned: dict, ui: str, tmp_path: Path) -> None:
    with urllib.request.urlopen(ui, timeout=5) as response:  # once, no retry: the URL is announced only when it answers
        assert response.status == 200
    base, run_id, name = ui.split("/#/")[0].rstrip("/"), finetuned["run_id"], finetuned["run_name"]
    profile = tmp_path / "chromium-profile"

    # The announced page lists zoo's runs (not MLflow's GenAI home or an empty experiment).
    landing = rendered(ui, [name, "Runs", "matching run"], profile)
    assert "Traces 0" not in landing

    experiment = re.search(r"#/experiments/(\d+)", ui).group(1)  # the `zoo` experiment, as the landing page showed
    screenshot = tmp_path / "run.png"
    run = rendered(f"{base}/#/experiments/{experiment}/runs/{run_id}", [name, "final_accuracy", "val_macro_f1", run_id], profile, screenshot)
    accuracy, macro_f1 = finetuned["metrics"]["accuracy"], finetuned["metrics"]["macro_f1"]
    assert re.search(rf"final_accuracy {re.escape(shown(accuracy))}\b", run), run[:3000]
    assert re.search(rf"final_macro_f1 {re.escape(shown(macro_f1))}\b", run), run[:3000]
    assert f"{MODEL} v1" in run, "the run links its registered version"
    assert screenshot.stat().st_size > 20_000, "a rendered page, not a blank one"

    version = rendered(f"{base}/#/models/{MODEL}/versions/1", [MODEL, "Version 1", f"Source Run : {name}"], profile)
    assert "base tiny-bert" in version and "method full" in version, "the version's lineage tags"
