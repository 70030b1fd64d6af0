"""Bad input and faults, as one table: what the user typed, the exit code, and the line they read.

A new command adds rows here rather than a new pattern. Every row's advice that
names a flag is checked against that command's `--help`, and every error message
in the code that suggests a flag must name one some command has.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import ROOT, ZOO, assert_error_line, zoo
from tiny_models import corpus_lines, sentiment_rows, tiny_bert, tiny_gpt2, tiny_t5, write_csv

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bad file the table refers to, in one folder."""
    folder = tmp_path_factory.mktemp("bad")
    zoo("pull", str(tiny_bert(folder / "tiny-bert-ckpt")), "--name", "tiny-bert")
    rows = sentiment_rows(40, 1)
    write_csv(folder / "good.csv", rows)
    (folder / "latin1.csv").write_bytes("text,label\na great film,positive\nun film trop \xe9mouvant,positive\n".encode("latin-1"))
    (folder / "broken.jsonl").write_text('{"text": "a great film", "label": "positive"}\n{"text": "dull", "label": \n')
    (folder / "ragged.csv").write_text("text,label\na great film,positive\na dull film,negative,extra\n")
    write_csv(folder / "one-row.csv", [("a great film", "positive")])
    write_csv(folder / "scarce.csv", [*rows[:20], ("an odd one", "neutral"), ("", "neutral"), ("another", "")])
    (folder / "nan-labels.csv").write_text("text,label\n" + "".join(f"{text},{label if i % 3 else 'NaN'}\n" for i, (text, label) in enumerate(rows)))
    pickled = folder / "pickle-only"
    shutil.copytree(folder / "tiny-bert-ckpt", pickled)
    _to_pickle(pickled)
    custom = folder / "custom-code"
    shutil.copytree(folder / "tiny-bert-ckpt", custom)
    config = json.loads((custom / "config.json").read_text())
    (custom / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_custom.CustomModel"}}))
    zoo("pull", str(tiny_gpt2(folder / "tiny-gpt2-ckpt")), "--name", "tiny-gpt2")
    zoo("pull", str(tiny_t5(folder / "tiny-t5-ckpt")), "--name", "tiny-t5")
    (folder / "corpus.txt").write_text("\n".join(corpus_lines(20, 0)))
    (folder / "blank.txt").write_text("\n  \n\n")
    write_csv(folder / "no-target.csv", [("the film was great", "a note")] * 8, ("source", "remark"))
    write_csv(folder / "long.csv", [(" ".join(["great"] * 200), "positive"), ("dull", "negative")])
    (folder / "ner-mismatch.jsonl").write_text('{"tokens": ["Ada", "Lovelace", "wrote"], "ner_tags": ["B-PER", "I-PER", "O"]}\n{"tokens": ["Ada", "wrote"], "ner_tags": ["B-PER"]}\n' * 3)
    qa = {"context": "Ada lives in Paris.", "question": "Where does Ada live?", "answers": {"text": ["Paris"], "answer_start": [13]}}
    (folder / "qa-bad-start.jsonl").write_text("".join(json.dumps(row) + "\n" for row in [qa, qa, {**qa, "answers": {"text": ["Paris"], "answer_start": [3]}}, qa]))
    shutil.copytree(folder / "tiny-bert-ckpt", folder / "no-tokenizer")
    (folder / "no-tokenizer" / "tokenizer.json").unlink()
    (folder / "header-only.csv").write_text("text,label\n")
    export = folder / "damaged-export"
    export.mkdir()
    (export / "zoo-export.json").write_text('{"format": "onnx", "variants": ')
    return folder


def _to_pickle(folder: Path, evil: bool = False) -> None:
    """The folder's safetensors weights as a pickle `pytorch_model.bin`; `evil` adds an object that runs a command."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    if evil:
        state["payload"] = _Payload()
    torch.save(state, folder / "pytorch_model.bin")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


CASES = [
    # id, command line ({f} is the bad-files folder), extra environment, exit code, fragments of the last stderr line
    ("not-utf8", "finetune tiny-bert --data {f}/latin1.csv", {}, 2, ["latin1.csv could not be read: line 3 is not UTF-8 (byte 0xE9)", "save the file as UTF-8"]),
    ("broken-jsonl", "finetune tiny-bert --data {f}/broken.jsonl", {}, 2, ["broken.jsonl could not be read: line 2 is not JSON"]),
    ("ragged-csv", "finetune tiny-bert --data {f}/ragged.csv", {}, 2, ["ragged.csv could not be read: line 3 has 3 fields where the header has 2"]),
    ("one-row", "finetune tiny-bert --data {f}/one-row.csv", {}, 2, ["one-row.csv has 1 usable row; holding out validation rows needs at least 4", "--val FILE"]),
    ("scarce-class", "finetune tiny-bert --data {f}/scarce.csv", {}, 2, ["scarce.csv: class 'neutral' has 1 usable row; training and validating need at least 2 of each class", "--val FILE"]),
    ("register-escape", "finetune tiny-bert --data {f}/good.csv --register ../x", {}, 2, ["'../x' cannot be a registered model name: names use ASCII letters, digits", "--register sentiment-lora"]),
    ("register-space", "finetune tiny-bert --data {f}/good.csv --register my\u00a0model", {}, 2, ["cannot be a registered model name"]),
    ("register-accent", "finetune tiny-bert --data {f}/good.csv --register naïve", {}, 2, ["'naïve' cannot be a registered model name"]),
    ("pull-name", "pull {f}/tiny-bert-ckpt --name my\u00a0model", {}, 2, ["cannot be a model name: names use ASCII letters", "--name my-model"]),
    ("pull-missing", "pull {f}/nowhere", {}, 2, ["nowhere"]),
    ("ref-missing", "eval ./nowhere --data {f}/good.csv", {}, 2, ["./nowhere does not exist"]),
    ("pickle-folder", "finetune {f}/pickle-only --data {f}/good.csv", {}, 2, ["has only pickle weights", "--allow-pickle"]),
    ("custom-code", "finetune {f}/custom-code --data {f}/good.csv", {}, 2, ["needs its own Python code to load", "--trust-remote-code"]),
    ("custom-code-export", "export {f}/custom-code", {}, 2, ["--trust-remote-code"]),
    ("zero-epochs", "finetune tiny-bert --data {f}/good.csv --epochs 0", {}, 2, ["--epochs 0: Input should be greater than or equal to 1"]),
    ("bad-quantize", "export tiny-bert --quantize int4", {}, 2, ["--quantize int4: Input should be 'int8'", "the options of exporter onnx are"]),
    ("unknown-format-option", "export tiny-bert -o bits=4", {}, 2, ["-o bits is not an option of exporter onnx", "its options are: opset (int, default 17)"]),
    ("bench-missing", "bench ./nowhere", {}, 2, ["./nowhere does not exist"]),
    ("predict-not-export", "predict {f}/tiny-bert-ckpt hello", {}, 2, ["has no task head to predict with", "zoo finetune adds a classifier"]),
    ("damaged-export", "predict {f}/damaged-export hello", {}, 2, ["zoo-export.json"]),
    ("unknown-format", "export tiny-bert --format nope", {}, 2, ["nope"]),
    ("export-data-generator", "export tiny-gpt2 --data {f}/good.csv", {}, 2, ["zoo cannot score a text-generation export", "zoo eval REF --data FILE"]),
    ("corpus-no-text", "adapt tiny-bert --data {f}/blank.txt", {}, 2, ["blank.txt has no text", "one document per line"]),
    ("mlm-on-decoder", "adapt tiny-gpt2 --data {f}/corpus.txt --objective mlm", {}, 2, ["has no masked-language-model form", "adapt it with the clm objective"]),
    ("prompt-no-text", "eval tiny-gpt2 --data {f}/good.csv --prompt Sentiment: --choices positive,negative", {}, 2, ["has no {text}", "--prompt"]),
    ("one-choice", "eval tiny-gpt2 --data {f}/good.csv --prompt {{text}} --choices positive", {}, 2, ["names 1 answer", "--choices positive,negative"]),
    ("no-new-tokens", "predict tiny-gpt2 hello --max-new-tokens 0", {}, 2, ["--max-new-tokens 0 generates nothing", "--max-new-tokens 1"]),
    ("no-target-col", "finetune tiny-t5 --task text2text-generation --data {f}/no-target.csv", {}, 2, ["cannot tell which column holds the target text", "--target-col"]),
    ("prompt-too-long", "eval tiny-gpt2 --data {f}/long.csv --prompt {{text}} --choices positive,negative", {}, 2, ["context holds 128", "--shots"]),
    ("generate-too-long", "predict tiny-gpt2 hello --max-new-tokens 500", {}, 2, ["context holds 128", "--max-new-tokens"]),
    ("no-rounds", "finetune tiny-bert --data {f}/good.csv --method self-training --unlabeled {f}/good.csv --rounds 0", {}, 2, ["--rounds 0: Input should be greater than or equal to 1"]),
    ("confidence-above-1", "finetune tiny-bert --data {f}/good.csv --method self-training --unlabeled {f}/good.csv --confidence 1.5", {}, 2, ["--confidence 1.5: Input should be less than 1"]),
    ("confidence-zero", "finetune tiny-bert --data {f}/good.csv --method self-training --unlabeled {f}/good.csv --confidence 0", {}, 2, ["--confidence 0.0: Input should be greater than 0"]),
    ("self-training-no-raw", "finetune tiny-bert --data {f}/good.csv --method self-training", {}, 2, ["--method self-training needs data without labels", "--unlabeled FILE"]),
    ("raw-without-self-training", "finetune tiny-bert --data {f}/good.csv --unlabeled {f}/good.csv", {}, 2, ["--unlabeled is read by --method self-training, not by --method full", "add --method self-training, or drop --unlabeled"]),
    ("self-training-base", "finetune tiny-bert --data {f}/good.csv --method self-training --unlabeled {f}/good.csv --base-method self-training", {}, 2, ["--base-method self-training trains in rounds itself", "--base-method full"]),
    ("self-training-raw-missing", "finetune tiny-bert --data {f}/good.csv --method self-training --unlabeled {f}/nowhere.csv", {}, 2, ["nowhere.csv does not exist"]),
    ("self-training-not-classifier", "finetune tiny-gpt2 --task text-generation --data {f}/corpus.txt --method self-training --unlabeled {f}/corpus.txt", {}, 2, ["pseudo-labels classifiers; text-generation is not one"]),
    ("ner-tags-mismatch", "finetune tiny-bert --task token-classification --data {f}/ner-mismatch.jsonl", {}, 2, ["ner-mismatch.jsonl row 2 has 2 tokens and 1 ner_tags", "exactly one tag"]),
    ("qa-answer-start", "finetune tiny-bert --task question-answering --data {f}/qa-bad-start.jsonl", {}, 2, ["qa-bad-start.jsonl", "answer_start 3", "answer_start to 13"]),
    ("no-tokenizer", "finetune {f}/no-tokenizer --data {f}/good.csv", {}, 2, ["no-tokenizer has no tokenizer zoo can load", "tokenizer.json"]),
    ("eval-an-export", "eval {f}/damaged-export --data {f}/good.csv", {}, 2, ["is an export; zoo eval scores models", "zoo eval REF --data FILE"]),
    ("header-only", "finetune tiny-bert --data {f}/header-only.csv", {}, 2, ["header-only.csv has no rows"]),
    ("hub-path-incomplete", "eval tiny-bert --data hf://datasets/someone", {}, 2, ["hf://datasets/someone does not name a file in a Hub dataset", "hf://datasets/OWNER/NAME/FILE"]),
    ("rounds-without-self-training", "finetune tiny-bert --data {f}/good.csv --rounds 2", {}, 2, ["--rounds is an option of method self-training, not of method full", "add --method self-training, or drop --rounds"]),
    ("option-of-another-method", "finetune tiny-bert --data {f}/good.csv -o rank=4", {}, 2, ["-o rank is an option of method lora, not of method full", "add --method lora, or drop -o rank"]),
    ("option-of-another-task", "finetune tiny-bert --data {f}/good.csv --prefix judge:", {}, 2, ["--prefix is an option of task text2text-generation and translation and summarization, not of task text-classification", "add --task text2text-generation, or drop --prefix"]),
    ("unknown-option", "finetune tiny-bert --data {f}/good.csv --method lora -o rnak=4", {}, 2, ["-o rnak is not an option of method lora", "its options are: rank (int, default 8)"]),
    ("option-without-value", "finetune tiny-bert --data {f}/good.csv --method lora -o rank", {}, 2, ["-o rank: an option is KEY=VALUE", "-o rank=16"]),
    ("option-of-the-wrong-type", "finetune tiny-bert --data {f}/good.csv --method lora -o rank=big", {}, 2, ["-o rank=big: Input should be a valid integer", "the options of method lora are"]),
    ("unknown-base-method", "finetune tiny-bert --data {f}/good.csv --method self-training --unlabeled {f}/good.csv --base-method scratch", {}, 2, ["--base-method scratch is not a method", "--base-method full"]),
    ("ner-from-csv", "finetune tiny-bert --task token-classification --data {f}/good.csv", {}, 2, ["reads JSON Lines, parquet or CoNLL files, not CSV"]),
    ("tracking-down", "runs", {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, 2, ["http://127.0.0.1:9"]),
]


def _runs_in_the_store() -> int:
    """How many runs zoo's default store holds (read in this process: a `zoo runs` would cost a start-up)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    experiment = client.get_experiment_by_name("zoo")
    return 0 if experiment is None else len(client.search_runs([experiment.experiment_id], max_results=1000))


def _flags_of(command: str) -> set[str]:
    """The flags `zoo COMMAND --help` lists, read from the CLI in this process."""
    import typer

    from zoo_core.cli.app import create_app
    from zoo_core.plugins import load_plugins

    return {"--help"} | {option for param in typer.main.get_command(create_app(load_plugins())).commands[command].params for option in getattr(param, "opts", [])}


@pytest.mark.parametrize(("case", "command", "env", "code", "fragments"), CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_one_clear_line(files: Path, case: str, command: str, env: dict[str, str], code: int, fragments: list[str]) -> None:
    before = _runs_in_the_store()
    args = [part.format(f=files) for part in command.split(" ")]
    result = zoo(*args, env=env, check=False)  # the user's command itself runs as a user runs it
    assert result.returncode == code, result.stderr
    assert_error_line(result, *fragments)
    for flag in FLAG.findall(result.stderr.strip().splitlines()[-1]):
        assert flag in _flags_of(args[0]), f"the advice names {flag}, which zoo {args[0]} does not have"
    assert _runs_in_the_store() == before, "a refused command started an MLflow run"


def test_rows_left_out_are_counted(files: Path) -> None:
    result = zoo("finetune", "tiny-bert", "--data", str(files / "nan-labels.csv"), "--epochs", "1", "--json")
    assert "nan-labels.csv: left out 14 of 40 rows (an empty or NaN text or label)" in result.stderr
    [outcome] = json.loads(result.stdout)
    from mlflow import MlflowClient

    params = MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db").get_run(outcome["run_id"]).data.params
    assert int(params["train_examples"]) + int(params["val_examples"]) == 26
    assert params["labels"] == "negative,positive"


def test_a_pickle_torch_refuses_is_one_line_and_no_run(files: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    shutil.copytree(files / "tiny-bert-ckpt", evil)
    _to_pickle(evil, evil=True)
    before = json.loads(zoo("runs", "--json", "--limit", "1000").stdout)
    result = zoo("finetune", str(evil), "--data", str(files / "good.csv"), "--allow-pickle", check=False)
    assert_error_line(result, "torch's safe loader refused the pickle weights of", "GLOBAL")
    assert not (Path(os.environ["ZOO_HOME"]) / "pwned").exists()
    assert json.loads(zoo("runs", "--json", "--limit", "1000").stdout) == before, "no run, so none left FAILED"


def _flags_of_every_command() -> set[str]:
    import typer

    from zoo_core.cli.app import create_app
    from zoo_core.plugins import load_plugins

    group = typer.main.get_command(create_app(load_plugins()))
    return {"--help"} | {option for command in group.commands.values() for param in command.params for option in getattr(param, "opts", [])}


def _error_texts(path: Path) -> list[tuple[int, str]]:
    """The literal text of every `raise SomeError(...)` in a module, f-string parts included."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            parts = [value.value for arg in node.exc.args for value in ast.walk(arg) if isinstance(value, ast.Constant) and isinstance(value.value, str)]
            texts.append((node.lineno, " ".join(parts)))
    return texts


def test_every_flag_an_error_suggests_exists() -> None:
    flags = _flags_of_every_command()
    missing = [
        f"{path.relative_to(ROOT)}:{line} suggests {flag}"
        for folder in ("src", "plugins")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, text in _error_texts(path)
        for flag in FLAG.findall(text)
        if flag not in flags
    ]
    assert not missing, "\n".join(missing)


def _as_other_user() -> dict:
    """Run as an unprivileged user where the tests run as root (root writes anywhere)."""
    return {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}


def test_a_read_only_home_gives_one_line_and_reading_still_works(files: Path) -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="zoo-read-only-"))  # outside pytest's private folders, so the other user reaches it
    home = tmp_path / "home"
    shutil.copytree(Path(os.environ["ZOO_HOME"]) / "models" / "tiny-bert", home / "models" / "tiny-bert")
    present = home / "models" / "all-MiniLM-L6-v2"  # a catalog model already in the store (tiny weights under its name)
    shutil.copytree(home / "models" / "tiny-bert", present)
    manifest = json.loads((present / "zoo-manifest.json").read_text())
    (present / "zoo-manifest.json").write_text(json.dumps({**manifest, "name": "all-MiniLM-L6-v2"}))
    data = tmp_path / "good.csv"
    shutil.copy(files / "good.csv", data)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = {**os.environ, "ZOO_HOME": str(home), "HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)  # the read-only home's own store, whatever this process pointed MLflow at

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ZOO), *args], capture_output=True, text=True, env=env, cwd="/", timeout=120, **_as_other_user())

    try:
        for reading in (["list"], ["info", "all-MiniLM-L6-v2"], ["list", "--local"], ["pull", "all-MiniLM-L6-v2"]):
            result = run(*reading)
            assert result.returncode == 0, f"zoo {' '.join(reading)}: {result.stderr}"
        assert "tiny-bert" in run("list", "--local").stdout
        for writing in (["finetune", "tiny-bert", "--data", str(data)], ["runs"], ["export", "tiny-bert"]):
            assert_error_line(run(*writing), "cannot write to", str(home), "ZOO_HOME")
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(tmp_path)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB tmpfs: a real 'no space left on device' (needs root and a kernel that lets us mount)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here to fill a disk: {done.stderr.strip() or 'mount failed'}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(files: Path, small_disk: Path, tmp_path: Path) -> None:
    big = tmp_path / "big-model"
    shutil.copytree(files / "tiny-bert-ckpt", big)
    (big / "extra.safetensors").write_bytes(os.urandom(5 * 1024 * 1024))
    home = small_disk / "home"
    pulled = zoo("pull", str(big), "--name", "big", env={"ZOO_HOME": str(home)}, check=False)
    assert_error_line(pulled, f"no space left on device under {home}: need about", "MB")
    kept = [path.relative_to(home).as_posix() for path in home.rglob("*") if path.is_file() and path.suffix != ".lock" and path.parent.name != "cache"]
    assert not kept, f"partial files were kept: {kept}"

    out = small_disk / "export"
    (small_disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 8192))  # less room than the graph needs
    exported = zoo("export", "tiny-bert", "--out", str(out), check=False)
    assert_error_line(exported, f"no space left on device under {small_disk}")
    assert sorted(path.name for path in small_disk.iterdir()) == ["filler", "home"], "the export's partial folder was kept"


def test_an_interrupted_export_is_pruned(files: Path) -> None:
    exports = Path(os.environ["ZOO_HOME"]) / "exports"
    leftover = exports / ".tiny-bert-onnx.partial-999999"
    leftover.mkdir(parents=True)
    (leftover / "model.onnx").write_bytes(b"\0" * 1000)
    shown = json.loads(zoo("cache", "--json").stdout)
    assert shown["leftovers"] == {"exports/.tiny-bert-onnx.partial-999999": 1000}
    assert "pruned" in zoo("cache", "--prune").stdout
    assert not leftover.exists()
