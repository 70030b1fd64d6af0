"""The one rule for the names zoo stores things under: catalog ids, store folders, registered models."""

from __future__ import annotations

import re

from zoo_core.errors import NameRuleError

RULE = "ASCII letters, digits, '-', '_' and '.', starting with a letter or digit, without '..'"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.))*")


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and len(name) <= 128


def check_name(name: str, what: str = "a model name", example: str | None = None) -> str:
    """`name` if it follows the rule; otherwise the error states the rule (and the flag to set, where there is one)."""
    if not valid_name(name):
        raise NameRuleError(f"'{name}' cannot be {what}: names use {RULE}", f"e.g. {example}" if example else None)
    return name
