"""One resolver from every REF a user can type to a local model folder.

A REF is a catalog name (`bert-base-uncased[@REV]`, pulled on first use), a model
already in the store (`my-bert`), a local folder, `models:/NAME/VERSION`,
`models:/NAME@ALIAS` or `runs:/RUN_ID/model`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_core.catalog import Catalog
from zoo_core.errors import RefError, UnknownModelError
from zoo_core.guard import blame, plugin_errors
from zoo_core.plugins import Plugins
from zoo_core.store import Store, ensure_folder_loadable, ensure_loadable
from zoo_core.types import Domain

MODEL_INFO = "zoo-model.json"


def model_info(folder: Path) -> dict[str, Any] | None:
    """What zoo wrote beside a model it fine-tuned (domain, task, base, labels, max_length, run_id), or None."""
    file = Path(folder) / MODEL_INFO
    return json.loads(file.read_text()) if file.is_file() else None


@dataclass(frozen=True)
class ResolvedModel:
    ref: str
    path: Path
    name: str
    domain: str | None
    revision: str | None = None
    info: dict[str, Any] | None = None  # zoo-model.json of a model zoo fine-tuned


def _recognised_by(path: Path, plugins: Plugins) -> str | None:
    """For a plain Hugging Face or timm folder with no zoo metadata: the first domain that recognises it."""
    for name, domain in plugins.domains().items():
        if domain.recognizes is not None:
            with plugin_errors(blame("domain", name, plugins.owner("domain", name)), "recognizes"):
                if domain.recognizes(path):
                    return name
    return None


def _from_folder(ref: str, path: Path, name: str, catalog: Catalog, plugins: Plugins, revision: str | None = None) -> ResolvedModel:
    info = model_info(path)
    domain = (info or {}).get("domain")
    card_id = catalog.canonical(name) if domain is None else None
    if card_id is not None:
        domain = catalog.entries[card_id]["domain"]
    return ResolvedModel(ref, path, name, domain or _recognised_by(path, plugins), revision, info)


def resolve(
    ref: str,
    catalog: Catalog,
    plugins: Plugins,
    allow_pickle: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> ResolvedModel:
    """Turn `ref` into a local folder, pulling catalog models that are not yet in the store."""
    if ref.startswith(("models:/", "runs:/")):
        from zoo_core import tracking

        path = tracking.download(ref)
        name = ref.split(":/", 1)[1].strip("/").split("/")[0].split("@")[0]
        ensure_folder_loadable(path, ref, allow_pickle)
        return _from_folder(ref, path, name, catalog, plugins)
    path = Path(ref).expanduser()
    if path.is_dir():
        ensure_folder_loadable(path, ref, allow_pickle)
        return _from_folder(ref, path.resolve(), path.resolve().name, catalog, plugins)
    if ref.startswith((".", "/", "~")):
        raise RefError(f"{ref} does not exist", "give a model folder, a catalog name, models:/NAME/VERSION or runs:/ID/model")
    store = Store()
    name = ref.split("@", 1)[0]
    manifest = store.manifest(name) if "/" not in name else None
    card_id = catalog.canonical(name) if manifest is None and "/" not in name else None
    if card_id not in (None, name):  # a catalog name in another case: the card's own spelling, in the store and in lineage
        ref, name = card_id + ref[len(name):], card_id
        manifest = store.manifest(name)
    if manifest is None or "@" in ref:
        from zoo_core.pull import plan_pull, pull

        try:
            plan = plan_pull(ref, catalog)
        except UnknownModelError as exc:
            raise RefError(f"'{ref}' is not a catalog name, a model in the store or a folder", exc.fix) from None
        report(f"pulling {ref} into the store")
        manifest = pull(plan, plugins, report=lambda line: report(f"skipped {line}")).manifest
    ensure_loadable(manifest, allow_pickle)
    ensure_folder_loadable(store.path(manifest.name), manifest.name, allow_pickle)
    return _from_folder(ref, store.path(manifest.name), manifest.name, catalog, plugins, manifest.revision)


def task_for(model: ResolvedModel, domain_name: str | None, catalog: Catalog, plugins: Plugins) -> str | None:
    """`model_task` by domain name; None where the domain is unknown (the caller names the problem)."""
    domain = plugins.domains().get(domain_name or "")
    return model_task(model, domain, list(plugins.tasks()[domain.name]), catalog) if domain is not None and plugins.tasks()[domain.name] else None


def model_task(model: ResolvedModel, domain: Domain, tasks: list[str], catalog: Catalog) -> str:
    """What a model does: its fine-tuned task, else its card's first task the domain serves (`tasks`), else
    what its checkpoint's head does (the domain's `task_of`), else the domain's first task."""
    if (model.info or {}).get("task"):
        return model.info["task"]
    card_id = catalog.canonical(model.name)
    served = [task for task in (catalog.entries[card_id]["tasks"] if card_id else []) if task in tasks]
    if served:
        return served[0]
    task = domain.task_of(model.path) if domain.task_of is not None else None
    return task if task in tasks else tasks[0]
