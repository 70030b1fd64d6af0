"""Self-training with pseudo-labels: train on the few labels, label the raw data with the model's
confident predictions, retrain on both, and repeat while validation improves.

Each round's student starts again from the pretrained weights (as in Noisy Student), so
one round's mistakes are not baked into the next one's weights; only its labels carry over.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo_core import TrainingSession


def self_train(session: TrainingSession) -> Any:
    """Round 0 on the labelled data, then up to `rounds` pseudo-labelled rounds; the best round by
    validation macro-F1 is kept."""
    import datasets

    settings = session.settings
    pool = session.unlabeled()
    session.report(f"self-training: {len(session.train_data)} labelled and {len(pool)} unlabelled examples, up to {settings['rounds']} round{'s' * (settings['rounds'] != 1)}")
    best = current = session.train(session.train_data, 0, {})
    best_round, previous = 0, None
    for round in range(1, settings["rounds"] + 1):
        probabilities = session.probabilities(current, pool)
        predicted = probabilities.argmax(-1)
        kept, missing = select(predicted, probabilities.max(-1), len(session.labels), settings["confidence"], settings["max_per_class"])
        if not len(kept):
            session.report(
                f"round {round}: no unlabelled example was predicted '{session.labels[missing]}' with probability >= {settings['confidence']}, "
                f"so no class-balanced pseudo-labels; stopping with round {best_round} (a lower --confidence keeps more)"
            )
            break
        stats = pseudo_label_stats(predicted, kept, previous, session.labels)
        pseudo = pool.select(kept.tolist()).add_column("label", [session.labels[index] for index in predicted[kept]])
        session.report(f"round {round}: {len(kept)} pseudo-labels at probability >= {settings['confidence']}" + (f", {stats['agreement']:.0%} agree with round {round - 1}" if previous is not None else ""))
        current = session.train(datasets.concatenate_datasets([session.train_data, pseudo.cast(session.train_data.features)]), round, stats)
        previous = predicted
        if current.metrics["macro_f1"] <= best.metrics["macro_f1"]:
            session.report(f"round {round} did not improve validation macro-F1 ({current.metrics['macro_f1']:.3f} <= {best.metrics['macro_f1']:.3f}); stopping")
            break
        best, best_round = current, round
    return best


def select(predicted: np.ndarray, confidence: np.ndarray, classes: int, threshold: float, max_per_class: int | None) -> tuple[np.ndarray, int]:
    """Indices of the pseudo-labels to keep: the same number per class (the rarest confident class's
    count, at most `max_per_class`), the most confident first. With a class nobody is confident
    about, nothing is kept (and that class is returned), as a one-sided set would teach the model
    to predict one class."""
    per_class = [np.flatnonzero((predicted == label) & (confidence >= threshold)) for label in range(classes)]
    counts = [len(rows) for rows in per_class]
    keep = min(counts) if max_per_class is None else min(min(counts), max_per_class)
    if keep == 0:
        return np.array([], dtype=np.int64), int(np.argmin(counts))
    chosen = [rows[np.argsort(-confidence[rows], kind="stable")[:keep]] for rows in per_class]
    return np.sort(np.concatenate(chosen)), -1


def pseudo_label_stats(predicted: np.ndarray, kept: np.ndarray, previous: np.ndarray | None, labels: list[str]) -> dict[str, float]:
    """What a round's MLflow run records: how many pseudo-labels, their class shares, and how many
    of them the previous round's model labelled the same way."""
    stats = {"pseudo_labels": float(len(kept))}
    for index, label in enumerate(labels):
        stats[f"pseudo_share_{_metric_safe(label)}"] = float(np.mean(predicted[kept] == index))
    if previous is not None:
        stats["agreement"] = float(np.mean(predicted[kept] == previous[kept]))
    return stats


def _metric_safe(label: str) -> str:
    """MLflow metric names take letters, digits, and _ - . / and spaces only."""
    return "".join(char if char.isalnum() or char in "_-./ " else "_" for char in label)
