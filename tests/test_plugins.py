"""`zoo plugins` and plugin loading, as installed packages."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import assert_one_line_error, zoo


def plugins_json(env: dict[str, str] | None = None) -> dict[str, dict]:
    return {info["name"]: info for info in json.loads(zoo("plugins", "--json", env=env).stdout)}


def test_first_party_plugins_load_through_entry_points() -> None:
    infos = plugins_json()
    for name in ("nlp", "cv", "multimodal"):
        info = infos[name]
        assert info["distribution"] == "zoo-models" and info["version"]
        assert info["hooks"] == ["zoo_catalogs", "zoo_domains"]
        assert info["provides"]["domains"] == [name]
        assert info["error"] is None
    table = zoo("plugins").stdout
    assert "zoo-models" in table and "domains: nlp" in table


def test_zoo_load_plugins_narrows_loading() -> None:
    env = {"ZOO_LOAD_PLUGINS": "nlp"}
    assert list(plugins_json(env)) == ["nlp"]
    cards = json.loads(zoo("list", "--json", env=env).stdout)
    assert {card["domain"] for card in cards} == {"nlp"}


def test_zoo_load_plugins_naming_a_missing_plugin() -> None:
    result = zoo("list", env={"ZOO_LOAD_PLUGINS": "nlp,speech"}, check=False)
    assert_one_line_error(result, "ZOO_LOAD_PLUGINS names speech, which is not installed", "installed plugins are")


def install_broken_plugin(site: Path) -> None:
    """An installed distribution whose plugin module fails to import."""
    info = site / "zoo_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[zoo]\nbroken = zoo_broken\n")
    (site / "zoo_broken.py").write_text("import a_module_that_is_not_installed\n")


def test_a_plugin_that_fails_to_import_is_reported_and_the_cli_works(tmp_path: Path) -> None:
    install_broken_plugin(tmp_path)
    env = {"PYTHONPATH": str(tmp_path)}
    broken = plugins_json(env)["broken"]
    assert broken["distribution"] == "zoo-broken"
    assert broken["error"] == "import failed: ModuleNotFoundError: No module named 'a_module_that_is_not_installed'"
    assert "import failed" in zoo("plugins", env=env).stdout
    assert "bert-base-uncased" in zoo("list", env=env).stdout
