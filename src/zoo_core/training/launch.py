"""`zoo finetune`/`adapt` with `--nproc`/`--nnodes`: the recipe checked here, then torchrun's workers
(`python -m zoo_core.training.launch JOB`) each run their share through `zoo_core.distributed`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core import distributed, settings, tracking
from zoo_core.catalog import Catalog
from zoo_core.errors import RecipeError
from zoo_core.plugins import Plugins
from zoo_core.recipe import Recipe
from zoo_core.training.finetune import finetune
from zoo_core.training.prepare import prepare
from zoo_core.training.resume import resumable, same_data
from zoo_core.training.run import Outcome, train_run

WORKER = "zoo_core.training.launch"  # the module torchrun starts in every process


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
    results = distributed.launch({**job, "trust_remote_code": settings.trust_remote_code()}, where, report, WORKER)
    return [Outcome.from_json(result) for result in results or []]


def run_job(job: dict[str, Any], catalog: Catalog, plugins: Plugins, report: Callable[[str], None]) -> list[dict[str, Any]]:
    """One distributed worker's share of what `finetune_distributed` launched."""
    if job.get("resume"):
        recipe, scratch, parent = distributed.share(resumable(job["resume"]) if distributed.is_main() else None)
        outcomes = [train_run(prepare(recipe, catalog, plugins, report), scratch=scratch, resume_run_id=job["resume"], parent=parent)]
    else:
        outcomes = finetune(Recipe.model_validate(job["recipe"]), catalog, plugins, report)
    return [outcome.to_json() for outcome in outcomes]


if __name__ == "__main__":
    sys.stdout = sys.stderr  # training chatter; the launching command prints the results
    sys.exit(distributed.work(Path(sys.argv[1]), run_job))
