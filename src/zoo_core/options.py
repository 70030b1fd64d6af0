"""Options a plugin owns: `-o key=value` pairs and a recipe's `options:`, validated by the
pydantic model the method, task or exporter declares (`options()`), so the core's recipe
holds only the engine's own fields."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from zoo_core.errors import RecipeError


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`-o rank=16 -o target_modules=q,v` as a dict of strings (the model converts them)."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key:
            raise RecipeError(f"-o {pair}: an option is KEY=VALUE", "for example -o rank=16 (zoo plugins NAME lists a plugin's options)")
        values[key] = value
    return values


def fields_of(model: type | None) -> dict[str, Any]:
    """The option model's fields (pydantic FieldInfo by name); none without a model."""
    return dict(getattr(model, "model_fields", {})) if model is not None else {}


def describe(model: type | None) -> str:
    """`rank (int, default 8), alpha (int, default 16)`: what an error lists (`zoo plugins NAME` says more)."""
    shown = []
    for name, info in fields_of(model).items():
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        default = "required" if info.is_required() else f"default {info.default!r}" if info.default is not None else "default: none"
        shown.append(f"{name} ({kind}, {default})")
    return ", ".join(shown) or "none"


def validate(
    kind: str,
    name: str,
    factory: Callable[[], type] | None,
    values: dict[str, Any],
    others: dict[str, Callable[[], type] | None] | None = None,
    spelled: Callable[[str], str] = lambda key: f"-o {key}",
    switch: str | None = None,
) -> dict[str, Any]:
    """`values` checked against the `kind` `name`'s option model, with its defaults filled in.

    `others` (name -> options factory of the same kind) lets an unknown key point to the plugin
    that has it; `spelled(key)` is how the user gave it (`--rank` or `-o rank`), and `switch` the flag
    that picks another one (default `--KIND`), for messages."""
    from pydantic import ValidationError

    model = factory() if factory is not None else None
    known = fields_of(model)
    unknown = sorted(set(values) - set(known))
    if unknown:
        flag = spelled(unknown[0])
        owners = [other for other, other_factory in (others or {}).items() if other != name and unknown[0] in fields_of(other_factory() if other_factory else None)]
        if owners:
            raise RecipeError(f"{flag} is an option of {kind} {' and '.join(owners)}, not of {kind} {name}", f"add {switch or '--' + kind} {owners[0]}, or drop {flag}")
        raise RecipeError(f"{flag} is not an option of {kind} {name}", f"its options are: {describe(model)}")
    if model is None:
        return {}
    try:
        return model.model_validate(values).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else name
        flag, value = spelled(key), values.get(key, "")
        shown = f"{flag}={value}" if flag.startswith("-o ") else f"{flag}: {value!r}" if ": " in flag else f"{flag} {value}"
        raise RecipeError(f"{shown}: {first['msg']}", f"the options of {kind} {name} are: {describe(model)}") from None
