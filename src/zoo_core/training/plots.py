"""A finished run's plots (learning curve, a classifier's confusion matrix), logged as MLflow artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def log_plots(trainer: Any, prediction: Any, labels: list[str], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    from sklearn.metrics import ConfusionMatrixDisplay

    plots = ["learning_curve.png"]
    if prediction is not None:  # classifiers only
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        display = ConfusionMatrixDisplay.from_predictions(prediction.label_ids, logits.argmax(-1), labels=list(range(len(labels))), display_labels=labels, colorbar=False)
        display.ax_.set_title("validation confusion matrix")
        display.figure_.savefig(folder / "confusion_matrix.png", dpi=120, bbox_inches="tight")
        plt.close(display.figure_)
        plots.append("confusion_matrix.png")

    history = trainer.state.log_history
    train = [(entry["epoch"], entry["loss"]) for entry in history if "loss" in entry]
    val = [(entry["epoch"], entry["eval_loss"], entry.get("eval_accuracy")) for entry in history if "eval_loss" in entry]
    figure, loss_axis = plt.subplots(figsize=(6, 4))
    if train:
        loss_axis.plot(*zip(*train), marker="o", label="train loss")
    if val:
        loss_axis.plot([v[0] for v in val], [v[1] for v in val], marker="o", label="val loss")
        if all(v[2] is not None for v in val):
            accuracy_axis = loss_axis.twinx()
            accuracy_axis.plot([v[0] for v in val], [v[2] for v in val], marker="s", color="tab:green", label="val accuracy")
            accuracy_axis.set_ylabel("accuracy")
            accuracy_axis.legend(loc="upper right")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss")
    loss_axis.legend(loc="upper left")
    loss_axis.set_title("learning curve")
    figure.savefig(folder / "learning_curve.png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    for name in plots:
        mlflow.log_artifact(str(folder / name), "plots")
