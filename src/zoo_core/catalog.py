"""The catalog index: every card by id, from plugins' folders and `ZOO_CATALOG`.

Validating cards needs pydantic, whose import alone costs more than the whole
`zoo list` budget, so validated cards are cached as JSON under `ZOO_HOME`,
keyed by every card file's path, size and modification time (like .pyc files).
Any change to any card revalidates them all.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core import settings
from zoo_core.version import __version__
from zoo_core.errors import CardError, UnknownModelError, shown_path

if TYPE_CHECKING:
    from zoo_core.cards import Card


def builtin_folder() -> Path:
    """The `zoo/` folder of cards that ships with zoo (installed as `zoo_cards`)."""
    spec = importlib.util.find_spec("zoo_cards")
    if spec is None or not spec.submodule_search_locations:
        raise CardError("the built-in catalog (zoo_cards) is not installed", "reinstall zoo")
    return Path(list(spec.submodule_search_locations)[0])


def _card_files(folders: Iterable[Path]) -> list[tuple[Path, Path]]:
    """Every card file, with the folder it came from."""
    files = []
    for folder in folders:
        if not folder.is_dir():
            raise CardError(f"catalog folder {folder} does not exist", "create it or remove it from ZOO_CATALOG")
        files.extend((path, folder) for path in sorted(folder.rglob("*.yaml")))
    return files


def _fingerprint(files: list[tuple[Path, Path]], owners: dict[Path, str]) -> str:
    digest = hashlib.sha256(__version__.encode())
    digest.update(json.dumps(sorted((str(folder), owner) for folder, owner in owners.items())).encode())
    for path, _ in files:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _validate(files: list[tuple[Path, Path]], owners: dict[Path, str]) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """The cards by id, and the plugin cards left out because an earlier folder has their id.

    A plugin's card that clashes is left out (a plugin cannot break the catalog); a clash
    in the user's own ZOO_CATALOG folders is an error to fix."""
    from zoo_core.cards import load_card

    entries: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    folder_of: dict[str, Path] = {}
    by_lower: dict[str, str] = {}
    left_out: list[dict[str, str]] = []
    for path, folder in files:
        card = load_card(path)
        if card.id.lower() in by_lower:  # names match in any case, so ids may not differ in case only
            taken = by_lower[card.id.lower()]
            if folder in owners:
                left_out.append({"card": card.id, "plugin": owners[folder], "kept_by": owners.get(folder_of[taken], shown_path(origin[taken]))})
                continue
            raise CardError(
                f"{shown_path(path)}: id: '{card.id}' is already defined by {shown_path(origin[taken])}"
                + (f" (as '{taken}'; names match in any case)" if taken != card.id else ""),
                "give one of the cards another id",
            )
        entries[card.id], origin[card.id], folder_of[card.id] = card.model_dump(mode="json"), path, folder
        by_lower[card.id.lower()] = card.id
    return entries, left_out


class Catalog:
    """Validated cards by id, as JSON-ready dicts; `get()` gives a typed `Card`."""

    def __init__(self, folders: Iterable[Path], cache: Path | None = None, owners: dict[Path, str] | None = None) -> None:
        """`owners` names the plugin that ships each folder; cards from other folders are the user's."""
        self._by_lower: dict[str, str] | None = None  # lower-cased id -> id, built on first use
        owners = owners or {}
        files = _card_files(folders)
        fingerprint = _fingerprint(files, owners)
        stored = self._read_cache(cache, fingerprint)
        if stored is None:
            self.entries, self.left_out = _validate(files, owners)
            self._write_cache(cache, fingerprint)
        else:
            self.entries, self.left_out = stored["entries"], stored.get("left_out", [])

    @staticmethod
    def _read_cache(cache: Path | None, fingerprint: str) -> dict[str, Any] | None:
        try:
            stored = json.loads(cache.read_text()) if cache else None
        except (OSError, ValueError):
            return None
        return stored if stored and stored.get("fingerprint") == fingerprint else None

    def _write_cache(self, cache: Path | None, fingerprint: str) -> None:
        if cache is None:
            return
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False, suffix=".tmp") as tmp:
                json.dump({"fingerprint": fingerprint, "entries": self.entries, "left_out": self.left_out}, tmp)
            os.replace(tmp.name, cache)
        except OSError:
            pass  # a read-only ZOO_HOME only costs speed

    def canonical(self, name: str) -> str | None:
        """The id of the card called `name` in any letter case (`all-minilm-l6-v2` -> `all-MiniLM-L6-v2`), or None."""
        if name in self.entries:
            return name
        if self._by_lower is None:
            self._by_lower = {card_id.lower(): card_id for card_id in self.entries}
        return self._by_lower.get(name.lower())

    def entry(self, name: str) -> dict[str, Any]:
        """The card called `name` (any letter case) as a dict; an unknown name suggests the closest ones."""
        card_id = self.canonical(name)
        if card_id is not None:
            return self.entries[card_id]
        by_lower = {card_id.lower(): card_id for card_id in self.entries}
        close = difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.5)
        close += [key for key in by_lower if name.lower() in key and key not in close]
        hint = f"did you mean {', '.join(by_lower[key] for key in close[:3])}?" if close else "run `zoo list` to see the catalog"
        raise UnknownModelError(f"no model named '{name}' in the catalog", hint)

    def get(self, name: str) -> Card:
        """The card called `name` (any letter case), typed; `card.id` is the canonical id."""
        from zoo_core.cards import Card

        return Card.model_validate(self.entry(name))

    def search(self, domain: str | None = None, task: str | None = None, text: str | None = None) -> list[dict[str, Any]]:
        """Cards matching every filter given; `text` looks in id, architecture and summary."""
        found = []
        for entry in self.entries.values():
            if domain and entry["domain"] != domain:
                continue
            if task and task not in entry["tasks"]:
                continue
            if text and text.lower() not in f"{entry['id']} {entry['architecture']} {entry['summary']}".lower():
                continue
            found.append(entry)
        return sorted(found, key=lambda entry: (entry["domain"], entry["id"]))


def load_catalog(plugin_folders: dict[Path, str]) -> Catalog:
    """The catalog zoo commands see: plugins' card folders (folder -> plugin), then `ZOO_CATALOG`'s."""
    return Catalog([*plugin_folders, *settings.extra_catalog_folders()], cache=settings.zoo_home() / "cache" / "catalog.json", owners=dict(plugin_folders))
