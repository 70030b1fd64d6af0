"""Catalog cards: the YAML schema, validated by pydantic with `extra="forbid"`.

Field names follow timm's pretrained config and Hugging Face model cards.
Importing this module costs pydantic's start-up, so the catalog index only
imports it when a card changed (see `zoo_core.catalog`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zoo_core.errors import CardError, shown_path
from zoo_core.names import RULE, valid_name

# libyaml is about 10x faster than the pure-Python parser.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """One place the weights can come from; a card's sources are tried in order."""

    uri: str = Field(description="scheme://location, e.g. hf://google-bert/bert-base-uncased")
    revision: str | None = Field(None, description="a branch, tag or commit to pin")
    sha256: dict[str, str] = Field(default_factory=dict, description="file path -> expected sha256 hex digest")

    @field_validator("uri")
    @classmethod
    def _looks_like_uri(cls, uri: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", uri):
            raise ValueError(f"'{uri}' is not a URI like hf://org/name or https://host/file")
        return uri

    @field_validator("sha256")
    @classmethod
    def _hex_digests(cls, digests: dict[str, str]) -> dict[str, str]:
        for name, digest in digests.items():
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"{name}: '{digest}' is not a sha256 hex digest (64 lowercase hex characters)")
        return digests


class Paper(_Strict):
    title: str
    url: str = Field(pattern=r"^https?://\S+$")


class Preprocessing(_Strict):
    """How inputs must look; text fields for tokenizers, image fields as in timm."""

    max_length: int | None = Field(None, gt=0)
    do_lower_case: bool | None = None
    input_size: tuple[int, int, int] | None = None
    interpolation: Literal["nearest", "bilinear", "bicubic"] | None = None
    crop_pct: float | None = Field(None, gt=0, le=1)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    pooling: Literal["cls", "mean"] | None = Field(None, description="how a classifier pools token states; mean for sentence-embedding models")


class FinetuneDefaults(_Strict):
    """Rates a model trains best with under one method, over the method's own defaults."""

    lr: float | None = Field(None, gt=0, description="pretrained weights or adapters")
    head_lr: float | None = Field(None, gt=0, description="the new head")


class Card(_Strict):
    """One pretrained model: what it is, where its weights live, how to feed it."""

    id: str
    domain: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    tasks: list[str] = Field(min_length=1)
    architecture: str
    library: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$", description="what builds the architecture: transformers, timm, torchvision, or a library a plugin's domain loads")
    sources: list[SourceSpec] = Field(min_length=1)
    license: str
    parameters: int = Field(gt=0, description="parameters of the pretrained network as the architecture counts them")
    num_classes: int | None = Field(None, gt=0)
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    finetune: dict[str, FinetuneDefaults] = Field(default_factory=dict, description="method name -> the rates this model trains best with")
    paper: Paper
    summary: str

    @field_validator("id")
    @classmethod
    def _follows_the_name_rule(cls, name: str) -> str:
        if not valid_name(name):
            raise ValueError(f"'{name}' breaks the name rule: {RULE}")
        return name


def load_card(path: Path) -> Card:
    """Parse and validate one card; any problem is a one-line `CardError`."""
    shown = shown_path(path)
    fix = "fix the card (fields are described in docs/catalog.md)"
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        raise CardError(f"{shown}: {where}: {getattr(exc, 'problem', None) or exc}", fix) from None
    if not isinstance(data, dict):
        raise CardError(f"{shown}: a card must be a mapping of fields", fix)
    try:
        card = Card.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "card"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CardError(f"{shown}: {where}: {first['msg'].removeprefix('Value error, ')}{more}", fix) from None
    if card.id != path.stem:
        raise CardError(f"{shown}: id: '{card.id}' does not match the file name", f"rename the file to {card.id}.yaml or set id: {path.stem}")
    return card
