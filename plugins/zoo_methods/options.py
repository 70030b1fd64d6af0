"""The methods' own options (`-o key=value`, a recipe's `options:`), validated by pydantic.

Imported only when a command needs them, so `zoo --help` stays fast."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FreezeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unfreeze_last: int | None = Field(None, ge=0, description="also train the top N layers (default 0; 1 for a language model whose head is its embeddings)")


class LoraOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(8, ge=1, description="rank of the low-rank update")
    alpha: int = Field(16, ge=1, description="scaling: the update is multiplied by alpha / rank")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the adapters' input")
    target_modules: list[str] | None = Field(None, description="module names to adapt, comma-separated (default: per architecture)")

    @field_validator("target_modules", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


class SelfTrainingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(3, ge=1, description="pseudo-labelling rounds after the labelled-only round 0")
    confidence: float = Field(0.9, gt=0, lt=1, description="the least probability a pseudo-label needs")
    max_per_class: int | None = Field(None, ge=1, description="pseudo-labels kept per class and round at most (default: as many as the rarest class has)")
    base_method: str = Field("full", description="the method each round trains with: full, freeze or lora")
