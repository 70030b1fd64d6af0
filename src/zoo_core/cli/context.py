"""What the commands share: the loaded plugins and, built on first use, the catalog."""

from __future__ import annotations

from functools import cached_property

from zoo_core.catalog import Catalog, load_catalog
from zoo_core.plugins import Plugins


class Context:
    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins

    @cached_property
    def catalog(self) -> Catalog:
        catalog = load_catalog(self.plugins.catalog_folders)
        self.plugins.note_left_out_cards(catalog.left_out)
        return catalog
