"""The model store under `ZOO_HOME/models`: a model is fully there or absent.

A pull stages files under `ZOO_HOME/staging/<name>/`, verifies them, writes a
manifest and renames the folder into `models/<name>`. Staging survives a crash,
so the next pull resumes; a model folder without its manifest never exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zoo_core import settings
from zoo_core.errors import IntegrityError, NotInStoreError, PickleRefusedError, RemoteCodeRefusedError
from zoo_core.names import check_name

MANIFEST = "zoo-manifest.json"
CARD_COPY = "zoo-card.json"  # the card a model was pulled by, for folders whose files do not say how to build it
LEFTOVER = re.compile(r"\..+\.(partial|retired)-\d+")  # what replace_folder and exports stage beside their target
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
CHUNK = 1 << 20


@dataclass
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    """What `models/<name>/zoo-manifest.json` records about a pulled model."""

    name: str
    source: str
    revision: str | None
    requested_revision: str | None
    files: list[FileEntry]
    license: str | None = None
    card: str | None = None
    pickle: bool = False
    pulled_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.files)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        data["files"] = [FileEntry(**entry) for entry in data["files"]]
        return cls(**data)

    def write(self, folder: Path) -> None:
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, folder / MANIFEST)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_relative(name: str) -> str:
    """A path from a server or an archive, refused if it could land outside its folder."""
    normalised = name.replace("\\", "/")
    parts = normalised.split("/")
    if normalised.startswith("/") or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts or not name:
        raise IntegrityError(f"refused the file name '{name}': it points outside the model folder", "the source is broken or hostile; use another")
    return "/".join(part for part in parts if part not in ("", "."))


def scan_files(folder: Path) -> list[Path]:
    """Every file under `folder`, refusing symlinks that lead out of it."""
    root = folder.resolve()
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                raise IntegrityError(f"refused {path.relative_to(folder)}: a symlink to {target}, outside the model folder", "the source is broken or hostile; use another")
        if path.is_file():
            found.append(path)
    return found


def build_manifest(folder: Path, pins: dict[str, str], **fields) -> Manifest:
    """Digest every file, check the card's pins, and note pickle-only weights."""
    entries = []
    for path in scan_files(folder):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST:
            continue
        entries.append(FileEntry(relative, path.stat().st_size, sha256_of(path)))
    digests = {entry.path: entry.sha256 for entry in entries}
    for relative, expected in pins.items():
        if relative not in digests:
            raise IntegrityError(f"the pinned file {relative} was not downloaded", "the source no longer has it; use another source")
        if digests[relative] != expected:
            raise IntegrityError(f"sha256 mismatch for {relative}: expected {expected[:12]}..., got {digests[relative][:12]}...", "the download is corrupt or the file changed upstream")
    names = [entry.path for entry in entries]
    has_pickle = any(name.endswith(PICKLE_SUFFIXES) for name in names)
    has_safetensors = any(name.endswith(".safetensors") for name in names)
    return Manifest(files=entries, pickle=has_pickle and not has_safetensors, **fields)


class Store:
    """Pulled models under `ZOO_HOME`."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or settings.zoo_home()
        self.models = self.home / "models"
        self.staging = self.home / "staging"
        self.locks = self.home / "locks"

    def path(self, name: str) -> Path:
        return self.models / check_name(name)  # names become folder names: the rule keeps them inside

    def manifest(self, name: str) -> Manifest | None:
        path = self.path(name) / MANIFEST
        return Manifest.read(path) if path.is_file() else None

    def require(self, name: str) -> Manifest:
        manifest = self.manifest(name)
        if manifest is None:
            raise NotInStoreError(f"{name} is not in the store", f"run `zoo pull {name}` first (`zoo list --local` shows what is there)")
        return manifest

    def installed(self) -> list[Manifest]:
        if not self.models.is_dir():
            return []
        folders = [path for path in sorted(self.models.iterdir()) if not path.name.startswith(".")]  # dot: being replaced
        return [Manifest.read(path / MANIFEST) for path in folders if (path / MANIFEST).is_file()]

    def commit(self, name: str, staged: Path) -> Path:
        """Move a verified folder into place in one rename; an older copy is replaced whole."""
        self.models.mkdir(parents=True, exist_ok=True)
        return replace_folder(staged, self.path(name))

    def remove(self, name: str) -> int:
        """Delete a model; returns the bytes freed."""
        manifest = self.require(name)
        retired = self.staging / f".removed-{name}-{os.getpid()}"
        self.staging.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(name), retired)  # gone from the store at once, even if deleting is slow
        shutil.rmtree(retired)
        return manifest.size

    def verify(self, name: str) -> list[str]:
        """Recompute every digest; the problems found, one per file (empty when intact)."""
        manifest = self.require(name)
        folder = self.path(name)
        problems = []
        for entry in manifest.files:
            path = folder / entry.path
            if not path.is_file():
                problems.append(f"{entry.path}: missing")
            elif path.stat().st_size != entry.size:
                problems.append(f"{entry.path}: size {path.stat().st_size}, expected {entry.size}")
            elif sha256_of(path) != entry.sha256:
                problems.append(f"{entry.path}: sha256 differs from the manifest")
        return problems

    def partial_downloads(self) -> list[tuple[Path, int]]:
        """Staged folders left by interrupted pulls, with their sizes."""
        if not self.staging.is_dir():
            return []
        return [(path, folder_size(path)) for path in sorted(self.staging.iterdir())]

    def partial_folders(self) -> list[tuple[Path, int]]:
        """Hidden folders that interrupted exports and replacements left (`.NAME.partial-PID`), whose process is gone."""
        found = []
        for parent in (self.home / "exports", self.models):
            if parent.is_dir():
                found += [(path, folder_size(path)) for path in sorted(parent.glob(".*-[0-9]*")) if path.is_dir() and LEFTOVER.fullmatch(path.name) and not _alive(int(path.name.rsplit("-", 1)[1]))]
        return found

    def prune(self) -> int:
        """Delete what interrupted pulls and exports left, skipping work running now; returns the bytes freed."""
        from filelock import FileLock, Timeout

        freed = 0
        for path, size in self.partial_downloads():
            try:
                with FileLock(self.locks / f"{path.name}.lock", timeout=0):
                    shutil.rmtree(path, ignore_errors=True)
            except Timeout:
                continue
            freed += size
        for path, size in self.partial_folders():
            shutil.rmtree(path, ignore_errors=True)
            freed += size
        return freed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def replace_folder(staged: Path, target: Path) -> Path:
    """Rename `staged` to `target`; an existing `target` is moved aside first and deleted after."""
    if target.exists():
        retired = target.parent / f".{target.name}.retired-{os.getpid()}"
        os.replace(target, retired)
        os.replace(staged, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staged, target)
    return target


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def only_pickle(folder: Path) -> bool:
    """A folder whose weights are pickle files only (a safetensors copy makes the pickle ones unused)."""
    names = [path.name for path in folder.rglob("*") if path.is_file()]
    return any(name.endswith(PICKLE_SUFFIXES) for name in names) and not any(name.endswith(".safetensors") for name in names)


def _config(folder: Path) -> dict:
    """The folder's config.json, or nothing where it is missing or unreadable (loading it will say why)."""
    try:
        loaded = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def ensure_folder_loadable(folder: Path, name: str, allow_pickle: bool) -> None:
    """The store's rules for any folder: pickle needs consent, and so does the checkpoint's own code."""
    if only_pickle(folder) and not allow_pickle:
        raise PickleRefusedError(f"{name} has only pickle weights, which can run arbitrary code when loaded", "pass --allow-pickle if you trust its source")
    if not settings.trust_remote_code() and _config(folder).get("auto_map"):
        raise RemoteCodeRefusedError(
            f"{name} needs its own Python code to load (auto_map in its config.json), which would run on your machine",
            "pass --trust-remote-code if you trust its source",
        )


@contextmanager
def refused_pickle(name: str) -> Iterator[None]:
    """torch's weights-only loader stopping a pickle becomes one line, not a traceback."""
    import pickle

    try:
        yield
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else "not a plain state dict")
        raise PickleRefusedError(
            f"torch's safe loader refused the pickle weights of {name}: {reason[:200]}",
            "the file holds more than tensors; use safetensors weights, or a checkpoint saved as a plain state dict",
        ) from None


def ensure_loadable(manifest: Manifest, allow_pickle: bool) -> None:
    """Pickle checkpoints can run code when loaded: only with the user's explicit consent."""
    if manifest.pickle and not allow_pickle:
        raise PickleRefusedError(
            f"{manifest.name} has only pickle weights, which can run arbitrary code when loaded",
            "pass --allow-pickle if you trust its source",
        )
