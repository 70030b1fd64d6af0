"""`zoo finetune --resume RUN_ID`: an interrupted run continued from its last checkpoint, in the same
MLflow run and only on the data it started with.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml
from pydantic import ValidationError

from zoo_core import tracking
from zoo_core.catalog import Catalog
from zoo_core.errors import DataError, RecipeError
from zoo_core.plugins import Plugins
from zoo_core.recipe import Recipe
from zoo_core.training.prepare import Prepared, prepare
from zoo_core.training.rounds import train_rounds
from zoo_core.training.run import Outcome, last_checkpoint, run_dir, train_run


def resume(run_id: str, catalog: Catalog, plugins: Plugins, report: Callable[[str], None] = lambda line: None) -> Outcome:
    """Continue a run from its last complete checkpoint, in the same MLflow run (a multi-run
    method's parent from its finished rounds)."""
    recipe, scratch, parent = resumable(run_id)
    prepared = same_data(prepare(recipe, catalog, plugins, report), run_id)
    if prepared.method.fit:
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
    try:
        recipe = Recipe.model_validate(yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run_id}/recipe.yaml")))
    except ValidationError as exc:  # a run an older zoo started: methods' settings were recipe fields then
        field = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise RecipeError(f"run {run_id} was started by an older zoo whose recipe this one cannot read ({field})", "start it again with zoo finetune (method settings are now options: -o KEY=VALUE)") from None
    return recipe, tags.get("zoo.init") == "scratch", tags.get("zoo.baseline_of")


def same_data(prepared: Prepared, run_id: str) -> Prepared:
    """A run resumes only on the data it started with: other data would train a model its records do not describe."""
    import mlflow

    started_with = mlflow.get_run(run_id).data.tags.get("zoo.data_fingerprint")
    if started_with and started_with != prepared.fingerprint:
        files = ", ".join(str(path) for path in (prepared.recipe.data, prepared.recipe.val, prepared.recipe.unlabeled) if path is not None)
        raise DataError(f"the data of run {run_id} changed since it started ({files})", "put the files back as they were, or start a new run with zoo finetune")
    return prepared
