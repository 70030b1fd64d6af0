"""The NLP tasks' own options (`-o key=value`; `--mlm-probability` and `--prefix` are aliases),
imported when a command needs them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MaskingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mlm_probability: float = Field(0.15, gt=0, lt=1, description="the share of tokens masked")


class PrefixOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field("", description="put before every source text, as in 'summarize: '")
