"""Loading plugins from the `zoo` entry-point group and merging what they yield.

First-party plugins are registered through the same entry points as any
third-party package, so this module never names one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from zoo_core import hookspecs, settings
from zoo_core.errors import PluginConflictError, PluginError, RecipeError
from zoo_core.types import Domain, Exporter, Method, Source, TaskAdapter

ENTRY_POINT_GROUP = "zoo"


@dataclass
class PluginInfo:
    """What `zoo plugins` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class Plugins:
    """The plugin manager plus the registries built from its hooks.

    A plugin that fails to import, names a hook that does not exist, or raises
    inside a hook is recorded in its `PluginInfo.error` and left out; the rest work.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, dict[str, Any]] = {}

    def register(self, plugin: ModuleType | object, name: str, info: PluginInfo | None = None) -> None:
        """Register one plugin; a misspelt hook name makes it fail, not the others."""
        info = info or PluginInfo(name=name, module=getattr(plugin, "__name__", type(plugin).__name__))
        self.infos[name] = info
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=name)
            info.error = _misspelt_hook_hint(str(exc))
            return
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

    def sources(self) -> dict[str, Source]:
        return self._registry("zoo_sources", "scheme", "source", Source)

    def domains(self) -> dict[str, Domain]:
        return self._registry("zoo_domains", "name", "domain", Domain)

    def methods(self) -> dict[str, Method]:
        return self._registry("zoo_methods", "name", "method", Method)

    def exporters(self) -> dict[str, Exporter]:
        return self._registry("zoo_exporters", "format", "exporter", Exporter)

    def lookup(self, kind: str, name: str) -> Any:
        """The `kind` (source, domain, method, exporter) called `name`, or an error that lists
        what exists and names any plugin that failed to load."""
        registry = {"source": self.sources, "domain": self.domains, "method": self.methods, "exporter": self.exporters}[kind]()
        if name in registry:
            return registry[name]
        known = ", ".join(sorted(registry)) or "none"
        broken = self.broken()
        if not broken:
            raise PluginError(f"unknown {kind} '{name}'", f"{kind}s are {known} (plugins add more: zoo plugins)")
        blamed = "; ".join(f"plugin '{info.name}' did not load ({(info.error or '').splitlines()[0]})" for info in broken)
        raise PluginError(f"unknown {kind} '{name}', and {blamed}, so it may be the one that provides it", f"fix or uninstall it (zoo plugins shows every plugin), or use one of: {known}")

    def task_adapter(self, domain: str | None, task: str | None, ref: str) -> tuple[str, TaskAdapter]:
        """The task (default: the domain's first) and its adapter, for a model of `domain`."""
        if domain is None:
            raise RecipeError(f"zoo cannot tell which domain {ref} belongs to", f"pass --domain NAME (domains: {', '.join(sorted(self.domains())) or 'none'})")
        found = self.lookup("domain", domain)
        if found.adapter is None:
            raise RecipeError(f"the {domain} domain (plugin '{self.owner('domain', domain)}') cannot train or run models", "install a plugin whose domain has an adapter")
        task = task or found.tasks[0]
        return task, found.adapter(task)

    def owner(self, kind: str, name: str) -> str | None:
        """The plugin that provides `name` (a method, source, domain, exporter)."""
        return next((info.name for info in self.infos.values() if name in info.provides.get(kind + "s", ())), None)

    def broken(self) -> list[PluginInfo]:
        """Plugins that failed to import or whose hooks failed, for error messages."""
        return [info for info in self.infos.values() if info.error]

    @cached_property
    def catalog_folders(self) -> list[Path]:
        """Card folders shipped by plugins, in registration order."""
        folders: list[Path] = []
        for plugin_name, result in self._call_each("zoo_catalogs"):
            if not all(isinstance(folder, (str, Path)) for folder in result):
                self.infos[plugin_name].error = "zoo_catalogs yielded something that is not a folder path"
                continue
            found = [Path(folder) for folder in result]
            self.infos[plugin_name].provides["catalogs"] = [str(folder) for folder in found]
            folders.extend(found)
        return folders

    def add_commands(self, app: Any) -> None:
        """Let every plugin add its commands to the Typer app."""
        for impl in self._impls("zoo_commands"):
            before = {command.name or command.callback.__name__ for command in app.registered_commands}
            try:
                impl.function(app=app)
            except Exception as exc:  # a broken plugin must not take the CLI down
                self._fail(impl.plugin_name, "zoo_commands", exc)
                continue
            after = {command.name or command.callback.__name__ for command in app.registered_commands}
            self.infos[impl.plugin_name].provides["commands"] = sorted(after - before)

    def describe(self) -> list[PluginInfo]:
        """Every plugin with what it provides, for `zoo plugins`; a conflict is shown, not raised."""
        for build in (self.sources, self.domains, self.methods, self.exporters):
            try:
                build()
            except PluginConflictError as exc:
                for name in exc.plugins:
                    self.infos[name].error = exc.problem
        self.catalog_folders
        return sorted(self.infos.values(), key=lambda info: info.name)

    def _registry(self, hook_name: str, key: str, kind: str, expected: type) -> dict[str, Any]:
        if hook_name in self._registries:
            return self._registries[hook_name]
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin_name, result in self._call_each(hook_name):
            problem = next(filter(None, (_descriptor_problem(item, expected, key) for item in result)), None)
            if problem is not None:  # the plugin is left out; the others work
                self.infos[plugin_name].error = f"{hook_name} yielded {problem}"
                continue
            names = []
            for item in result:
                name = getattr(item, key)
                if name in found:
                    conflict = PluginConflictError(
                        f"{kind} '{name}' is provided by both plugin '{owners[name]}' and plugin '{plugin_name}'",
                        "uninstall one of them, or leave one out with ZOO_LOAD_PLUGINS",
                    )
                    conflict.plugins = (owners[name], plugin_name)
                    raise conflict
                found[name], owners[name] = item, plugin_name
                names.append(name)
            self.infos[plugin_name].provides[kind + "s"] = names
        self._registries[hook_name] = found
        return found

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        # pluggy calls the last registered first; we want registration order.
        return list(getattr(self.pm.hook, hook_name).get_hookimpls())

    def _call_each(self, hook_name: str) -> Iterator[tuple[str, Any]]:
        for impl in self._impls(hook_name):
            try:
                result = list(impl.function() or ())
            except Exception as exc:  # a broken plugin is reported, not fatal
                self._fail(impl.plugin_name, hook_name, exc)
                continue
            yield impl.plugin_name, result

    def _fail(self, plugin_name: str, hook_name: str, exc: Exception) -> None:
        self.infos[plugin_name].error = f"{hook_name} failed: {type(exc).__name__}: {exc}"


# What each descriptor must be able to call; the optional ones may be None (a Method needs prepare or fit).
REQUIRED_CALLABLES = {"Source": ("fetch",), "Domain": (), "Method": (), "Exporter": ("export", "open")}
OPTIONAL_CALLABLES = ("adapter", "log_model", "prepare", "fit")


def _descriptor_problem(item: Any, expected: type, key: str) -> str | None:
    """Why `item` is not a usable `expected` descriptor, or None."""
    if not isinstance(item, expected):
        return f"{type(item).__name__} {str(item)[:40]!r} instead of a zoo_core.{expected.__name__}"
    name = getattr(item, key)
    if not isinstance(name, str) or not name:
        return f"a {expected.__name__} with {key} {name!r}; it needs a non-empty name"
    required = REQUIRED_CALLABLES[expected.__name__]
    broken = [field for field in (*required, *OPTIONAL_CALLABLES) if hasattr(item, field) and not callable(getattr(item, field)) and (field in required or getattr(item, field) is not None)]
    if broken:
        return f"{expected.__name__} '{name}' whose {', '.join(broken)} is not callable"
    if expected is Method and item.prepare is None and item.fit is None:
        return f"Method '{name}' with neither prepare nor fit"
    return None


def _misspelt_hook_hint(message: str) -> str:
    """pluggy's "unknown hook 'zoo_method' in plugin ..." plus the hook that was probably meant."""
    import difflib
    import re

    found = re.search(r"unknown hook '(\w+)'", message)
    hooks = [name for name in dir(hookspecs) if name.startswith("zoo_")]
    close = difflib.get_close_matches(found.group(1), hooks, n=1) if found else []
    return f"{message.splitlines()[0]}; did you mean {close[0]}?" if close else message


def load_plugins(selected: set[str] | None = None) -> Plugins:
    """Load the installed plugins, or those `ZOO_LOAD_PLUGINS` selects (`nlp,cv` keeps
    only these; `-broken` loads all but that one)."""
    selected = settings.selected_plugins() if selected is None else selected
    plugins = Plugins()
    available = entry_points(group=ENTRY_POINT_GROUP)
    installed = {ep.name for ep in available}
    if selected is not None:
        included = {name for name in selected if not name.startswith("-")}
        excluded = {name[1:] for name in selected if name.startswith("-")}
        missing = (included | excluded) - installed
        if missing:
            raise PluginError(
                f"ZOO_LOAD_PLUGINS names {', '.join(sorted(missing))}, which is not installed",
                f"installed plugins are {', '.join(sorted(installed)) or 'none'}",
            )
        selected = (included or installed) - excluded
    for ep in available:
        if selected is not None and ep.name not in selected:
            continue
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=ep.dist.name if ep.dist else None,
            version=ep.dist.version if ep.dist else None,
        )
        try:
            module = ep.load()
        except Exception as exc:  # reported by `zoo plugins`; the rest of the CLI works
            info.error = f"import failed: {type(exc).__name__}: {exc}"
            plugins.infos[ep.name] = info
            continue
        plugins.register(module, ep.name, info)
    return plugins
