"""A recipe resolved and checked before any run starts: the model, domain, task, method and data,
so that every user error surfaces before training does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.disk import ensure_writable
from zoo_core.errors import DataError, RecipeError
from zoo_core.guard import blame, plugin_errors
from zoo_core.hub_data import is_hub, local_data, shown
from zoo_core.names import check_name
from zoo_core.options import fields_of, validate
from zoo_core.plugins import Plugins
from zoo_core.recipe import Recipe
from zoo_core.refs import ResolvedModel, resolve
from zoo_core.training.data import (
    MIN_ROWS_TO_SPLIT,
    card_defaults,
    check_labels,
    default_epochs,
    default_patience,
    fingerprint,
    label_set,
    read_data,
    read_unlabeled,
    stratified_split,
)
from zoo_core.adapters import TaskAdapter
from zoo_core.types import Columns, Method


@dataclass
class Prepared:
    """Everything a run needs, resolved and checked before any run starts."""

    recipe: Recipe
    base: ResolvedModel
    domain: str
    task: str
    method: Method  # what the user named (self-training, say)
    trains: Method  # what prepares each model it trains (the method itself, or a multi-run method's base_method)
    task_options: dict[str, Any]  # the task's own options, validated, defaults filled in
    options: dict[str, Any]  # the named method's options, validated, defaults filled in
    trains_options: dict[str, Any]  # the options of the method that prepares each model (the same, but for multi-run methods)
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
    trains_owner: str | None = None  # the plugin whose method prepares each model, for messages that blame it


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
    if recipe.domain is not None:
        plugins.lookup("domain", recipe.domain)
    base = resolve(recipe.model, catalog, plugins, recipe.allow_pickle, report)
    domain_name = recipe.domain or base.domain
    task, adapter = plugins.task_adapter(domain_name, recipe.task, recipe.model)
    if not adapter.trains:
        raise RecipeError(f"the {task} task uses a model as it is; it does not train", f"run it with zoo predict {recipe.model} --task {task} INPUT, or pick a task that trains with --task")
    task_options, rest = task_options_of(recipe, plugins, domain_name, task)
    trains, options, trains_options = methods_for(recipe, method, plugins, rest)
    sources = {name: shown(getattr(recipe, name)) for name in ("data", "val", "unlabeled") if is_hub(getattr(recipe, name))}
    if sources:  # Hub files are read from the cache; the run records where they came from
        recipe = recipe.model_copy(update={name: local_data(getattr(recipe, name)) for name in sources})
    if method.fit and not adapter.labelled:
        raise RecipeError(f"--method {recipe.method} pseudo-labels classifiers; {task} is not one", "use --method full, freeze or lora for this task")
    adapter.configure({**recipe.model_dump(), **task_options})
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
        recipe, base, domain_name, task, method, trains, task_options, options, trains_options, adapter, train, val, labels, fingerprint(recipe.data, recipe.val, recipe.unlabeled), lr, head_lr, epochs, patience, sources, unlabeled,
        plugins.owner("method", trains.name),
    )


def task_options_of(recipe: Recipe, plugins: Plugins, domain: str, task: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's own options (the recipe's keys its options model has), validated, and the keys left for the method."""
    found = plugins.tasks()[domain][task]
    with plugins.guarded("task", f"{domain}/{task}", "options"):
        known = fields_of(found.options() if found.options else None)
        own = validate("task", task, found.options, {key: value for key, value in recipe.options.items() if key in known}, None, recipe.spelled)
    rest = {key: value for key, value in recipe.options.items() if key not in known}
    methods = {key for other in plugins.methods().values() if other.options for key in fields_of(other.options())}
    for key in sorted(set(rest) - methods):  # another task's option: say which task reads it
        owners = [name for name, other in plugins.tasks()[domain].items() if other.options and key in fields_of(other.options())]
        if owners:
            flag = recipe.spelled(key)
            raise RecipeError(f"{flag} is an option of task {' and '.join(owners)}, not of task {task}", f"add --task {owners[0]}, or drop {flag}")
    return own, rest


def methods_for(recipe: Recipe, method: Method, plugins: Plugins, given: dict[str, Any]) -> tuple[Method, dict[str, Any], dict[str, Any]]:
    """The method that prepares each model (the named one, or a multi-run method's `base_method`), the named
    method's options and that method's, validated. An option no method reads is refused, not ignored: its
    message names the method that has it."""
    methods = plugins.methods()
    others = {name: other.options for name, other in methods.items()}
    own = {key: value for key, value in given.items() if not method.fit or key in fields_of(method.options() if method.options else None)}
    with plugin_errors(blame("method", method.name, plugins.owner("method", method.name)), "options"):
        options = validate("method", method.name, method.options, own, others, recipe.spelled)
    trains, trains_options = method, options
    rounds = [name for name, other in methods.items() if other.fit]
    if method.fit:
        base = options.get("base_method", "full")
        flag = recipe.spelled("base_method")
        if base not in methods:
            raise RecipeError(f"{flag} {base} is not a method", f"use {flag} {' or '.join(name for name, other in methods.items() if not other.fit)}")
        trains = methods[base]
        if trains.fit:
            raise RecipeError(f"{flag} {base} trains in rounds itself", f"use {flag} full, freeze or lora")
        rest = {key: value for key, value in given.items() if key not in own}
        with plugin_errors(blame("method", trains.name, plugins.owner("method", trains.name)), "options"):
            trains_options = validate("method", trains.name, trains.options, rest, others, recipe.spelled)
        if recipe.baseline:
            raise RecipeError(f"--baseline {recipe.baseline} compares one run with another; --method {recipe.method} trains several", "drop --baseline, or compare with a --method full run")
        if recipe.unlabeled is None:
            raise RecipeError(f"--method {recipe.method} needs data without labels", "pass --unlabeled FILE (the format of --data; a label column there is ignored)")
    elif recipe.unlabeled is not None:
        which = " or ".join(f"--method {name}" for name in rounds) or "a method that trains in rounds"
        raise RecipeError(f"--unlabeled is read by {which}, not by --method {recipe.method}", f"add {which.split(' or ')[0]}, or drop --unlabeled")
    return trains, options, trains_options
