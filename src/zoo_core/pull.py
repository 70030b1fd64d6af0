"""`zoo pull`: turn a catalog name, URI or path into a verified model in the store.

The card's sources are tried in order; the first that delivers files whose
digests match its pins wins. A file lock per model makes parallel pulls of one
model download it once; offline mode never touches the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.errors import IntegrityError, NotInStoreError, PullError, ZooError
from zoo_core.plugins import Plugins
from zoo_core.disk import disk_full, ensure_writable, out_of_space
from zoo_core.names import check_name
from zoo_core.store import CARD_COPY, Manifest, Store, build_manifest, folder_size

URI = re.compile(r"^([a-z][a-z0-9+.-]*)://")


@dataclass(frozen=True)
class Candidate:
    uri: str
    revision: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PullPlan:
    """What to pull, under which name, from which sources in order."""

    name: str
    candidates: list[Candidate]
    requested_revision: str | None = None
    license: str | None = None
    card: str | None = None
    card_fields: dict | None = None  # the whole card, kept beside the weights as zoo-card.json


def _split_revision(target: str) -> tuple[str, str | None]:
    name, at, revision = target.rpartition("@")
    return (name, revision) if at and name and "/" not in revision else (target, None)


def plan_pull(target: str, catalog: Catalog, name: str | None = None) -> PullPlan:
    """Resolve `bert-base-uncased[@REV]`, `hf://org/model[@REV]`, `https://...`, `pypi://...` or a path."""
    if URI.match(target):
        uri, _, fragment = target.partition("#")
        pins = {}
        if fragment.startswith("sha256="):  # pip's convention for pinning a URL
            pins[uri.rstrip("/").rsplit("/", 1)[-1]] = fragment.removeprefix("sha256=")
        elif fragment:
            uri = target
        head, _, last = uri.rstrip("/").rpartition("/")
        revision = None
        if "@" in last:  # SCHEME://.../NAME@REV: every source gets the revision as an argument, as catalog names do
            last, _, revision = last.partition("@")
            uri = f"{head}/{last}"
        stem = uri.split("://", 1)[1].split("==")[0].rstrip("/").rsplit("/", 1)[-1]
        derived = stem.split(".")[0] if uri.startswith(("http://", "https://")) else stem
        return PullPlan(name=check_name(name or derived, example="--name my-model"), candidates=[Candidate(uri, revision or None, pins)], requested_revision=revision or None)
    path = Path(target).expanduser()
    if target.startswith((".", "/", "~")) and not path.exists():
        raise ZooError(f"{path} does not exist", "give the path of a checkpoint folder or file, or a name from `zoo list`")
    if path.exists():
        return PullPlan(name=check_name(name or path.resolve().name, example="--name my-model"), candidates=[Candidate(f"file://{path.resolve()}")])
    card_name, revision = _split_revision(target)
    card = catalog.get(card_name)
    candidates = [
        Candidate(spec.uri, revision if revision and spec.uri.startswith("hf://") else spec.revision, dict(spec.sha256))
        for spec in card.sources
    ]
    return PullPlan(check_name(name or card.id, example="--name my-model"), candidates, revision, card.license, card.id, card.model_dump(mode="json"))


@dataclass
class PullResult:
    manifest: Manifest
    downloaded: bool
    path: Path


def _staging_key(candidate: Candidate) -> str:
    return hashlib.sha256(f"{candidate.uri}@{candidate.revision}".encode()).hexdigest()[:16]


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"


def _fetch(plan: PullPlan, candidate: Candidate, plugins: Plugins, store: Store) -> tuple[Path, Manifest]:
    """One source into its own staging folder, verified; bad bytes are never kept, not even to resume."""
    source = plugins.lookup("source", URI.match(candidate.uri).group(1))
    staged = store.staging / plan.name / _staging_key(candidate)
    staged.mkdir(parents=True, exist_ok=True)
    try:
        resolved = source.fetch(candidate.uri, staged, candidate.revision)
        manifest = build_manifest(
            staged,
            candidate.sha256,
            name=plan.name,
            source=candidate.uri,
            revision=resolved,
            requested_revision=plan.requested_revision or candidate.revision,
            license=plan.license,
            card=plan.card,
        )
    except IntegrityError:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged, manifest


def pull(
    plan: PullPlan,
    plugins: Plugins,
    store: Store | None = None,
    force: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> PullResult:
    """Pull under a per-model lock; a model already present is not fetched again.

    `report` hears about each source that failed before the next is tried.
    """
    from filelock import FileLock

    store = store or Store()
    present = store.manifest(plan.name)
    if present and not force and plan.requested_revision in (None, present.requested_revision, present.revision):
        return PullResult(present, False, store.path(plan.name))  # no lock needed: works in a read-only home
    ensure_writable(store.home)
    store.locks.mkdir(parents=True, exist_ok=True)
    with FileLock(store.locks / f"{plan.name}.lock"):
        present = store.manifest(plan.name)
        if present and not force and plan.requested_revision in (None, present.requested_revision, present.revision):
            return PullResult(present, False, store.path(plan.name))
        if settings.offline():
            raise NotInStoreError(
                f"{plan.name}{'@' + plan.requested_revision if plan.requested_revision else ''} is not in the store and offline mode forbids downloading",
                "pull it once with network access, or unset ZOO_OFFLINE / HF_HUB_OFFLINE",
            )
        failures = []
        for number, candidate in enumerate(plan.candidates, start=1):
            try:
                staged, manifest = _fetch(plan, candidate, plugins, store)
            except Exception as exc:  # any source failing is a reason to try the next one
                if out_of_space(exc):  # another source would fill the same disk
                    written = folder_size(store.staging / plan.name) if (store.staging / plan.name).exists() else 0
                    shutil.rmtree(store.staging / plan.name, ignore_errors=True)
                    raise disk_full(store.home, max(written, 4 * int((plan.card_fields or {}).get("parameters") or 0))) from None
                failures.append(f"{candidate.uri}: {_describe(exc)}")
                if number < len(plan.candidates):
                    report(failures[-1])
                continue
            manifest.write(staged)
            if plan.card_fields:
                (staged / CARD_COPY).write_text(json.dumps(plan.card_fields, indent=2))
            path = store.commit(plan.name, staged)
            shutil.rmtree(store.staging / plan.name, ignore_errors=True)
            return PullResult(manifest, True, path)
        with contextlib.suppress(OSError):  # keep only what a later pull can resume
            (store.staging / plan.name).rmdir()
        if len(failures) == 1:
            raise PullError(f"could not pull {plan.name} from {failures[0]}")
        raise PullError(f"could not pull {plan.name}; every source failed:\n" + "\n".join(f"  {line}" for line in failures))
