"""Fine-tuning recipes: YAML files (`zoo finetune -c recipe.yaml`) that CLI flags override.

The resolved recipe is what a run logs, so `--resume` can rebuild the run from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zoo_core.errors import RecipeError, shown_path

METHOD_OPTIONS = ("rank", "alpha", "target_modules", "unfreeze_last")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    model: str | None = Field(None, description="the REF to fine-tune")
    data: Path | None = Field(None, description="training data: CSV, TSV, JSONL or parquet")
    val: Path | None = Field(None, description="validation data; otherwise val_split of data")
    val_split: float = Field(0.1, gt=0, lt=1)
    task: str | None = None
    domain: str | None = Field(None, description="the domain that trains the model, for a folder zoo cannot place")
    method: str = "full"
    epochs: int | None = Field(None, ge=1, description="default: 3, more on small data (at least 100 steps, at most 30 epochs)")
    lr: float | None = Field(None, gt=0, description="default: the method's")
    head_lr: float | None = Field(None, gt=0, description="the new head's; default: the method's head_lr, else lr")
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(128, ge=8)
    seed: int = 42
    patience: int | None = Field(None, ge=1, description="epochs without improvement before early stopping; default: 2, or a quarter of the epochs when more")
    text_col: str | None = None
    text_pair_col: str | None = None
    label_col: str | None = None
    target_col: str | None = Field(None, description="text-to-text: the column holding the target text")
    prefix: str = Field("", description="text-to-text: put before every source text, as in 'summarize: '")
    objective: Literal["mlm", "clm", "span"] | None = Field(None, description="zoo adapt: the pretraining objective")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="masked language modelling: the share of tokens masked")
    rank: int | None = Field(None, ge=1)
    alpha: int | None = Field(None, ge=1)
    target_modules: list[str] | None = None
    unfreeze_last: int | None = Field(None, ge=0)
    baseline: Literal["scratch"] | None = None
    unlabeled: Path | None = Field(None, description="self-training: data without labels to pseudo-label")
    rounds: int = Field(3, ge=1, description="self-training: pseudo-labelling rounds after the labelled-only round 0")
    confidence: float = Field(0.9, gt=0, lt=1, description="self-training: the least probability a pseudo-label needs")
    max_per_class: int | None = Field(None, ge=1, description="self-training: pseudo-labels kept per class and round at most")
    base_method: str = Field("full", description="self-training: the method each round trains with")
    register_as: str | None = Field(None, alias="register", description="registered model name; default <base>-<method>")
    allow_pickle: bool = False

    @field_validator("data", "val", "unlabeled")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        """Stored absolute, so `--resume` finds the data from any directory (a Hub file stays as named)."""
        from zoo_core.hub_data import is_hub

        return path.expanduser().absolute() if path is not None and not is_hub(path) else path

    def method_options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in METHOD_OPTIONS if getattr(self, name) is not None}


def load_recipe(path: Path | None, overrides: dict[str, Any]) -> Recipe:
    """The recipe file (if any) with every CLI flag that was given laid over it."""
    values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise RecipeError(f"recipe {path} does not exist", "give the path of a YAML recipe")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise RecipeError(f"{shown_path(path)} must be a mapping of recipe fields")
        values.update(loaded)
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return Recipe.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        flag = "--" + where.replace("_", "-").replace("register-as", "register")
        if path is not None and where in values and where not in {key for key, value in overrides.items() if value is not None}:
            raise RecipeError(f"{shown_path(path)}: {where}: {first['msg']}", "see `zoo finetune --help` for the recipe fields") from None
        raise RecipeError(f"{flag} {values.get(where, '')}: {first['msg']}", "see the command's --help for its options") from None
