"""Multi-run methods (self-training): one parent MLflow run, a nested run per round, and the
round the method keeps logged and registered under the parent.

The method plugin owns the loop (which data each round trains on, when to stop); this
module owns what every run has: tracking, training through the engine, and prediction.

An interrupted parent resumes by replaying the method's loop: a round that finished
returns its stored outcome instead of training again, the round that was cut off
continues from its last checkpoint, and the rest train as usual. Replaying is exact
because a round's pseudo-labels depend only on the previous round's saved model.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo_core import tracking
from zoo_core.errors import PluginError
from zoo_core.refs import MODEL_INFO
from zoo_core.training.data import default_epochs, default_patience
from zoo_core.training.metadata import registered_name, run_params, run_tags, version_tags
from zoo_core.training.prepare import Prepared
from zoo_core.training.run import Interrupted, Outcome, last_checkpoint, run_dir, train_run

FEW_VALIDATION_ROWS = 50  # below this, one row is 2 points of accuracy: rounds differ by less than that


@dataclass
class Session:
    """The `TrainingSession` a method's `fit` drives (see zoo_core.types)."""

    prepared: Prepared
    parent_run_id: str
    report: Callable[[str], None]
    rounds: list[Outcome] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # what each round trained on and scored
    earlier: dict[int, Any] = field(default_factory=dict)  # resuming: each round's latest MLflow run from before

    @property
    def train_data(self) -> Any:
        return self.prepared.train

    @property
    def labels(self) -> list[str]:
        return self.prepared.labels

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.prepared.options)

    def unlabeled(self) -> Any:
        return self.prepared.unlabeled

    def train(self, data: Any, round: int, stats: dict[str, float]) -> Outcome:
        earlier = self.earlier.get(round)
        if earlier is not None and _finished(earlier):
            outcome = _stored_outcome(earlier)
            self.report(f"round {round}: trained before the interruption (run {outcome.run_id})")
        else:
            resumed = earlier.info.run_id if earlier is not None and last_checkpoint(run_dir(earlier.info.run_id) / "checkpoints") else None
            outcome = self._train(data, round, stats, resumed)
        self.rounds.append(outcome)
        counts = {key: int(value) if key == "pseudo_labels" else value for key, value in stats.items()}
        self.history.append({"round": round, "run_id": outcome.run_id, "examples": len(data), **counts, **outcome.metrics, "kept": False})
        shown = ", ".join(f"{key.replace('_', '-')} {value:.3f}" for key, value in outcome.metrics.items() if key != "loss")
        self.report(f"round {round}: validation {shown}")
        return outcome

    def _train(self, data: Any, round: int, stats: dict[str, float], resumed: str | None) -> Outcome:
        """One round as a run nested in the parent (or, `resumed`, the round's run continued from its checkpoint)."""
        import mlflow
        from mlflow import MlflowClient

        self.report(f"round {round}: " + (f"continuing run {resumed} from its last checkpoint" if resumed else f"training on {len(data)} examples"))
        recipe = self.prepared.recipe
        epochs = recipe.epochs or default_epochs(len(data), recipe.batch_size)  # a round with more data needs fewer epochs
        sized = replace(self.prepared, epochs=epochs, patience=recipe.patience or default_patience(epochs))
        outcome = train_run(sized, scratch=False, resume_run_id=resumed, train=data, round_of=(self.parent_run_id, round))
        mlflow.log_metrics({**stats, **{f"val_{key}": value for key, value in outcome.metrics.items()}}, step=round)
        client = MlflowClient()
        for key, value in stats.items():  # on the round's own run too, which has ended
            client.log_metric(outcome.run_id, key, value)
        return outcome

    def probabilities(self, outcome: Outcome, data: Any) -> Any:
        import numpy as np
        import torch
        from transformers import Trainer, TrainingArguments

        from zoo_core import settings

        adapter, recipe = self.prepared.adapter, self.prepared.recipe
        model, processor, labels = adapter.load_trained(outcome.model_dir)
        rows = data.add_column("label", [labels[0]] * len(data))  # encode wants a label; predictions ignore it
        args = TrainingArguments(
            output_dir=str(settings.zoo_home() / "cache" / "predict"),
            per_device_eval_batch_size=max(recipe.batch_size, 64),
            report_to=[],
            disable_tqdm=True,
            dataloader_pin_memory=torch.cuda.is_available(),
            remove_unused_columns=False,
        )
        trainer = Trainer(model=model, args=args, data_collator=adapter.collator(processor))
        logits = trainer.predict(adapter.encode(rows, processor, labels, recipe.max_length)).predictions
        logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits, dtype=np.float64)
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return exp / exp.sum(-1, keepdims=True)


def train_rounds(prepared: Prepared, report: Callable[[str], None], resume_run_id: str | None = None) -> Outcome:
    """The method's rounds in one parent run (with `resume_run_id`, that run again, its finished
    rounds kept); the round it returns is logged, registered and kept."""
    import mlflow

    recipe = prepared.recipe
    started = time.perf_counter()
    tags = run_tags(prepared, "pretrained")
    with tracking.run(run_id=resume_run_id, name=None if resume_run_id else f"{prepared.base.name}-{recipe.method}", tags=None if resume_run_id else tags) as parent:
        run_id = parent.info.run_id
        if resume_run_id is None:
            mlflow.log_params(run_params(prepared, "pretrained", len(prepared.train)))
            mlflow.log_text(_recipe_yaml(prepared), "recipe.yaml")
        session = Session(prepared, run_id, report, earlier=_earlier_rounds(parent.info) if resume_run_id else {})
        if len(prepared.val) < FEW_VALIDATION_ROWS and prepared.recipe.val is None:
            report(f"rounds are compared on {len(prepared.val)} validation rows, which can barely tell them apart; --val FILE with more labelled rows makes the choice reliable")
        try:
            kept = prepared.method.fit(session)
        except KeyboardInterrupt:
            raise Interrupted(
                f"stopped by Ctrl-C; run {run_id} keeps its finished rounds and the last complete checkpoint of the one it was training",
                f"continue it with zoo finetune --resume {run_id}",
            ) from None
        if kept not in session.rounds:
            raise PluginError(f"method '{recipe.method}' returned {type(kept).__name__} from fit, not one of its rounds", "fix the plugin: fit returns what session.train returned")
        best = session.rounds.index(kept)
        session.history[best]["kept"] = True
        mlflow.log_metrics({f"final_{key}": value for key, value in kept.metrics.items()} | {"best_round": best, "rounds_trained": len(session.rounds)})
        mlflow.set_tag("zoo.best_round", str(best))
        model_dir = _keep(kept, session.rounds, run_dir(run_id) / "model", run_id)
        mlflow.log_artifacts(str(model_dir), "model")
        name = registered_name(prepared)
        version = tracking.register(run_id, "model", name, version_tags(prepared, tags) | {"best_round": str(best)})
        registered = f"models:/{name}/{version}"
        mlflow.set_tag("zoo.registered", registered)
    return Outcome(run_id, "pretrained", kept.metrics, kept.trainable, kept.total, time.perf_counter() - started, model_dir, registered, {}, session.history)


def _earlier_rounds(parent: Any) -> dict[int, Any]:
    """The interrupted parent's rounds: the latest run of each (a round cut off before its first
    checkpoint starts again as a new run)."""
    from mlflow import MlflowClient

    found = MlflowClient().search_runs([parent.experiment_id], f"tags.mlflow.parentRunId = '{parent.run_id}'", order_by=["attributes.start_time ASC"])
    return {int(run.data.tags["zoo.round"]): run for run in found if "zoo.round" in run.data.tags}


def _finished(run: Any) -> bool:
    return run.info.status == "FINISHED" and (run_dir(run.info.run_id) / "model").is_dir()


def _stored_outcome(run: Any) -> Outcome:
    """A finished round as `session.train` returned it, read back from its MLflow run."""
    metrics = run.data.metrics
    scores = {key.removeprefix("final_"): value for key, value in metrics.items() if key.startswith("final_")}
    seconds = ((run.info.end_time or run.info.start_time) - run.info.start_time) / 1000
    return Outcome(run.info.run_id, "pretrained", scores, int(metrics["trainable_parameters"]), int(metrics["total_parameters"]), seconds, run_dir(run.info.run_id) / "model", None, {})


def _recipe_yaml(prepared: Prepared) -> str:
    import yaml

    return yaml.safe_dump(prepared.recipe.model_dump(mode="json"), sort_keys=False)


def _keep(kept: Outcome, rounds: list[Outcome], target: Path, run_id: str) -> Path:
    """The kept round's model becomes the parent's (its zoo-model.json naming the parent run);
    the other rounds' model folders go: their runs keep their metrics."""
    shutil.rmtree(target, ignore_errors=True)  # a resumed parent may have copied it before it was stopped
    shutil.copytree(kept.model_dir, target)
    info = json.loads((target / MODEL_INFO).read_text())
    (target / MODEL_INFO).write_text(json.dumps({**info, "run_id": run_id, "round_run_id": kept.run_id}, indent=2))
    for outcome in rounds:
        shutil.rmtree(outcome.model_dir, ignore_errors=True)
    return target

