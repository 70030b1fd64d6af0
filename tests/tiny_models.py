"""Tiny models built from configs, and data they can really learn, for fast training tests."""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "delightful", "charming", "gripping"]
NEGATIVE = ["dull", "awful", "boring", "clumsy", "tedious", "bland", "messy", "lifeless"]
NEUTRAL = ["the", "film", "a", "story", "with", "and", "its", "cast", "plot", "of", "was", "this", "movie", "scenes", "ending", "is"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT with a word-level tokenizer over the sentiment vocabulary, saved as safetensors."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL + NEUTRAL + POSITIVE + NEGATIVE + ["[extra]"])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def sentiment_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """Sentences whose label is carried by one sentiment word among neutral ones."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choice(["positive", "negative"])
        words = rng.sample(NEUTRAL, 5) + [rng.choice(POSITIVE if label == "positive" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = ("text", "label")) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
