"""The Hugging Face Trainer as a run uses it: arguments, the optimizer with the head's own learning
rate, classification metrics and the per-epoch metrics logged to MLflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core import distributed
from zoo_core.guard import blame, plugin_errors
from zoo_core.heads import in_head
from zoo_core.training.prepare import Prepared

WARMUP = 0.1  # a tenth of the steps warming up, then linear decay: stable in runs of a few dozen steps


def optimizer(model: Any, heads: set[str], prepared: Prepared) -> Any:
    """AdamW with the new head in a group of its own at the head's learning rate, and the method's own
    rates (`lr_for`) for the parameters it names."""
    import torch

    by_lr: dict[float, list[Any]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            by_lr.setdefault(prepared.head_lr if in_head(name, heads) else own_lr(prepared, name), []).append(parameter)
    return torch.optim.AdamW([{"params": params, "lr": lr} for lr, params in by_lr.items()], weight_decay=0.0)


def own_lr(prepared: Prepared, name: str) -> float:
    """A parameter outside the head: the method's rate for it (`Method.lr_for`), else the run's lr."""
    method = prepared.trains
    if method.lr_for is None:
        return prepared.lr
    with plugin_errors(blame("method", method.name, prepared.trains_owner), "lr_for"):
        chosen = method.lr_for(name, prepared.trains_options)
    return prepared.lr if chosen is None else float(chosen)


def trainer(prepared: Prepared, model: Any, processor: Any, checkpoints: Path, optimizer: Any, train: Any) -> Any:
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    from zoo_core import progress

    recipe = prepared.recipe
    on_gpu = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=prepared.epochs,
        learning_rate=prepared.lr,
        warmup_steps=WARMUP,
        per_device_train_batch_size=recipe.batch_size // distributed.world_size(),  # --batch-size is the global batch
        per_device_eval_batch_size=max(recipe.batch_size, 32),
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=2,
        save_on_each_node=True,  # on several machines, each resumes and loads the best model from its own disk
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1" if prepared.adapter.labelled else "loss",
        greater_is_better=prepared.adapter.labelled,
        prediction_loss_only=not prepared.adapter.labelled,
        seed=recipe.seed,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        fp16=on_gpu and not torch.cuda.is_bf16_supported(),
        report_to=[],
        use_cpu=not on_gpu and distributed.world_size() > 1,  # DDP over CPU processes (gloo), as a CI machine runs it
        average_tokens_across_devices=False,  # else a loss that ignores num_items_in_batch is logged times the processes
        dataloader_num_workers=0,
        dataloader_pin_memory=on_gpu,
        remove_unused_columns=False,  # adapters hand over exactly the model's inputs (images are decoded lazily)
        disable_tqdm=False,
    )
    encode = prepared.adapter.encode
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encode(train, processor, prepared.labels, recipe.max_length, train=True),
        eval_dataset=encode(prepared.val, processor, prepared.labels, recipe.max_length),
        data_collator=prepared.adapter.collator(processor),
        compute_metrics=classification_metrics if prepared.adapter.labelled else None,
        optimizers=(optimizer, None),  # the Trainer adds its linear schedule, applied to each group's own rate
        callbacks=[EarlyStoppingCallback(early_stopping_patience=prepared.patience), _epoch_metrics()],
    )
    return progress.install(trainer)  # one bar and one line per epoch, not the Trainer's raw log dicts


def classification_metrics(prediction: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    predicted = logits.argmax(-1)
    return {
        "accuracy": float(accuracy_score(prediction.label_ids, predicted)),
        "macro_f1": float(f1_score(prediction.label_ids, predicted, average="macro")),
    }


def _epoch_metrics() -> Any:
    from transformers import TrainerCallback

    class EpochMetrics(TrainerCallback):
        """Per-epoch metrics into the active MLflow run, with the epoch as the step."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            import mlflow

            if not state.is_world_process_zero:
                return
            logs = logs or {}
            step = round(state.epoch or 0)
            values = {}
            if "loss" in logs:
                values["train_loss"] = logs["loss"]
            for key in ("eval_loss", "eval_accuracy", "eval_macro_f1"):
                if key in logs:
                    values[key.replace("eval_", "val_")] = logs[key]
            if "train_samples_per_second" in logs:  # the Trainer's summary at the end of training
                values["train_samples_per_second"] = logs["train_samples_per_second"]
            if values:
                mlflow.log_metrics(values, step=step)

    return EpochMetrics()
