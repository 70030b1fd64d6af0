"""One training run: an MLflow run around the Trainer that checkpoints each epoch, then the saved
model folder, its artifacts and its registered version. Where a run's files live is said here.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo_core import distributed, settings, tracking
from zoo_core.errors import ZooError
from zoo_core.guard import blame, plugin_errors
from zoo_core.heads import head_modules
from zoo_core.refs import MODEL_INFO
from zoo_core.store import refused_pickle
from zoo_core.training import trainer as hf
from zoo_core.training.metadata import registered_name, run_params, run_tags, version_tags
from zoo_core.training.plots import log_plots
from zoo_core.training.prepare import Prepared


@dataclass
class Outcome:
    run_id: str
    init: str  # "pretrained" or "scratch"
    metrics: dict[str, float]
    trainable: int
    total: int
    seconds: float
    model_dir: Path
    registered: str | None  # models:/NAME/VERSION
    before: dict[str, float]  # unlabelled tasks: the same metrics before training (perplexity, recall)
    rounds: list[dict[str, Any]] = field(default_factory=list)  # multi-run methods: each round's data and metrics

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "model_dir": str(self.model_dir)}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Outcome:
        return cls(**{**values, "model_dir": Path(values["model_dir"])})


def run_dir(run_id: str) -> Path:
    return settings.zoo_home() / "runs" / run_id


def last_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint the Trainer finished writing (trainer_state.json comes last)."""
    done = [path for path in folder.glob("checkpoint-*") if (path / "trainer_state.json").is_file()]
    return max(done, key=lambda path: int(path.name.split("-")[1]), default=None)


def train_run(prepared: Prepared, scratch: bool, resume_run_id: str | None = None, parent: str | None = None, train: Any = None, round_of: tuple[str, int] | None = None) -> Outcome:
    """One MLflow run: train, evaluate, save, log artifacts, register (pretrained runs only).

    `round_of` (parent run id, round) makes it one round of a multi-run method: a run nested in
    the parent's, trained on `train` instead of the recipe's data, whose model the parent logs and registers.
    In a distributed run every process trains; only rank 0 logs, saves and registers."""
    import mlflow
    import transformers

    recipe = prepared.recipe
    main = distributed.is_main()
    train = prepared.train if train is None else train
    init = "scratch" if scratch else "pretrained"
    tags = run_tags(prepared, init, parent) | ({"zoo.kind": "round", "zoo.round": str(round_of[1])} if round_of else {})
    started = time.perf_counter()
    transformers.set_seed(recipe.seed)
    with refused_pickle(prepared.base.name):  # a model that cannot load fails before any run exists
        model, processor = prepared.adapter.load(prepared.base.path, prepared.labels, scratch)
    before = {} if prepared.adapter.labelled or resume_run_id or not main else prepared.adapter.evaluate(model, processor, prepared.val, prepared.labels)
    heads = head_modules(model) if getattr(model, "zoo_new_head", True) else set()  # a pretrained LM head trains at lr
    with plugin_errors(blame("method", prepared.trains.name, prepared.trains_owner), "prepare"):
        model = prepared.trains.prepare(model, {**prepared.trains_options, "task": prepared.task})
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    total = sum(parameter.numel() for parameter in model.parameters())
    name = f"{prepared.base.name}-{recipe.method}-{init}" + (f"-round-{round_of[1]}" if round_of else "")
    with _tracked_run(resume_run_id, name, tags, round_of[0] if round_of else None) as run_id:
        folder = run_dir(run_id)
        if main and resume_run_id is None:
            mlflow.log_params(run_params(prepared, init, len(train)))
            mlflow.log_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False), "recipe.yaml")
        if main:
            mlflow.log_metrics({"trainable_parameters": trainable, "total_parameters": total, **{f"initial_{key}": value for key, value in before.items()}})
        trainer = hf.trainer(prepared, model, processor, folder / "checkpoints", hf.optimizer(model, heads, prepared), train)
        trainer.train(resume_from_checkpoint=str(last_checkpoint(folder / "checkpoints")) if resume_run_id else None)
        prediction = trainer.predict(trainer.eval_dataset)  # every process: the Trainer gathers their shares
        metrics = {key.removeprefix("test_"): float(value) for key, value in prediction.metrics.items() if key.removeprefix("test_") in ("accuracy", "macro_f1", "loss")}
        registered = None
        if main:
            metrics, registered = _finish(prepared, trainer, processor, prediction, metrics, folder, run_id, init, tags, scratch, round_of)
    return Outcome(run_id, init, metrics, trainable, total, time.perf_counter() - started, folder / "model", registered, before)


class Interrupted(ZooError):
    """Ctrl-C during a run, which keeps its last checkpoint to resume from."""

    exit_code = 130


@contextlib.contextmanager
def _tracked_run(resume_run_id: str | None, name: str, tags: dict[str, str], parent: str | None) -> Iterator[str]:
    """Rank 0's MLflow run (the only one a distributed run has); every process gets its id."""
    if not distributed.is_main():
        yield distributed.share(None)
        return
    with tracking.run(run_id=resume_run_id, name=None if resume_run_id else name, tags=None if resume_run_id else tags, parent=parent) as run:
        run_id = distributed.share(run.info.run_id)
        try:
            yield run_id
        except KeyboardInterrupt:
            if parent is not None:  # a round of self-training: its parent run is what was stopped
                raise
            flags = " and the same --nproc/--nnodes flags" if distributed.world_size() > 1 else ""
            raise Interrupted(f"stopped by Ctrl-C; run {run_id} keeps its last complete checkpoint", f"continue it with zoo finetune --resume {run_id}{flags}") from None


def _finish(
    prepared: Prepared, trainer: Any, processor: Any, prediction: Any, metrics: dict[str, float], folder: Path, run_id: str, init: str, tags: dict[str, str], scratch: bool, round_of: tuple[str, int] | None
) -> tuple[dict[str, float], str | None]:
    """After training: the final metrics, the model folder, plots and artifacts, the registered version."""
    import mlflow

    if not prepared.adapter.labelled:  # retrieval-style tasks measure the whole set, not batch by batch
        metrics = metrics | prepared.adapter.evaluate(trainer.model, processor, prepared.val, prepared.labels)
    mlflow.log_metrics({f"final_{key}": value for key, value in metrics.items()} | {"optimizer_steps": trainer.state.global_step})
    model_dir = _save(prepared, trainer.model, processor, folder / "model", run_id, init)
    log_plots(trainer, prediction if prepared.adapter.labelled else None, prepared.labels, folder)
    if round_of:  # the parent keeps the best round's model; a round's checkpoints are not resumed
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
        return metrics, None
    mlflow.log_artifacts(str(model_dir), "model")
    if scratch:
        return metrics, None
    registered_as = registered_name(prepared)
    version = tracking.register(run_id, "model", registered_as, version_tags(prepared, tags))
    registered = f"models:/{registered_as}/{version}"
    mlflow.set_tag("zoo.registered", registered)
    return metrics, registered


def _save(prepared: Prepared, model: Any, processor: Any, target: Path, run_id: str, init: str) -> Path:
    """A plain model folder every zoo command accepts; LoRA adapters are kept and also merged in."""
    target.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):  # PEFT
        model.save_pretrained(target / "adapter")
        model = model.merge_and_unload()
    model.save_pretrained(target)
    processor.save_pretrained(target)
    info = {
        "domain": prepared.domain,
        "task": prepared.task,
        "base": prepared.base.ref,
        "base_revision": prepared.base.revision,
        "method": prepared.recipe.method,
        "init": init,
        "labels": prepared.labels,
        "max_length": prepared.recipe.max_length,
        "run_id": run_id,
    }
    (target / MODEL_INFO).write_text(json.dumps(info, indent=2))
    return target
