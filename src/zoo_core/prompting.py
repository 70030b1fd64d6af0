"""`zoo eval --prompt`: classification by prompting, with no weight changed.

Each example is put into the prompt (after `--shots` solved examples from
`--train`), and the model's log-likelihood of each `--choices` continuation picks
the answer. It is scored with accuracy and macro-F1 and logged as an MLflow run
with the same metric names as a fine-tune, so the two sit in one table.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core import tracking
from zoo_core.catalog import Catalog
from zoo_core.errors import DataError, RecipeError
from zoo_core.plugins import Plugins
from zoo_core.refs import resolve, task_for
from zoo_core.store import refused_pickle
from zoo_core.training.data import fingerprint, read_data
from zoo_core.types import Columns

PLACEHOLDER = "{text}"
SHOT_SEPARATOR = "\n\n"


def parse_choices(choices: str) -> list[str]:
    """`positive,negative` -> the distinct answers; fewer than two is not a choice."""
    found = list(dict.fromkeys(choice.strip() for choice in choices.split(",") if choice.strip()))
    if len(found) < 2:
        raise DataError(f"--choices '{choices}' names {len(found)} answer{'s' * (len(found) != 1)}; prompting picks among at least two", "pass them comma-separated: --choices positive,negative")
    return found


def check_prompt(prompt: str) -> str:
    """The template with `\\n` and `\\t` typed on a command line made real; it must hold {text}."""
    template = prompt.replace("\\n", "\n").replace("\\t", "\t")
    if PLACEHOLDER not in template:
        raise DataError(f"--prompt {prompt!r} has no {PLACEHOLDER}", 'mark where each example goes: --prompt "Review: {text}\\nSentiment:"')
    return template


def contexts_for(template: str, texts: list[str], shots: list[tuple[str, str]]) -> list[str]:
    """Each text in the template, after the solved examples."""
    solved = "".join(template.replace(PLACEHOLDER, text) + " " + label + SHOT_SEPARATOR for text, label in shots)
    return [solved + template.replace(PLACEHOLDER, text) for text in texts]


def evaluate_prompt(
    ref: str,
    data: Path,
    columns: Columns,
    prompt: str,
    choices: str,
    shots: int,
    train: Path | None,
    catalog: Catalog,
    plugins: Plugins,
    seed: int = 42,
    allow_pickle: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Accuracy and macro-F1 of the prompted model on `data`, logged as one MLflow run."""
    from sklearn.metrics import accuracy_score, f1_score

    template, answers = check_prompt(prompt), parse_choices(choices)
    if shots < 0:
        raise DataError(f"--shots {shots} is negative", "pass --shots 0 (zero-shot) or more")
    if shots and train is None:
        raise DataError(f"--shots {shots} needs solved examples to show", "pass --train FILE with text and label columns")
    model = resolve(ref, catalog, plugins, allow_pickle)
    if not plugins.tasks().get(model.domain or ""):
        raise RecipeError(f"zoo cannot tell which domain {ref} belongs to", "prompting needs a causal or text-to-text language model")
    with refused_pickle(model.name):
        task, adapter = plugins.task_adapter(model.domain, task_for(model, model.domain, catalog, plugins), ref)
    if not adapter.generates:
        raise RecipeError(f"{ref} is a {task} model, which cannot score answers to a prompt", "prompt a causal (GPT-2) or text-to-text (T5) model, or fine-tune this one with zoo finetune")
    examples = adapter.read_examples(data, columns)
    unknown = sorted(set(examples["label"]) - set(answers))
    if unknown:
        raise DataError(f"{data.name} has labels that are not among --choices: {', '.join(unknown[:5])}", f"--choices must name every label: --choices {','.join([*answers, *unknown[:5]])}")
    solved: list[tuple[str, str]] = []
    if shots:
        pool = adapter.read_examples(train, columns)
        if len(pool) < shots:
            raise DataError(f"--shots {shots} asks for more examples than {train.name} has ({len(pool)})", f"pass --shots {len(pool)} or fewer")
        picked = random.Random(seed).sample(range(len(pool)), shots)
        solved = [(pool["text"][index], pool["label"][index]) for index in picked]
    contexts = contexts_for(template, list(examples["text"]), solved)
    with refused_pickle(model.name):
        scores = adapter.score_choices(model.path, contexts, answers)
    predicted = [answers[max(range(len(answers)), key=lambda index: row[index])] for row in scores]
    truth = list(examples["label"])
    metrics = {"accuracy": float(accuracy_score(truth, predicted)), "macro_f1": float(f1_score(truth, predicted, labels=answers, average="macro", zero_division=0))}
    method = f"prompting ({shots}-shot)"
    with tracking.run(name=f"{model.name}-prompting-{shots}shot", tags={"zoo.base": model.name, "zoo.method": "prompting", "zoo.task": task, "zoo.shots": str(shots)}) as run:
        import mlflow

        mlflow.log_params(
            {
                "base_model": model.ref,
                "method": method,
                "prompt": template[:500],
                "choices": ",".join(answers),
                "shots": shots,
                "data": str(data),
                "data_fingerprint": fingerprint(data, train),
                "examples": len(examples),
            }
        )
        mlflow.log_metrics({f"final_{key}": value for key, value in metrics.items()})
        mlflow.log_dict({"prompt": template, "shots": [list(pair) for pair in solved], "choices": answers, "predicted": predicted}, "prompting.json")
    return {"model": ref, "data": str(data), "examples": len(examples), "method": method, "run_id": run.info.run_id, **metrics}
