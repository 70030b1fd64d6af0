"""What a user sees: names in any case, tables that fit 80 columns or a pipe, one progress display while training."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import ZOO, assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

from zoo_core.progress import epoch_line

CARD_ID = "Tiny-Polish-BERT"  # mixed case on purpose: users type it in lower case
FAST = ["--lr", "5e-3", "--batch-size", "16"]
EPOCH_LINE = re.compile(r"^epoch (\d)/(\d)  train loss \d\.\d{3}  val loss \d\.\d{3}  accuracy \d\.\d{3}  macro-F1 \d\.\d{3}$", re.MULTILINE)


def card_text(checkpoint: Path) -> str:
    return f"""id: {CARD_ID}
summary: A two-layer BERT that the CLI polish tests pull and fine-tune.
domain: nlp
tasks: [text-classification]
architecture: BertModel
library: transformers
sources:
  - uri: {checkpoint.as_uri()}
license: mit
parameters: 100000
preprocessing:
  max_length: 64
paper:
  title: "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
  url: https://arxiv.org/abs/1810.04805
"""


@pytest.fixture(scope="module")
def polish(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A card with a mixed-case id, pulled in lower case, then fine-tuned under yet another case."""
    folder = tmp_path_factory.mktemp("polish")
    card = folder / "cards" / "nlp" / f"{CARD_ID}.yaml"
    card.parent.mkdir(parents=True)
    card.write_text(card_text(tiny_bert(folder / "ckpt")))
    env = {"ZOO_CATALOG": str(folder / "cards")}
    pulled = zoo("pull", CARD_ID.lower(), env=env)
    train = write_csv(folder / "train.csv", sentiment_rows(240, 1))
    val = write_csv(folder / "val.csv", sentiment_rows(60, 2))
    args = ["--data", str(train), "--val", str(val), "--method", "full", *FAST]
    trained = zoo("finetune", CARD_ID.upper(), "--epochs", "2", *args, "--register", "polish", "--json", env=env)
    return {"env": env, "pulled": pulled, "trained": trained, "outcome": json.loads(trained.stdout)[0], "args": args}


# --- catalog names in any case -------------------------------------------------------------


def test_info_takes_a_name_in_any_case_and_shows_the_card_id() -> None:
    assert json.loads(zoo("info", "all-minilm-l6-v2", "--json").stdout)["id"] == "all-MiniLM-L6-v2"
    assert zoo("info", "ALL-MINILM-L6-V2").stdout.splitlines()[0].strip() == "all-MiniLM-L6-v2"
    assert_one_line_error(zoo("info", "all-minilm", check=False), "no model named 'all-minilm'", "all-MiniLM-L6-v2")


def test_a_pull_in_any_case_lands_under_the_card_id(polish: dict) -> None:
    assert polish["pulled"].stdout.startswith(f"pulled {CARD_ID} from file://")
    names = {model["name"] for model in json.loads(zoo("list", "--local", "--json", env=polish["env"]).stdout)}
    assert CARD_ID in names and CARD_ID.lower() not in names
    again = zoo("pull", CARD_ID.swapcase(), env=polish["env"])
    assert again.stdout.startswith(f"{CARD_ID} is already in the store")


def test_finetune_in_another_case_reuses_the_store_entry(polish: dict) -> None:
    assert "pulling" not in polish["trained"].stderr, polish["trained"].stderr
    model_info = json.loads((Path(polish["outcome"]["model_dir"]) / "zoo-model.json").read_text())
    assert model_info["base"] == CARD_ID and model_info["domain"] == "nlp"


def test_ids_that_differ_only_in_case_are_duplicates(tmp_path: Path) -> None:
    card = tmp_path / "nlp" / "BERT-base-uncased.yaml"
    card.parent.mkdir(parents=True)
    card.write_text(card_text(tmp_path).replace(CARD_ID, "BERT-base-uncased"))
    result = zoo("list", env={"ZOO_CATALOG": str(tmp_path)}, check=False)
    assert_one_line_error(result, "id: 'BERT-base-uncased' is already defined by", "zoo/nlp/bert-base-uncased.yaml", "as 'bert-base-uncased'")


# --- tables at 80 columns and in a pipe ----------------------------------------------------


def piped(*args: str, env: dict[str, str] | None = None) -> str:
    """`zoo ARGS | cat` with no terminal anywhere and no COLUMNS: rich falls back to 80 columns."""
    environ = {key: value for key, value in {**os.environ, **(env or {})}.items() if key != "COLUMNS"}
    result = subprocess.run([str(ZOO), *args], check=False, capture_output=True, text=True, env=environ, stdin=subprocess.DEVNULL, cwd=os.environ["ZOO_HOME"], timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_readable(out: str, whole: list[str], width: int = 80) -> None:
    """Fits `width`, the header is one line (no header folded to fragments), every value in `whole` is unbroken on one line."""
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, out
    if any(line.startswith("┏") for line in lines):
        top = next(index for index, line in enumerate(lines) if line.startswith("┏"))
        rule = next(index for index, line in enumerate(lines) if line.startswith("┡"))
        assert rule - top == 2, f"the header wrapped:\n{out}"
    for value in whole:
        assert any(value in line for line in lines), f"{value!r} is broken across lines:\n{out}"


def shown(polish: dict) -> dict[str, tuple[list[str], list[str]]]:
    """Each table command, with the values that must stay whole in it."""
    ids = [card["id"] for card in json.loads(zoo("list", "--json", env=polish["env"]).stdout)]
    plugins = [plugin["name"] for plugin in json.loads(zoo("plugins", "--json").stdout)]
    return {
        "list": (["list"], [*ids, "109.5M", "image-classification"]),
        "list --local": (["list", "--local"], [CARD_ID, "94.1 KB"]),
        "info": (["info", "clip-vit-base-patch32"], ["preprocessing.interpolation", "151,277,313 (151.3M)", "image-text-retrieval"]),
        "plugins": (["plugins"], [*plugins, "provides", "methods: full,"]),
        "cache": (["cache"], [CARD_ID, "total"]),
        "runs": (["runs"], [polish["outcome"]["run_id"], "accuracy", "full"]),
        "models": (["models"], ["polish", "version", "aliases", "models:/NAME/VERSION"]),
    }


@pytest.mark.parametrize("command", ["list", "list --local", "info", "plugins", "cache", "runs", "models"])
def test_tables_are_readable_at_80_columns_and_piped(polish: dict, command: str) -> None:
    args, whole = shown(polish)[command]
    assert_readable(zoo(*args, env={**polish["env"], "COLUMNS": "80"}).stdout, whole)
    assert_readable(piped(*args, env=polish["env"]), whole)


def test_a_narrow_list_keeps_ids_whole_and_drops_a_column_instead() -> None:
    out = zoo("list", env={"COLUMNS": "80"}).stdout
    assert_readable(out, [card["id"] for card in json.loads(zoo("list", "--json").stdout)])
    assert "license" not in out and "apache-2.0" not in out, "the licence column goes first (`zoo info` shows it)"
    wide = zoo("list", env={"COLUMNS": "160"}).stdout
    assert "license" in wide and "zero-shot-image-classification, image-text-retrieval" in wide


# --- one progress display while fine-tuning ------------------------------------------------


def test_epoch_line_names_the_metrics() -> None:
    logs = {"eval_loss": 0.3771, "eval_accuracy": 0.861, "eval_macro_f1": 0.8581, "eval_runtime": 0.5, "eval_samples_per_second": 120.0, "epoch": 2.0}
    assert epoch_line(2, 3, 0.41234, logs) == "epoch 2/3  train loss 0.412  val loss 0.377  accuracy 0.861  macro-F1 0.858"


def test_finetune_logs_one_line_per_epoch_and_no_raw_dicts(polish: dict) -> None:
    err = polish["trained"].stderr
    assert "{'" not in err and "'eval_loss'" not in err, err
    assert [match.groups() for match in EPOCH_LINE.finditer(err)] == [("1", "2"), ("2", "2")], err
    assert "training 2 epochs, 30 steps" in err, "without a terminal there is no bar, only lines"
    assert "%|" not in err, "no bar frames in a log file"


def run_in_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run zoo with stderr on a pseudo-terminal 80 columns wide; what the terminal received."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    environ = {key: value for key, value in {**os.environ, **env}.items() if key != "COLUMNS"}
    process = subprocess.Popen([str(ZOO), *args], stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=environ, cwd=os.environ["ZOO_HOME"])
    os.close(slave)
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the pty closes when zoo exits
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    process.stdout.read()
    assert process.wait(timeout=300) == 0
    reader.join(timeout=10)
    os.close(master)
    return b"".join(received).decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.slow  # trains
def test_finetune_in_a_terminal_shows_one_bar_with_the_loss(polish: dict) -> None:
    screen = run_in_terminal(["finetune", CARD_ID, "--epochs", "1", *polish["args"], "--register", "polish-tty", "--json"], polish["env"])
    frames = [frame.strip() for frame in re.split(r"[\r\n]+", screen) if "%|" in frame]
    assert frames, screen
    training = [frame for frame in frames if not frame.startswith("evaluating")]  # the last is the final evaluation's
    assert all(frame.startswith("epoch 1/1:") for frame in training), "one bar while training, no second bar per evaluation"
    assert any(re.search(r"loss=\d\.\d{3}", frame) for frame in training) and any("val_loss=" in frame for frame in training)
    assert all(len(frame) <= 80 for frame in frames)
    assert len([line for line in re.split(r"[\r\n]+", screen) if EPOCH_LINE.match(line.strip())]) == 1 and "{'" not in screen
