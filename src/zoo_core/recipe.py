"""Fine-tuning recipes: YAML files (`zoo finetune -c recipe.yaml`) that CLI flags override.

The resolved recipe is what a run logs, so `--resume` can rebuild the run from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from zoo_core.errors import RecipeError, shown_path

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
    objective: str | None = Field(None, description="zoo adapt: the pretraining objective (the domain's objective_tasks name them)")
    baseline: Literal["scratch"] | None = None
    unlabeled: Path | None = Field(None, description="data without labels, for methods that train in rounds")
    options: dict[str, Any] = Field(default_factory=dict, description="the method's and the task's own options (zoo plugins NAME lists them)")
    register_as: str | None = Field(None, alias="register", description="registered model name; default <base>-<method>")
    allow_pickle: bool = False

    @field_validator("data", "val", "unlabeled")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        """Stored absolute, so `--resume` finds the data from any directory (a Hub file stays as named)."""
        from zoo_core.hub_data import is_hub

        return path.expanduser().absolute() if path is not None and not is_hub(path) else path

    _spelled: dict[str, str] = PrivateAttr(default_factory=dict)  # option -> the flag the user gave it with (--rank)

    def spelled(self, option: str) -> str:
        """How the user gave `option`: an alias flag (`--rank`) or `-o rank`."""
        return self._spelled.get(option, f"-o {option}")


def load_recipe(path: Path | None, overrides: dict[str, Any], options: dict[str, Any] | None = None, spelled: dict[str, str] | None = None) -> Recipe:
    """The recipe file (if any) with every CLI flag that was given laid over it, and the plugin
    `options` given on the command line laid over its `options:` (`spelled`: option -> alias flag)."""
    values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise RecipeError(f"recipe {path} does not exist", "give the path of a YAML recipe")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise RecipeError(f"{shown_path(path)} must be a mapping of recipe fields")
        values.update(loaded)
    values.update({key: value for key, value in overrides.items() if value is not None})
    if options:
        if not isinstance(values.get("options", {}), dict):
            raise RecipeError(f"{shown_path(path)}: options: must be a mapping of option names to values", "for example options: {rank: 16}")
        values["options"] = {**values.get("options", {}), **options}
    from_file = {key: f"{shown_path(path)}: options: {key}" for key in (values.get("options") or {}) if path is not None and key not in (options or {})}
    try:
        recipe = Recipe.model_validate(values)
        recipe._spelled = {**from_file, **(spelled or {})}
        return recipe
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        flag = "--" + where.replace("_", "-").replace("register-as", "register")
        if path is not None and where in values and where not in {key for key, value in overrides.items() if value is not None}:
            fix = "a method's options go under options: (zoo plugins METHOD lists them)" if first["type"] == "extra_forbidden" else "see `zoo finetune --help` for the recipe fields"
            raise RecipeError(f"{shown_path(path)}: {where}: {first['msg']}", fix) from None
        raise RecipeError(f"{flag} {values.get(where, '')}: {first['msg']}", "see the command's --help for its options") from None
