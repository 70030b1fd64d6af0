"""The fine-tuning engine: REF + data + recipe -> a trained model folder, an MLflow run
and a registered model version.

Training is the Hugging Face Trainer's; the domain's task adapter reads data and
builds models, the method decides what trains. Every run checkpoints each epoch
so `zoo finetune --resume RUN_ID` can continue it after a crash, in the same run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import platform
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo_core import distributed, settings, tracking
from zoo_core.catalog import Catalog
from zoo_core.data import DataWarning
from zoo_core.disk import ensure_writable
from zoo_core.errors import DataError, RecipeError, RefError, ZooError, shown_path
from zoo_core.heads import head_modules, in_head
from zoo_core.hub_data import is_hub, local_data, shown
from zoo_core.names import check_name
from zoo_core.plugins import Plugins
from zoo_core.recipe import Recipe
from zoo_core.refs import MODEL_INFO, ResolvedModel, resolve, task_for
from zoo_core.store import refused_pickle
from zoo_core.types import Columns, Method, TaskAdapter


MIN_ROWS_TO_SPLIT = 4  # at least one validation row and a few to train on
MIN_ROWS_PER_CLASS = 2  # one to train on and one to validate with
WARMUP = 0.1  # a tenth of the steps warming up, then linear decay: stable in runs of a few dozen steps
DEFAULT_EPOCHS = 3
MIN_STEPS = 100  # a small data set still gets enough updates to learn: 60 rows are 25 epochs, not 12 steps
MAX_DEFAULT_EPOCHS = 30
DEFAULT_PATIENCE = 2


@dataclass
class Prepared:
    """Everything a run needs, resolved and checked before any run starts."""

    recipe: Recipe
    base: ResolvedModel
    domain: str
    task: str
    method: Method  # what the user named (self-training, say)
    trains: Method  # what prepares each model it trains (the method itself, or a multi-run method's --base-method)
    adapter: TaskAdapter
    train: Any
    val: Any
    labels: list[str]
    fingerprint: str
    lr: float
    head_lr: float
    epochs: int
    patience: int
    sources: dict[str, str] = field(default_factory=dict)  # recipe field -> the Hub file it was downloaded from
    unlabeled: Any = None  # self-training's data without labels, read up front so bad input fails before any run


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


def fingerprint(*paths: Path | None) -> str:
    """A short digest of the data files (every file, with its relative name, for a folder)."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        files = sorted(item for item in path.rglob("*") if item.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def prepare(recipe: Recipe, catalog: Catalog, plugins: Plugins, report: Callable[[str], None]) -> Prepared:
    """Resolve the model, domain, task and method and read the data: every user error surfaces here."""
    if not recipe.model:
        raise RecipeError("no model to fine-tune", "give a REF: zoo finetune bert-base-uncased --data train.csv")
    if recipe.data is None:
        raise RecipeError("no training data", "pass --data FILE (CSV, TSV, JSONL or parquet)")
    ensure_writable(settings.zoo_home())  # checkpoints and the model land there: fail before any work
    if recipe.register_as is not None:
        check_name(recipe.register_as, "a registered model name", "--register sentiment-lora")
    method = plugins.lookup("method", recipe.method)
    trains = methods_for(recipe, method, plugins)
    if recipe.domain is not None:
        plugins.lookup("domain", recipe.domain)
    base = resolve(recipe.model, catalog, plugins, recipe.allow_pickle, report)
    domain_name = recipe.domain or base.domain
    task, adapter = plugins.task_adapter(domain_name, recipe.task, recipe.model)
    if task not in plugins.domains()[domain_name].tasks:
        raise RecipeError(f"the {domain_name} domain has no task '{task}'", f"tasks are {', '.join(plugins.domains()[domain_name].tasks)}")
    sources = {name: shown(getattr(recipe, name)) for name in ("data", "val", "unlabeled") if is_hub(getattr(recipe, name))}
    if sources:  # Hub files are read from the cache; the run records where they came from
        recipe = recipe.model_copy(update={name: local_data(getattr(recipe, name)) for name in sources})
    if method.fit and not adapter.labelled:
        raise RecipeError(f"--method {recipe.method} pseudo-labels classifiers; {task} is not one", "use --method full, freeze or lora for this task")
    if hasattr(adapter, "configure"):
        adapter.configure(recipe.model_dump())
    columns = Columns(recipe.text_col, recipe.text_pair_col, recipe.label_col, recipe.target_col)
    data = read_data(adapter, recipe.data, columns, report)
    if recipe.val is not None:
        train, val = data, read_data(adapter, recipe.val, columns, report)
    elif len(data) < MIN_ROWS_TO_SPLIT:
        raise DataError(
            f"{recipe.data.name} has {len(data)} usable row{'s' * (len(data) != 1)}; holding out validation rows needs at least {MIN_ROWS_TO_SPLIT}",
            "add rows (a few per label at the very least), or pass --val FILE with validation rows",
        )
    elif adapter.labelled:
        train, val = stratified_split(data, recipe.val_split, recipe.seed, recipe.data)
    else:
        split = data.train_test_split(test_size=recipe.val_split, seed=recipe.seed)
        train, val = split["train"], split["test"]
    labels = check_labels(train, val, recipe.data) if adapter.labelled else label_set(adapter, train, val)
    unlabeled = read_unlabeled(adapter, recipe, columns, task, train, val, report) if method.fit else None
    defaults = {**trains.defaults, **card_defaults(base, catalog).get(trains.name, {})}
    lr = recipe.lr or float(defaults.get("lr", 5e-5))
    head_lr = recipe.head_lr or float(defaults.get("head_lr", lr))
    epochs = recipe.epochs or default_epochs(len(train), recipe.batch_size)
    patience = recipe.patience or default_patience(epochs)
    return Prepared(
        recipe, base, domain_name, task, method, trains, adapter, train, val, labels, fingerprint(recipe.data, recipe.val, recipe.unlabeled), lr, head_lr, epochs, patience, sources, unlabeled
    )


def methods_for(recipe: Recipe, method: Method, plugins: Plugins) -> Method:
    """The method that prepares each model: the named one, or a multi-run method's --base-method.
    Multi-run flags without a multi-run method (and the reverse) are refused, not ignored."""
    if method.fit and recipe.base_method not in plugins.methods():
        raise RecipeError(f"--base-method {recipe.base_method} is not a method", f"use --base-method {' or '.join(name for name, other in plugins.methods().items() if not other.fit)}")
    trains = plugins.lookup("method", recipe.base_method) if method.fit else method
    if trains.fit:
        raise RecipeError(f"--base-method {recipe.base_method} trains in rounds itself", "use --base-method full, freeze or lora")
    if method.fit and recipe.baseline:
        raise RecipeError(f"--baseline {recipe.baseline} compares one run with another; --method {recipe.method} trains several", "drop --baseline, or compare with a --method full run")
    defaults = Recipe()
    given = sorted(name for name in ("rounds", "confidence", "max_per_class", "base_method") if getattr(recipe, name) != getattr(defaults, name))
    if given and not method.fit:
        flag = "--" + given[0].replace("_", "-")
        raise RecipeError(f"{flag} is read by --method self-training, not by --method {recipe.method}", f"add --method self-training, or drop {flag}")
    if method.fit and recipe.unlabeled is None:
        raise RecipeError(f"--method {recipe.method} needs data without labels", "pass --unlabeled FILE (the format of --data; a label column there is ignored)")
    if recipe.unlabeled is not None and not method.fit:
        raise RecipeError(f"--unlabeled is read by --method self-training, not by --method {recipe.method}", "add --method self-training, or drop --unlabeled")
    return trains


def read_unlabeled(adapter: TaskAdapter, recipe: Recipe, columns: Columns, task: str, train: Any, val: Any, report: Callable[[str], None]) -> Any:
    """The --unlabeled data through the adapter's `read_unlabeled` (its label column, if any, ignored),
    less the rows the labelled data already holds."""
    if not hasattr(adapter, "read_unlabeled"):
        raise RecipeError(f"the {task} task cannot read data without labels", "use --method full, freeze or lora for this task")
    if not recipe.unlabeled.exists():
        raise DataError(f"--unlabeled {shown_path(recipe.unlabeled)} does not exist", "give a file (or, for images, a folder) of examples without labels")

    class Unlabeled:  # the engine's reader reports the rows an adapter leaves out
        def read(self, path: Path, columns: Columns) -> Any:
            return adapter.read_unlabeled(path, columns)

    pool = read_data(Unlabeled(), recipe.unlabeled, Columns(columns.text, columns.text_pair), report)
    inputs = pool.column_names
    labelled = {tuple(row[name] for name in inputs) for data in (train, val) for row in data.select_columns(inputs)}
    fresh = [index for index, row in enumerate(pool) if tuple(row[name] for name in inputs) not in labelled]
    if len(fresh) < len(pool):  # pseudo-labelling validation rows would score the model on its own labels
        report(f"{recipe.unlabeled.name}: left out {len(pool) - len(fresh)} of {len(pool)} rows that are in --data or --val")
        pool = pool.select(fresh)
    if len(pool) == 0:
        raise DataError(f"{recipe.unlabeled.name} has no rows that are not in --data or --val", "give data without labels that the labelled files do not hold")
    return pool


def default_epochs(rows: int, batch_size: int) -> int:
    """3 epochs, or as many as it takes to reach MIN_STEPS optimizer steps on small data (30 at most)."""
    steps_per_epoch = max(1, math.ceil(rows / batch_size))
    return min(MAX_DEFAULT_EPOCHS, max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch)))


def default_patience(epochs: int) -> int:
    """2 epochs without improvement, or a quarter of a long run's."""
    return max(DEFAULT_PATIENCE, math.ceil(epochs / 4))


def card_defaults(base: ResolvedModel, catalog: Catalog) -> dict[str, dict[str, float]]:
    """The learning rates the base model's card recommends per method (also for a model fine-tuned from it)."""
    for name in (base.name, (base.info or {}).get("base")):
        card_id = catalog.canonical(name) if name else None
        if card_id is not None:
            return {method: {key: value for key, value in rates.items() if value is not None} for method, rates in (catalog.entries[card_id].get("finetune") or {}).items()}
    return {}


def read_data(adapter: TaskAdapter, path: Path, columns: Columns, report: Callable[[str], None]) -> Any:
    """The adapter's reading of a data file; rows it leaves out are reported, not hidden."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        data = adapter.read(path, columns)
    for warning in caught:
        if issubclass(warning.category, DataWarning):
            report(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return data


def stratified_split(data: Any, fraction: float, seed: int, path: Path) -> tuple[Any, Any]:
    """Hold out `fraction` of each class (one row at least), so validation sees every class."""
    import numpy as np

    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(data["label"]):
        by_class.setdefault(label, []).append(index)
    scarce = sorted((len(rows), label) for label, rows in by_class.items() if len(rows) < MIN_ROWS_PER_CLASS)
    if scarce:
        count, label = scarce[0]
        raise DataError(
            f"{path.name}: class '{label}' has {count} usable row{'s' * (count != 1)}; training and validating need at least {MIN_ROWS_PER_CLASS} of each class",
            "add rows of that class, or pass --val FILE with validation rows",
        )
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for rows in by_class.values():
        held.extend(rng.permutation(rows)[: max(1, round(len(rows) * fraction))].tolist())
    chosen = set(held)
    return data.select([index for index in range(len(data)) if index not in chosen]), data.select(sorted(held))


def check_labels(train: Any, val: Any, data: Path) -> list[str]:
    """The classes, sorted; every validation class must have been seen in training."""
    labels = sorted(set(train["label"]))
    if len(labels) < 2:
        raise DataError(f"{data.name} has a single class ('{labels[0]}')", "a classifier needs examples of at least two labels")
    unseen = sorted(set(val["label"]) - set(labels))
    if unseen:
        raise DataError(f"validation labels never seen in training: {', '.join(unseen[:5])}", "add training examples of them or drop those rows")
    return labels


def label_set(adapter: TaskAdapter, train: Any, val: Any) -> list[str]:
    """The labels of a task whose labels are not one per row (a tagger's tags), as the adapter reads them."""
    return list(adapter.labels_of(train, val)) if hasattr(adapter, "labels_of") else []


def run_dir(run_id: str) -> Path:
    return settings.zoo_home() / "runs" / run_id


def last_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint the Trainer finished writing (trainer_state.json comes last)."""
    done = [path for path in folder.glob("checkpoint-*") if (path / "trainer_state.json").is_file()]
    return max(done, key=lambda path: int(path.name.split("-")[1]), default=None)


def registered_name(prepared: Prepared) -> str:
    name = prepared.recipe.register_as or f"{prepared.base.name}-{prepared.recipe.method}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def run_tags(prepared: Prepared, init: str, parent: str | None = None) -> dict[str, str]:
    """What a run is (base, method, task, data, system), as MLflow tags."""
    import torch
    import transformers

    recipe = prepared.recipe
    return {
        "zoo.base": prepared.base.name,
        "zoo.method": recipe.method,
        "zoo.init": init,
        "zoo.task": prepared.task,
        "zoo.data_fingerprint": prepared.fingerprint,
        "zoo.system.python": platform.python_version(),
        "zoo.system.torch": torch.__version__,
        "zoo.system.transformers": transformers.__version__,
        "zoo.system.device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.machine()})",
        **({"zoo.baseline_of": parent} if parent else {}),
        **({"zoo.objective": recipe.objective} if recipe.objective else {}),
        **({"zoo.base_method": prepared.trains.name} if prepared.trains is not prepared.method else {}),
    }


def run_params(prepared: Prepared, init: str, train_examples: int) -> dict[str, Any]:
    """The hyper-parameters and data a run was given, as MLflow params."""
    recipe = prepared.recipe
    rounds = {"base_method": prepared.trains.name, "unlabeled": str(recipe.unlabeled), "rounds": recipe.rounds, "confidence": recipe.confidence, "max_per_class": recipe.max_per_class or ""}
    return {
        "base_model": prepared.base.ref,
        "base_revision": prepared.base.revision or "",
        "method": recipe.method,
        "init": init,
        "task": prepared.task,
        "epochs": prepared.epochs,
        "patience": prepared.patience,
        "lr": prepared.lr,
        "head_lr": prepared.head_lr,
        "batch_size": recipe.batch_size,
        "max_length": recipe.max_length,
        "seed": recipe.seed,
        "world_size": distributed.world_size(),  # processes that shared each batch of batch_size examples
        "data": str(recipe.data),
        "data_fingerprint": prepared.fingerprint,
        "train_examples": train_examples,
        "val_examples": len(prepared.val),
        "labels": ",".join(prepared.labels),
        **({"objective": recipe.objective} if recipe.objective else {}),
        **({"prefix": recipe.prefix} if recipe.prefix else {}),
        **{f"{name}_source": source for name, source in prepared.sources.items()},
        **(rounds if prepared.trains is not prepared.method else {}),
        **{f"method.{key}": value for key, value in recipe.method_options().items()},
    }


def version_tags(prepared: Prepared, tags: dict[str, str]) -> dict[str, str]:
    """A registered version's lineage: the run's tags without the system ones."""
    return {key.removeprefix("zoo."): value for key, value in tags.items() if not key.startswith("zoo.system")} | {"base_revision": prepared.base.revision or ""}


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
    model = prepared.trains.prepare(model, {**recipe.method_options(), "task": prepared.task})
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
        trainer = _trainer(prepared, model, processor, folder / "checkpoints", _optimizer(model, heads, prepared), train)
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
    _log_plots(trainer, prediction if prepared.adapter.labelled else None, prepared.labels, folder)
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


def _optimizer(model: Any, heads: set[str], prepared: Prepared) -> Any:
    """AdamW with the new head in a group of its own at the head's learning rate."""
    import torch

    trainable = [(name, parameter) for name, parameter in model.named_parameters() if parameter.requires_grad]
    head = [parameter for name, parameter in trainable if in_head(name, heads)]
    rest = [parameter for name, parameter in trainable if not in_head(name, heads)]
    groups = [{"params": params, "lr": lr} for params, lr in ((rest, prepared.lr), (head, prepared.head_lr)) if params]
    return torch.optim.AdamW(groups, weight_decay=0.0)


def _trainer(prepared: Prepared, model: Any, processor: Any, checkpoints: Path, optimizer: Any, train: Any) -> Any:
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


def _log_plots(trainer: Any, prediction: Any, labels: list[str], folder: Path) -> None:
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


def finetune(recipe: Recipe, catalog: Catalog, plugins: Plugins, report: Callable[[str], None] = lambda line: None) -> list[Outcome]:
    """The run the user asked for, then its `--baseline scratch` sibling."""
    if distributed.is_main():
        tracking.connect()  # a tracking server that does not answer fails before the data and model load
    prepared = prepare(recipe, catalog, plugins, report)
    if prepared.method.fit:
        from zoo_core.rounds import train_rounds

        outcomes = [train_rounds(prepared, report)]
    else:
        outcomes = [train_run(prepared, scratch=False)]
    if recipe.baseline == "scratch":
        report("training the same architecture from random weights (--baseline scratch)")
        outcomes.append(train_run(prepared, scratch=True, parent=outcomes[0].run_id))
    return outcomes


def adapt_recipe(recipe: Recipe, catalog: Catalog, plugins: Plugins, report: Callable[[str], None]) -> Recipe:
    """Continued pretraining on unlabelled text as the fine-tune that trains it: the domain's task for the
    objective (by default, the one the model was pretrained with) and the registered name."""
    from zoo_core.types import OBJECTIVE_TASKS

    if not recipe.model:
        raise RecipeError("no model to adapt", "give a REF: zoo adapt bert-base-uncased --data corpus.txt")
    if recipe.data is None:
        raise RecipeError("no corpus", "pass --data FILE: a .txt with one document per line, or CSV/JSONL/parquet with --text-col")
    base = resolve(recipe.model, catalog, plugins, recipe.allow_pickle, report)
    domain_name = recipe.domain or base.domain
    if domain_name is None:
        raise RecipeError(f"zoo cannot tell which domain {recipe.model} belongs to", f"pass --domain NAME (domains: {', '.join(sorted(plugins.domains()))})")
    domain = plugins.lookup("domain", domain_name)
    if domain.objective is None:
        raise RecipeError(f"the {domain_name} domain has no pretraining objective to adapt with", "fine-tune on labelled data with zoo finetune")
    with refused_pickle(base.name):
        objective = recipe.objective or domain.objective(base.path)
    task = OBJECTIVE_TASKS.get(objective)
    if task not in domain.tasks:
        raise RecipeError(f"the {domain_name} domain cannot train the {objective} objective", f"its tasks are {', '.join(domain.tasks)}")
    name = recipe.register_as or f"{base.name}-{objective}"
    return recipe.model_copy(update={"task": task, "objective": objective, "register_as": name})


def resume(run_id: str, catalog: Catalog, plugins: Plugins, report: Callable[[str], None] = lambda line: None) -> Outcome:
    """Continue a run from its last complete checkpoint, in the same MLflow run (a multi-run
    method's parent from its finished rounds)."""
    recipe, scratch, parent = resumable(run_id)
    prepared = same_data(prepare(recipe, catalog, plugins, report), run_id)
    if prepared.method.fit:
        from zoo_core.rounds import train_rounds

        return train_rounds(prepared, report, resume_run_id=run_id)
    return train_run(prepared, scratch=scratch, resume_run_id=run_id, parent=parent)


def resumable(run_id: str) -> tuple[Recipe, bool, str | None]:
    """The recipe of a run that can be resumed, whether it trained from scratch, and the run it is a baseline of."""
    import mlflow
    from mlflow.exceptions import MlflowException

    tracking.connect()
    try:
        run = mlflow.get_run(run_id)
    except MlflowException:
        raise RecipeError(f"no zoo run {run_id} in {tracking.shown_uri()}", "`zoo runs` lists the runs") from None
    if run.info.status == "FINISHED":
        raise RecipeError(f"run {run_id} already finished", "start a new run with zoo finetune")
    tags = run.data.tags
    if "zoo.round" in tags:
        parent = tags.get("mlflow.parentRunId", "")
        raise RecipeError(f"run {run_id} is round {tags['zoo.round']} of {tags.get('zoo.method')} run {parent}", f"continue the whole run with zoo finetune --resume {parent}")
    rounds = "zoo.base_method" in tags  # a multi-run method's parent resumes from its rounds, not a checkpoint of its own
    if not rounds and last_checkpoint(run_dir(run_id) / "checkpoints") is None:
        raise RecipeError(f"run {run_id} has no complete checkpoint to resume from", "start it again with zoo finetune")
    recipe = Recipe.model_validate(yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run_id}/recipe.yaml")))
    return recipe, tags.get("zoo.init") == "scratch", tags.get("zoo.baseline_of")


def same_data(prepared: Prepared, run_id: str) -> Prepared:
    """A run resumes only on the data it started with: other data would train a model its records do not describe."""
    import mlflow

    started_with = mlflow.get_run(run_id).data.tags.get("zoo.data_fingerprint")
    if started_with and started_with != prepared.fingerprint:
        files = ", ".join(str(path) for path in (prepared.recipe.data, prepared.recipe.val, prepared.recipe.unlabeled) if path is not None)
        raise DataError(f"the data of run {run_id} changed since it started ({files})", "put the files back as they were, or start a new run with zoo finetune")
    return prepared


def finetune_distributed(
    where: distributed.Launch, recipe: Recipe | None, resume_run_id: str | None, catalog: Catalog, plugins: Plugins, report: Callable[[str], None]
) -> list[Outcome]:
    """`zoo finetune`/`adapt` with `--nproc`/`--nnodes`: checked here, trained by torchrun's workers (`run_job`).

    Returns rank 0's outcomes on the node that has it, nothing on the others."""
    if resume_run_id is not None and where.node_rank == 0:
        recipe = resumable(resume_run_id)[0]  # the other nodes learn it from rank 0
    if recipe is not None and plugins.lookup("method", recipe.method).fit:
        raise RecipeError(f"--method {recipe.method} trains its rounds in one process", "drop --nproc and --nnodes" + ("" if resume_run_id else ", or train with --method full, freeze or lora"))
    where.check(recipe.batch_size if recipe is not None else None)
    if recipe is not None:
        prepared = prepare(recipe, catalog, plugins, report)  # bad input fails before any process starts
        if resume_run_id is not None:
            same_data(prepared, resume_run_id)
        elif where.node_rank == 0:
            tracking.connect()  # so does a tracking server that does not answer
    job = {"resume": resume_run_id} if resume_run_id else {"recipe": recipe.model_dump(mode="json") if recipe else None}
    results = distributed.launch({**job, "trust_remote_code": settings.trust_remote_code()}, where, report)
    return [Outcome.from_json(result) for result in results or []]


def run_job(job: dict[str, Any], catalog: Catalog, plugins: Plugins, report: Callable[[str], None]) -> list[dict[str, Any]]:
    """One distributed worker's share of what `finetune_distributed` launched."""
    if job.get("resume"):
        recipe, scratch, parent = distributed.share(resumable(job["resume"]) if distributed.is_main() else None)
        outcomes = [train_run(prepare(recipe, catalog, plugins, report), scratch=scratch, resume_run_id=job["resume"], parent=parent)]
    else:
        outcomes = finetune(Recipe.model_validate(job["recipe"]), catalog, plugins, report)
    return [outcome.to_json() for outcome in outcomes]


def evaluate(
    ref: str,
    data: Path,
    columns: Columns,
    catalog: Catalog,
    plugins: Plugins,
    batch_size: int = 32,
    domain: str | None = None,
    allow_pickle: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Accuracy and macro-F1 of a classifier, or the adapter's own metrics (retrieval recall), on held-out data."""
    from zoo_core.export import EXPORT_INFO

    if (Path(ref) / EXPORT_INFO).is_file():
        raise RefError(f"{ref} is an export; zoo eval scores models", "evaluate the model it came from (zoo eval REF --data FILE); zoo export REF --data FILE compares a classifier's variants")
    model = resolve(ref, catalog, plugins, allow_pickle)
    source, data = data, local_data(data)
    with refused_pickle(model.name):
        _, adapter = plugins.task_adapter(domain or model.domain, task_for(model, domain or model.domain, catalog, plugins), ref)
    if hasattr(adapter, "configure"):
        adapter.configure({"max_length": (model.info or {}).get("max_length")})
    dataset = read_data(adapter, data, columns, report)  # bad data fails before the model loads
    with refused_pickle(model.name):
        network, processor, labels = adapter.load_trained(model.path)
    if not adapter.labelled:
        return {"model": ref, "data": shown(source), "examples": len(dataset), **adapter.evaluate(network, processor, dataset, labels)}
    unseen = sorted(set(dataset["label"]) - set(labels))
    if unseen:
        raise DataError(f"{data.name} has labels the model never saw in training: {', '.join(unseen[:5])}", f"its labels are {', '.join(labels)}")
    max_length = (model.info or {}).get("max_length", 128)
    import torch
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(settings.zoo_home() / "cache" / "eval"),
        per_device_eval_batch_size=batch_size,
        report_to=[],
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,
    )
    trainer = Trainer(model=network, args=args, data_collator=adapter.collator(processor), compute_metrics=classification_metrics)
    prediction = trainer.predict(adapter.encode(dataset, processor, labels, max_length))
    return {"model": ref, "data": shown(source), "examples": len(dataset), "accuracy": prediction.metrics["test_accuracy"], "macro_f1": prediction.metrics["test_macro_f1"]}
