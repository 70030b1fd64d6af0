"""Language-model objectives as a user runs them: zoo adapt, text generation, text-to-text, fill-mask,
prompting, and generation on ONNX Runtime. Tiny models built from configs, with tokenizers trained here."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest
from helpers import zoo
from local_server import LocalServer
from tiny_models import NEGATIVE, POSITIVE, corpus_lines, sentiment_rows, tiny_bert, tiny_gpt2, tiny_t5, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


def _client():
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")


def _word_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """One opinion word and its sentiment: what a prompt should recover from a model that learned it."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choice(["positive", "negative"])
        rows.append((rng.choice(POSITIVE if label == "positive" else NEGATIVE), label))
    return rows


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lm")
    (folder / "corpus.txt").write_text("\n".join(corpus_lines(300, 1)) + "\n")
    (folder / "heldout.txt").write_text("\n".join(corpus_lines(40, 2)) + "\n")
    (folder / "words.txt").write_text("\n".join(f"{word} {label}" for word, label in _word_rows(1000, 5)) + "\n")
    write_csv(folder / "words-test.csv", _word_rows(40, 9))
    write_csv(folder / "words-train.csv", _word_rows(20, 11))
    rng = random.Random(0)
    pairs = [(f"the film was {word}", "good" if word in POSITIVE else "bad") for word in (rng.choice(POSITIVE + NEGATIVE) for _ in range(300))]
    write_csv(folder / "pairs.csv", pairs, ("source", "target"))
    write_csv(folder / "sentiment.csv", sentiment_rows(60, 3))
    return {"folder": folder, "bert": tiny_bert(folder / "bert"), "gpt2": tiny_gpt2(folder / "gpt2"), "t5": tiny_t5(folder / "t5")}


@pytest.fixture(scope="module")
def word_gpt2(lm: dict[str, Path]) -> str:
    """A tiny GPT-2 fine-tuned (text-generation) on 'WORD positive|negative' lines, registered."""
    zoo("finetune", str(lm["gpt2"]), "--task", "text-generation", "--data", str(lm["folder"] / "words.txt"), "--epochs", "10", "--lr", "5e-3",
        "--max-length", "32", "--batch-size", "8", "--register", "word-gpt2")
    return "models:/word-gpt2/latest"


def test_adapt_gives_an_encoder_a_tied_mlm_head_and_lowers_perplexity(lm: dict[str, Path]) -> None:
    result = zoo("adapt", str(lm["bert"]), "--data", str(lm["folder"] / "corpus.txt"), "--val", str(lm["folder"] / "heldout.txt"),
                 "--epochs", "3", "--lr", "1e-3", "--max-length", "32", "--register", "bert-reviews", "--json")
    adapted = json.loads(result.stdout)
    assert adapted["task"] == "fill-mask" and adapted["registered"] == "models:/bert-reviews/1"
    assert adapted["perplexity_after"] < 0.8 * adapted["perplexity_before"], adapted
    version = _client().get_model_version("bert-reviews", "1")
    assert version.tags["objective"] == "mlm" and version.tags["task"] == "fill-mask" and version.tags["base"] == lm["bert"].name
    run = _client().get_run(adapted["run_id"])
    assert run.data.metrics["initial_perplexity"] == pytest.approx(adapted["perplexity_before"])

    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(adapted["model_dir"])
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr(), "the new head is tied to the embeddings"

    guesses = json.loads(zoo("predict", "models:/bert-reviews/1", "the film was [MASK] and the cast was great .", "--top", "3", "--json").stdout)
    assert len(guesses[0]["top"]) == 3 and guesses[0]["top"][0]["score"] >= guesses[0]["top"][2]["score"]

    export = lm["folder"] / "bert-reviews-onnx"
    zoo("export", "models:/bert-reviews/1", "--out", str(export))
    exported = json.loads(zoo("predict", str(export), "the film was [MASK] and the cast was great .", "--top", "3", "--json").stdout)
    assert [guess["label"] for guess in exported[0]["top"]] == [guess["label"] for guess in guesses[0]["top"]]

    finetuned = json.loads(zoo("finetune", "models:/bert-reviews/1", "--data", str(lm["folder"] / "sentiment.csv"), "--epochs", "1", "--json").stdout)
    info = json.loads((Path(finetuned[0]["model_dir"]) / "zoo-model.json").read_text())
    assert info["task"] == "text-classification" and info["base"] == "models:/bert-reviews/1"


@pytest.mark.parametrize("method", ["full", "freeze", "lora"])
def test_text_generation_trains_with_every_method(lm: dict[str, Path], method: str) -> None:
    result = json.loads(zoo("finetune", str(lm["gpt2"]), "--task", "text-generation", "--data", str(lm["folder"] / "corpus.txt"), "--method", method,
                            "--epochs", "1", "--max-length", "32", "--lr", "3e-3", "--register", f"gpt2-{method}", "--json").stdout)[0]
    assert result["before"]["perplexity"] > result["metrics"]["perplexity"] > 1, result
    assert (result["trainable"] < result["total"]) == (method != "full")


def test_generation_streams_and_the_onnx_export_generates_pytorchs_tokens(lm: dict[str, Path], word_gpt2: str) -> None:
    from_model = json.loads(zoo("predict", word_gpt2, "great", "dull", "--max-new-tokens", "3", "--json").stdout)
    assert [result["output"].split()[0] for result in from_model] == ["positive", "negative"], from_model
    streamed = zoo("predict", word_gpt2, "great", "dull", "--max-new-tokens", "3").stdout
    assert streamed == "".join(result["output"] + "\n" for result in from_model)

    export = lm["folder"] / "word-gpt2-onnx"
    report = json.loads(zoo("export", word_gpt2, "--out", str(export), "--quantize", "int8", "--json").stdout)
    assert report["graphs"] == ["decoder"] and report["details"]["greedy_match"]["fp32"] == 1.0
    assert "past_0_key" in report["details"]["inputs"] and "present_0_key" in report["details"]["outputs"]
    from_onnx = json.loads(zoo("predict", str(export), "great", "dull", "--max-new-tokens", "3", "--variant", "fp32", "--json").stdout)
    assert [result["output"] for result in from_onnx] == [result["output"] for result in from_model]

    sampled = [zoo("predict", str(export), "the film", "--temperature", "0.9", "--top-p", "0.9", "--seed", "3", "--json").stdout for _ in range(2)]
    assert sampled[0] == sampled[1], "a seeded sample repeats"

    bench = json.loads(zoo("bench", str(export), "--length", "8", "--new-tokens", "8", "--runs", "2", "--rounds", "1", "--threads", "1", "--json").stdout)
    assert bench["unit"] == "tokens" and {row["engine"] for row in bench["rows"]} == {"pytorch eager", "onnx fp32", "onnx int8"}
    assert all(row["items_per_s"] > 0 for row in bench["rows"])


def test_predicting_from_a_generation_export_loads_no_torch(lm: dict[str, Path], word_gpt2: str) -> None:
    export = lm["folder"] / "word-gpt2-onnx-plain"
    zoo("export", word_gpt2, "--out", str(export))
    script = (
        "import sys; sys.argv = ['zoo', 'predict', sys.argv[1], 'great', '--max-new-tokens', '2'];"
        "from zoo_core.cli.app import main\ntry: main()\nexcept SystemExit: pass\n"
        "print('HEAVY', sorted(name for name in ('torch', 'transformers') if name in sys.modules))"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", script, str(export)], capture_output=True, text=True, cwd=os.environ["ZOO_HOME"], timeout=120)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert result.stdout.split()[0] == "positive"


def test_text2text_learns_pairs_and_its_export_generates_the_same(lm: dict[str, Path]) -> None:
    result = json.loads(zoo("finetune", str(lm["t5"]), "--task", "text2text-generation", "--data", str(lm["folder"] / "pairs.csv"), "--prefix", "judge: ",
                            "--epochs", "8", "--lr", "1e-2", "--batch-size", "8", "--register", "t5-judge", "--json").stdout)[0]
    assert result["metrics"]["rouge_l"] > result["before"]["rouge_l"] and result["metrics"]["rouge_l"] >= 0.7, result
    assert "bleu" in result["metrics"]
    answers = json.loads(zoo("predict", "models:/t5-judge/1", "the film was superb", "the film was tedious", "--max-new-tokens", "4", "--json").stdout)
    assert [answer["output"] for answer in answers] == ["good", "bad"], "the prefix saved with the model is applied"

    export = lm["folder"] / "t5-judge-onnx"
    report = json.loads(zoo("export", "models:/t5-judge/1", "--out", str(export), "--json").stdout)
    assert report["graphs"] == ["encoder", "decoder"] and report["details"]["greedy_match"]["fp32"] == 1.0
    exported = json.loads(zoo("predict", str(export), "the film was superb", "the film was tedious", "--max-new-tokens", "4", "--json").stdout)
    assert [answer["output"] for answer in exported] == ["good", "bad"]


def test_text2text_lora_and_span_corruption(lm: dict[str, Path]) -> None:
    lora = json.loads(zoo("finetune", str(lm["t5"]), "--task", "text2text-generation", "--data", str(lm["folder"] / "pairs.csv"), "--method", "lora",
                          "--epochs", "1", "--json").stdout)[0]
    assert lora["trainable"] < lora["total"] and "rouge_l" in lora["metrics"]
    adapted = json.loads(zoo("adapt", str(lm["t5"]), "--data", str(lm["folder"] / "corpus.txt"), "--epochs", "2", "--lr", "3e-3", "--max-length", "32", "--json").stdout)
    assert adapted["task"] == "span-corruption" and adapted["perplexity_after"] < adapted["perplexity_before"]
    assert zoo("predict", adapted["registered"], "the film was", "--max-new-tokens", "2", "--json").returncode == 0


def test_prompting_scores_choices_and_sits_beside_fine_tunes(lm: dict[str, Path], word_gpt2: str) -> None:
    test = str(lm["folder"] / "words-test.csv")
    learned = json.loads(zoo("eval", word_gpt2, "--data", test, "--prompt", "{text}", "--choices", "positive,negative", "--json").stdout)
    untrained = json.loads(zoo("eval", str(lm["gpt2"]), "--data", test, "--prompt", "{text}", "--choices", "positive,negative", "--json").stdout)
    assert learned["accuracy"] == 1.0 and untrained["accuracy"] < 0.9, (learned, untrained)
    run = _client().get_run(learned["run_id"])
    assert run.data.params["method"] == "prompting (0-shot)" and run.data.metrics["final_accuracy"] == 1.0
    assert run.data.metrics["final_macro_f1"] == learned["macro_f1"]
    runs = {row["run_id"]: row for row in json.loads(zoo("runs", "--json", "--limit", "200").stdout)}
    assert runs[learned["run_id"]]["accuracy"] == 1.0 and runs[learned["run_id"]]["method"] == "prompting (0-shot)"

    shots = json.loads(zoo("eval", word_gpt2, "--data", test, "--prompt", "{text}", "--choices", "positive,negative", "--shots", "2",
                           "--train", str(lm["folder"] / "words-train.csv"), "--json").stdout)
    assert shots["method"] == "prompting (2-shot)" and 0 <= shots["accuracy"] <= 1
    seq2seq = json.loads(zoo("eval", str(lm["t5"]), "--data", test, "--prompt", "Review: {text}", "--choices", "positive,negative", "--json").stdout)
    assert seq2seq["examples"] == 40 and 0 <= seq2seq["macro_f1"] <= 1


def test_a_decoder_from_the_hub_pulls_and_generates(lm: dict[str, Path], tmp_path: Path) -> None:
    server = LocalServer()
    try:
        server.add_repo("acme/tiny-gpt2", {path.name: path.read_bytes() for path in lm["gpt2"].iterdir() if path.is_file()})
        env = {"HF_ENDPOINT": server.url, "ZOO_HOME": str(tmp_path / "home")}
        zoo("pull", "hf://acme/tiny-gpt2", env=env)
        out = json.loads(zoo("predict", "tiny-gpt2", "the film", "--max-new-tokens", "4", "--json", env=env).stdout)
        assert 1 <= out[0]["tokens"] <= 4
        adapted = json.loads(zoo("adapt", "tiny-gpt2", "--data", str(lm["folder"] / "corpus.txt"), "--epochs", "1", "--max-length", "32", "--json", env=env).stdout)
        assert adapted["task"] == "text-generation" and adapted["registered"] == "models:/tiny-gpt2-clm/1"
    finally:
        server.close()
