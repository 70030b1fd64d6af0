"""What the scores zoo reports are called where people read them (tables, sentences, error lines)."""

from __future__ import annotations

NAMES = {"macro_f1": "macro-F1", "rouge_l": "ROUGE-L", "bleu": "BLEU", "f1": "F1", "exact_match": "exact match"}


def metric_name(key: str) -> str:
    """accuracy, macro-F1, image->text R@1 ...: a metric key as a table or a sentence shows it."""
    return NAMES.get(key) or key.replace("image_to_text_recall_at_", "image->text R@").replace("text_to_image_recall_at_", "text->image R@").replace("_", " ")
