"""What `zoo finetune` shows while it trains: one progress bar and one line per epoch.

The Hugging Face Trainer's own `ProgressCallback` writes every log as a raw dict
(`{'eval_loss': '0.377', ...}`) between its bars and opens a second bar for each
evaluation. `install()` swaps it for `EpochProgress`, which keeps a single bar whose
postfix carries the running training loss and the last validation loss, and writes

    epoch 2/3  train loss 0.412  val loss 0.377  accuracy 0.861  macro-F1 0.858

once per epoch. Everything goes to stderr. The bar shows on a terminal only; a log
file or a pipe gets the lines alone. transformers is imported only when a trainer
asks for the callback.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from zoo_core.scores import metric_name

NOT_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch", "total_flos")
LIVE_LOSS_EVERY_S = 1.0  # reading the running loss syncs the device, so not at every step
BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"  # tqdm's, less the rate: room for the losses at 80 columns


def evaluated_name(key: str) -> str:
    """`eval_macro_f1` -> `macro-F1`, `eval_loss` -> `val loss`, `eval_accuracy` -> `accuracy`."""
    key = key.removeprefix("eval_")
    return "val loss" if key == "loss" else metric_name(key)


def epoch_line(epoch: int, epochs: int, train_loss: float | None, evaluation: dict[str, Any]) -> str:
    """`epoch 2/3  train loss 0.412  val loss 0.377  accuracy 0.861  macro-F1 0.858` from the Trainer's logs."""
    parts = [f"epoch {epoch}/{epochs}"]
    if train_loss is not None:
        parts.append(f"train loss {train_loss:.3f}")
    for key, value in evaluation.items():
        if key.startswith("eval_") and not key.endswith(NOT_METRICS) and isinstance(value, (int, float)):
            parts.append(f"{evaluated_name(key)} {value:.3f}")
    return "  ".join(parts)


def install(trainer: Any) -> Any:
    """Replace the Trainer's progress callback (or its printer, with disable_tqdm) by `EpochProgress`."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for kind in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(kind)
    trainer.add_callback(_epoch_progress_class()(trainer))
    return trainer


def _epoch_progress_class() -> type:
    from tqdm import tqdm
    from transformers.trainer_callback import ProgressCallback

    class EpochProgress(ProgressCallback):
        """One bar (`epoch 2/3 ... loss=0.412, val_loss=0.377`) and one line per epoch, on stderr."""

        def __init__(self, trainer: Any = None) -> None:
            super().__init__()
            self.trainer = trainer  # only to read the running loss between logs; optional
            self.epochs = 0
            self.epoch = 0
            self.train_loss: float | None = None
            self.postfix: dict[str, str] = {}
            self.shown_at = 0.0
            self.prediction_steps = 0

        def _write(self, line: str) -> None:
            tqdm.write(line, file=sys.stderr)  # above the bar, which is redrawn below it

        def _describe(self, validating: str = "") -> None:
            if self.training_bar is not None:
                self.training_bar.set_description_str(f"epoch {self.epoch}/{self.epochs}", refresh=False)
                shown = [f"{key}={value}" for key, value in self.postfix.items() if not (validating and key == "val_loss")]
                self.training_bar.set_postfix_str(", ".join(shown + ([f"validating {validating}"] if validating else [])))

        def on_train_begin(self, args, state, control, **kwargs):
            self.current_step = state.global_step
            self.epochs = math.ceil(state.num_train_epochs or args.num_train_epochs)
            if not state.is_world_process_zero:
                return
            self.epoch = min(int(state.epoch or 0) + 1, self.epochs)
            self.training_bar = tqdm(
                total=state.max_steps, initial=state.global_step, desc=f"epoch {self.epoch}/{self.epochs}", dynamic_ncols=True, file=sys.stderr, disable=None, bar_format=BAR
            )
            if self.training_bar.disable:  # not a terminal: say what started, then one line per epoch
                self._write(f"training {self.epochs} epoch{'s' * (self.epochs != 1)}, {state.max_steps} steps")

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.epoch = min(int(state.epoch or 0) + 1, self.epochs)
            self._describe()

        def on_step_end(self, args, state, control, **kwargs):
            super().on_step_end(args, state, control, **kwargs)
            if self.training_bar is None or self.training_bar.disable or time.monotonic() - self.shown_at < LIVE_LOSS_EVERY_S:
                return
            self.shown_at = time.monotonic()
            running = getattr(self.trainer, "_tr_loss", None)  # the Trainer's sum since its last log (private)
            steps = state.global_step - getattr(self.trainer, "_globalstep_last_logged", state.global_step)
            if running is not None and steps > 0:
                try:
                    self.postfix["loss"] = f"{float(running) / steps:.3f}"
                except (TypeError, ValueError, RuntimeError):
                    return
                self._describe()

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            if not state.is_world_process_zero:
                return
            if self.training_bar is not None:  # validating between epochs: shown in the one bar, no second bar
                self.prediction_steps += 1
                total = len(eval_dataloader) if eval_dataloader is not None and hasattr(eval_dataloader, "__len__") else "?"
                self._describe(f"{self.prediction_steps}/{total}")
                return
            if self.prediction_bar is None:
                total = len(eval_dataloader) if eval_dataloader is not None and hasattr(eval_dataloader, "__len__") else None
                self.prediction_bar = tqdm(total=total, desc="evaluating", unit="batch", leave=False, dynamic_ncols=True, file=sys.stderr, disable=None)
            self.prediction_bar.update(1)

        def on_evaluate(self, args, state, control, **kwargs):
            self.prediction_steps = 0
            super().on_evaluate(args, state, control, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            if "loss" in logs:  # the training loss over the epoch just finished
                self.train_loss = float(logs["loss"])
                self.postfix["loss"] = f"{self.train_loss:.3f}"
            if any(key.startswith("eval_") for key in logs):
                if "eval_loss" in logs:
                    self.postfix["val_loss"] = f"{float(logs['eval_loss']):.3f}"
                epoch = round(state.epoch) if state.epoch is not None else self.epoch
                self._write(epoch_line(epoch, self.epochs, self.train_loss, logs))
                self.train_loss = None
            self._describe()

        def on_train_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero and self.train_loss is not None:  # trained without validating
                self._write(epoch_line(round(state.epoch or self.epoch), self.epochs, self.train_loss, {}))
                self.train_loss = None
            if self.training_bar is not None:
                self.training_bar.close()
                self.training_bar = None

    return EpochProgress
