"""What MLflow records about a run: its tags, its params and its registered name and version tags,
so that `zoo runs`, `--resume` and the registry read one vocabulary.
"""

from __future__ import annotations

import platform
import re
from typing import Any

from zoo_core import distributed
from zoo_core.training.prepare import Prepared


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
    rounds = {"base_method": prepared.trains.name, "unlabeled": str(recipe.unlabeled)}
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
        **{f"task.{key}": "" if value is None else value for key, value in prepared.task_options.items()},
        **{f"{name}_source": source for name, source in prepared.sources.items()},
        **(rounds if prepared.trains is not prepared.method else {}),
        **{f"method.{key}": "" if value is None else value for key, value in {**prepared.trains_options, **prepared.options}.items()},
    }


def version_tags(prepared: Prepared, tags: dict[str, str]) -> dict[str, str]:
    """A registered version's lineage: the run's tags without the system ones."""
    return {key.removeprefix("zoo."): value for key, value in tags.items() if not key.startswith("zoo.system")} | {"base_revision": prepared.base.revision or ""}
