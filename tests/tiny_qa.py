"""Generated (not real) extractive QA data and a tiny BERT whose WordPiece tokenizer is trained here on it.

A context says where one person lives or where they work, beside a sentence naming
another city and another company; the question asks for the fact the context states, so
the answer is the span after "lives in" or "works at", never just any city or company.
(Contexts stating both facts, where only the question tells them apart, take a 2-layer
model from scratch several times the training this test can afford.) Some contexts carry
enough filler to be longer than a 64-token window, with the facts at the end, so
answering them needs the later, overlapping windows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tiny_models import wordpiece_bert

NAMES = ["Anna", "Bruno", "Chen", "Dalia", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jia", "Kofi", "Lena", "Mateo", "Nia", "Oskar", "Priya"]
CITIES = ["Paris", "Lima", "Oslo", "Cairo", "Quito", "Hanoi", "Dublin", "Nairobi", "Porto", "Seoul", "New York", "Cape Town"]
ORGS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Blue Harbor Bank", "Vandelay Imports"]
FILLER = [
    "The weather was mild that spring.",
    "A train leaves the station every hour.",
    "The museum opens late on Fridays.",
    "Many people enjoy walking by the river.",
    "The old bridge was painted green.",
]


def qa_rows(count: int, seed: int, long_share: float = 0.25) -> list[dict[str, Any]]:
    """Flat SQuAD rows (`datasets` layout); `long_share` of them have contexts past a 64-token window."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        name, city, org = rng.choice(NAMES), rng.choice(CITIES), rng.choice(ORGS)
        other_city, other_org = rng.choice([place for place in CITIES if place != city]), rng.choice([firm for firm in ORGS if firm != org])
        fact, question, answer = rng.choice([(f"{name} lives in {city}.", f"Where does {name} live?", city), (f"{name} works at {org}.", f"Where does {name} work?", org)])
        facts = [fact, f"The river flows past {other_city}.", f"{other_org} opened an office there."]
        facts[1:] = [" ".join(facts[1:])]
        rng.shuffle(facts)
        filler = rng.sample(FILLER * 2, 8) if rng.random() < long_share else rng.sample(FILLER, 1)
        context = " ".join(filler + facts)
        start = context.index(f" {answer}.") + 1
        rows.append({"id": f"gen-{seed}-{index}", "context": context, "question": question, "answers": {"text": [answer], "answer_start": [start]}})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_nested_squad(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The same rows in the original SQuAD JSON layout: articles, paragraphs, questions."""
    paragraphs = [
        {"context": row["context"], "qas": [{"id": row["id"], "question": row["question"], "answers": [{"text": text, "answer_start": start} for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"])]}]}
        for row in rows
    ]
    path.write_text(json.dumps({"version": "generated", "data": [{"title": "generated people", "paragraphs": paragraphs}]}))
    return path


def tiny_qa_bert(folder: Path) -> Path:
    """A 2-layer BERT encoder with a WordPiece tokenizer trained on the generated texts."""
    texts = [row["context"] + " " + row["question"] for row in qa_rows(300, 0)]
    return wordpiece_bert(
        folder, texts, 400, hidden_size=64, num_attention_heads=4, intermediate_size=128, max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
