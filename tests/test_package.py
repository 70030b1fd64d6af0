"""The wheel users install carries the core, the first-party plugins and every card."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import ROOT


def test_wheel_ships_every_card_and_registers_the_plugins(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for part in ("src", "plugins", "zoo"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("zoo_models-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    cards = sorted((ROOT / "zoo").rglob("*.yaml"))
    assert len(cards) >= 14
    for card in cards:
        assert f"zoo_cards/{card.relative_to(ROOT / 'zoo').as_posix()}" in names
    for package in ("zoo_core/__init__.py", "zoo_core/cli/app.py", "zoo_nlp/__init__.py", "zoo_cv/__init__.py", "zoo_multimodal/__init__.py"):
        assert package in names
    [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "zoo = zoo_core.cli.app:main" in text
    assert "[zoo]" in text and "nlp = zoo_nlp" in text and "cv = zoo_cv" in text
