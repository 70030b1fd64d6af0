"""Generated NER data and a tiny BERT to tag it, for fast token-classification tests.

The sentences are generated from templates with names drawn from short lists
(not real annotated text): a 2-layer model learns them in a few epochs. The
WordPiece vocabulary is trained here on those sentences and kept small, so
many names split into several sub-tokens, as real names do.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tiny_models import wordpiece_bert

PEOPLE = ["Angela Merkel", "John Smith", "Marie Curie", "Ada Lovelace", "Alan Turing", "Grace Hopper", "Nelson Mandela", "Frida Kahlo", "Kofi Annan", "Indira Gandhi"]
PLACES = ["Paris", "Berlin", "New York", "Lagos", "Tokyo", "Buenos Aires", "Nairobi", "Oslo", "Mumbai", "Toronto"]
ORGS = ["Acme Corp", "Globex", "Initech", "Umbrella Group", "Stark Industries", "Wayne Enterprises", "Hooli", "Vandelay Imports"]
TEMPLATES = [
    "{PER} visited {LOC} last week .",
    "{PER} works for {ORG} in {LOC} .",
    "yesterday {PER} met the board of {ORG} .",
    "the {ORG} office in {LOC} hired {PER} .",
    "{PER} flew from {LOC} to {LOC} .",
    "people in {LOC} like {ORG} products .",
]
POOLS = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}


def sentence(rng: random.Random) -> tuple[list[str], list[str]]:
    """One generated sentence as words and their BIO tags."""
    tokens: list[str] = []
    tags: list[str] = []
    for piece in rng.choice(TEMPLATES).split():
        kind = piece.strip("{}") if piece.startswith("{") else None
        if kind is None:
            tokens.append(piece)
            tags.append("O")
            continue
        words = rng.choice(POOLS[kind]).split()
        tokens.extend(words)
        tags.extend([f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1))
    return tokens, tags


def sentences(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(count)]


def write_jsonl(path: Path, rows: list[tuple[list[str], list[str]]]) -> Path:
    """The Hugging Face layout: one {"tokens": [...], "ner_tags": [...]} object per line."""
    path.write_text("".join(json.dumps({"tokens": tokens, "ner_tags": tags}) + "\n" for tokens, tags in rows))
    return path


def write_conll(path: Path, rows: list[tuple[list[str], list[str]]]) -> Path:
    """CoNLL-2003 style: -DOCSTART-, then one `word POS CHUNK TAG` line per word, a blank line after each sentence."""
    lines = ["-DOCSTART- -X- -X- O", ""]
    for tokens, tags in rows:
        lines.extend(f"{token} NN I-NP {tag}" for token, tag in zip(tokens, tags))
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_ner_bert(folder: Path, vocab_size: int = 150) -> Path:
    """A 2-layer BERT with a WordPiece tokenizer trained on the generated sentences."""
    texts = [" ".join(tokens) for tokens, _ in sentences(500, 0)]
    return wordpiece_bert(folder, texts, vocab_size, hidden_size=32, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
