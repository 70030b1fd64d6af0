"""Scores: what they are called where people read them (tables, sentences, error lines), and the
softmax ranking every classifier-like answer uses."""

from __future__ import annotations

from typing import Any

NAMES = {"macro_f1": "macro-F1", "rouge_l": "ROUGE-L", "bleu": "BLEU", "f1": "F1", "exact_match": "exact match"}


def metric_name(key: str) -> str:
    """accuracy, macro-F1, image->text R@1 ...: a metric key as a table or a sentence shows it."""
    return NAMES.get(key) or key.replace("image_to_text_recall_at_", "image->text R@").replace("text_to_image_recall_at_", "text->image R@").replace("_", " ")


def softmax(logits: Any) -> Any:
    """Probabilities along the last axis, computed in float64 (numpy, no torch)."""
    import numpy as np

    logits = np.asarray(logits, dtype=np.float64)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return probabilities / probabilities.sum(-1, keepdims=True)


def ranked(probabilities: Any, names: list[str], top: int) -> dict[str, Any]:
    """One input's answer as `zoo_core.Label` fields: the best label and score, the `top` best, and every label's score."""
    import numpy as np

    order = [int(index) for index in np.argsort(-probabilities, kind="stable")[: max(top, 1)]]
    return {
        "label": names[order[0]],
        "score": float(probabilities[order[0]]),
        "top": [{"label": names[index], "score": float(probabilities[index])} for index in order],
        "scores": {name: float(value) for name, value in zip(names, probabilities)},
    }
