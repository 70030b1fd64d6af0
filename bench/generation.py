"""Generation speed: PyTorch `generate` against the ONNX decoder-with-cache loop, GPT-2 small and T5-small shapes.

    .venv/bin/python bench/generation.py [--new-tokens 64] [--length 32]

No pretrained GPT-2 or T5 weights install here, so both models are built from their
published configs with random weights (latency does not depend on the weights) and a
byte-level BPE tokenizer trained locally. Each is exported by `zoo export --optimize
--quantize int8` (greedy tokens checked against PyTorch) and timed by `zoo bench`:
batch 1, greedy, `--new-tokens` tokens after a `--length`-token prompt. Uses its own
ZOO_HOME so it leaves yours alone.
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


def zoo(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([str(ZOO), *args], env=env, check=True, capture_output=True, text=True).stdout


def build(kind: str, folder: Path) -> Path:
    """A GPT-2 small or T5-small shaped model (random weights) with a locally trained tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    if (folder / "config.json").is_file():
        return folder
    text = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    special = ["<|endoftext|>"] if kind == "gpt2" else ["<pad>", "</s>", "<unk>", *(f"<extra_id_{i}>" for i in range(100))]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(text, trainers.BpeTrainer(vocab_size=2000, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "gpt2":
        fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
        GPT2LMHeadModel(GPT2Config(bos_token_id=0, eos_token_id=0)).save_pretrained(folder)  # GPT-2 small: 12 layers, 768 wide, 50,257 tokens
    else:
        tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
        T5ForConditionalGeneration(T5Config(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-generation")
    args = parser.parse_args()
    env = {**os.environ, "ZOO_HOME": str(args.home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    lines = ["| model (random weights) | engine | ms per generation | tokens/s | vs PyTorch |", "| --- | --- | ---: | ---: | ---: |"]
    for kind, shape in (("gpt2", "GPT-2 small (124M)"), ("t5", "T5-small (60M)")):
        folder = build(kind, args.home / "models" / kind)
        export = args.home / "exports" / kind
        if not (export / "zoo-export.json").is_file():
            zoo("export", str(folder), "--optimize", "--quantize", "int8", "--out", str(export), env=env)
        matched = json.loads((export / "zoo-export.json").read_text())["details"]["greedy_match"]
        result = json.loads(zoo("bench", str(export), "--length", str(args.length), "--new-tokens", str(args.new_tokens), "--runs", "1", "--rounds", str(args.rounds), "--json", env=env))
        for row in result["rows"]:
            variant = row["engine"].removeprefix("onnx ")
            agreement = f" (greedy = PyTorch on {matched[variant]:.0%} of test prompts)" if variant in matched else ""
            lines.append(f"| {shape} | {row['engine']}{agreement} | {row['median_ms']:.0f} | {row['items_per_s']:.0f} | {row['speedup']:.2f}x |")
            print(lines[-1], flush=True)
    how = (
        f"Measured by `bench/generation.py --new-tokens {args.new_tokens} --length {args.length}` on {machine()}: `zoo bench` on each export, "
        f"batch 1, greedy, {args.new_tokens} new tokens after a {args.length}-token prompt (end-of-text ignored so every engine generates "
        f"all of them), median of {args.rounds} interleaved rounds. PyTorch is `model.generate` (eager, fp32, its own key-value cache); ONNX is the "
        "decoder graph with the cache as inputs and outputs, driven by zoo's numpy loop on ONNX Runtime's CPU provider. "
        "Weights are random (the configs of GPT-2 small and T5-small, tokenizers trained locally): no pretrained decoder installs here."
    )
    write_section("generation", "Generation on ONNX Runtime", how, lines)


if __name__ == "__main__":
    main()
