"""Prompting without weight updates: how likely a language model finds each answer after a prompt."""

from __future__ import annotations

from typing import Any

from zoo_core import DataError
from zoo_nlp import generation


def score_choices(model: Any, tokenizer: Any, contexts: list[str], choices: list[str]) -> list[list[float]]:
    """Log-likelihood of each choice as the continuation of each context, summed over its tokens: a causal
    model reads context and answer as one sequence, a text-to-text model reads the context and decodes the answer."""
    import torch

    model.eval()
    limit = generation.settings_of(model, tokenizer).max_positions
    seq2seq = bool(model.config.is_encoder_decoder)
    answers = [tokenizer(choice if seq2seq else " " + choice, add_special_tokens=seq2seq)["input_ids"] for choice in choices]
    scores = []
    with torch.no_grad():
        for context in contexts:
            ids = tokenizer(context, add_special_tokens=seq2seq)["input_ids"]
            longest = len(ids) + (0 if seq2seq else max(len(answer) for answer in answers))
            if longest > limit:
                raise DataError(f"a prompt is {longest} tokens with its answer; this model's context holds {limit}", "shorten --prompt, use fewer --shots, or pass shorter texts")
            scores.append(_seq2seq_scores(model, ids, answers) if seq2seq else _causal_scores(model, ids, answers))
    return scores


def _causal_scores(model: Any, context: list[int], answers: list[list[int]]) -> list[float]:
    import torch

    width = len(context) + max(len(answer) for answer in answers)
    ids = torch.zeros((len(answers), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, answer in enumerate(answers):
        ids[row, : len(context) + len(answer)] = torch.tensor(context + answer)
        mask[row, : len(context) + len(answer)] = 1
    logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
    return [float(sum(logprobs[row, len(context) + step - 1, token] for step, token in enumerate(answer))) for row, answer in enumerate(answers)]


def _seq2seq_scores(model: Any, context: list[int], answers: list[list[int]]) -> list[float]:
    import torch

    width = max(len(answer) for answer in answers)
    labels = torch.full((len(answers), width), -100, dtype=torch.long)
    for row, answer in enumerate(answers):
        labels[row, : len(answer)] = torch.tensor(answer)
    source = torch.tensor([context] * len(answers))
    logits = model(input_ids=source, attention_mask=torch.ones_like(source), labels=labels).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return [float(sum(logprobs[row, step, token] for step, token in enumerate(answer))) for row, answer in enumerate(answers)]
