"""The entry points of `zoo finetune` and `zoo adapt`: the run the user asked for (one run, or a
multi-run method's rounds) and its `--baseline scratch` sibling; continued pretraining as a recipe.
"""

from __future__ import annotations

from collections.abc import Callable

from zoo_core import distributed, tracking
from zoo_core.catalog import Catalog
from zoo_core.errors import RecipeError
from zoo_core.plugins import Plugins
from zoo_core.recipe import Recipe
from zoo_core.refs import resolve
from zoo_core.store import refused_pickle
from zoo_core.training.prepare import prepare
from zoo_core.training.rounds import train_rounds
from zoo_core.training.run import Outcome, train_run


def finetune(recipe: Recipe, catalog: Catalog, plugins: Plugins, report: Callable[[str], None] = lambda line: None) -> list[Outcome]:
    """The run the user asked for, then its `--baseline scratch` sibling."""
    if distributed.is_main():
        tracking.connect()  # a tracking server that does not answer fails before the data and model load
    prepared = prepare(recipe, catalog, plugins, report)
    if prepared.method.fit:
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
    if objective not in domain.objective_tasks:
        raise RecipeError(f"--objective {objective} is not an objective of the {domain_name} domain", f"use --objective {' or '.join(domain.objective_tasks)} (default: the model's own)")
    task = domain.objective_tasks[objective]
    served = plugins.tasks()[domain_name]
    if task not in served:
        raise RecipeError(f"the {domain_name} domain cannot train the {objective} objective", f"its tasks are {', '.join(served)}")
    name = recipe.register_as or f"{base.name}-{objective}"
    return recipe.model_copy(update={"task": task, "objective": objective, "register_as": name})
