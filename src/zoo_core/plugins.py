"""Loading plugins from the `zoo` entry-point group and merging what they yield.

First-party plugins are registered through the same entry points as any
third-party package, so this module never names one of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from zoo_core import hookspecs, settings
from zoo_core.errors import PluginError, RecipeError, ZooError
from zoo_core.guard import blame, plugin_errors
from zoo_core.adapters import TaskAdapter
from zoo_core.types import Domain, Exporter, Method, Source, Task

ENTRY_POINT_GROUP = "zoo"
_OWN_DISTRIBUTION = "zoo-models"
SLOW_IMPORT_SECONDS = 0.2  # every zoo call imports every plugin: past this, `zoo plugins` warns


@dataclass
class PluginInfo:
    """What `zoo plugins` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None  # the plugin is left out altogether
    left_out: list[str] = field(default_factory=list)  # items left out because another plugin had the name first
    import_seconds: float | None = None

    @property
    def slow(self) -> bool:
        return (self.import_seconds or 0) > SLOW_IMPORT_SECONDS


class Plugins:
    """The plugin manager plus the registries built from its hooks.

    A plugin that fails to import, names a hook that does not exist, or raises
    inside a hook is recorded in its `PluginInfo.error` and left out; the rest work.
    A name two plugins claim stays with the plugin loaded first; the later plugin's
    item is left out and both plugins' `zoo plugins` rows say so.
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

    def tasks(self) -> dict[str, dict[str, Task]]:
        """Every domain's tasks by name: its own first (the first is its default), then those other
        plugins add with `zoo_tasks`; a (domain, task) two plugins claim stays with the first."""
        if "zoo_tasks" in self._registries:
            return self._registries["zoo_tasks"]
        found: dict[str, dict[str, Task]] = {}
        for name, domain in self.domains().items():
            found[name] = {task: Task(name, task, domain.summary, _domain_adapter(domain, task)) for task in domain.tasks} if domain.adapter else {}
            owner = self.owner("domain", name)
            if owner is not None:
                self.infos[owner].provides.setdefault("tasks", []).extend(f"{name}/{task}" for task in found[name])
        for plugin_name, result in self._call_each("zoo_tasks"):
            problem = next(filter(None, (_descriptor_problem(item, Task, "name") for item in result)), None)
            if problem is not None:
                self.infos[plugin_name].error = f"zoo_tasks yielded {problem}"
                continue
            names = []
            for task in result:
                if task.domain not in found:
                    self.infos[plugin_name].left_out.append(f"task '{task.name}': no plugin provides its domain '{task.domain}'")
                elif self.claim("task", f"{task.domain}/{task.name}", plugin_name):
                    found[task.domain][task.name] = task
                    names.append(f"{task.domain}/{task.name}")
            self.infos[plugin_name].provides.setdefault("tasks", []).extend(names)
        self._registries["zoo_tasks"] = found
        return found

    def task_adapter(self, domain: str | None, task: str | None, ref: str) -> tuple[str, TaskAdapter]:
        """The task (default: the domain's first) and its adapter, for a model of `domain`."""
        if domain is None:
            raise RecipeError(f"zoo cannot tell which domain {ref} belongs to", f"pass --domain NAME (domains: {', '.join(sorted(self.domains())) or 'none'})")
        self.lookup("domain", domain)
        served = self.tasks()[domain]
        if not served:
            raise RecipeError(f"the {domain} domain (plugin '{self.owner('domain', domain)}') has no tasks to train or run", "install a plugin that adds tasks to it (zoo plugins shows what is installed)")
        task = task or next(iter(served))
        if task not in served:
            raise RecipeError(f"the {domain} domain has no task '{task}'", f"pass --task with one of: {', '.join(served)}")
        with plugin_errors(blame("task", f"{domain}/{task}", self.owner("task", f"{domain}/{task}")), "adapter"):
            return task, served[task].adapter()

    def blamed(self, kind: str, name: str) -> str:
        """How a message names an item and its plugin: `task 'nlp/fill-mask' (plugin 'nlp')`."""
        return blame(kind, name, self.owner(kind, name))

    def guarded(self, kind: str, name: str, step: str) -> Any:
        """A context in which what the item's plugin code raises becomes one line naming the plugin."""
        return plugin_errors(self.blamed(kind, name), step)

    def owner(self, kind: str, name: str) -> str | None:
        """The plugin that provides `name` (a method, source, domain, exporter)."""
        return next((info.name for info in self.infos.values() if name in info.provides.get(kind + "s", ())), None)

    def broken(self) -> list[PluginInfo]:
        """Plugins that failed to import or whose hooks failed, for error messages."""
        return [info for info in self.infos.values() if info.error]

    @cached_property
    def catalog_folders(self) -> dict[Path, str]:
        """Card folders shipped by plugins, in registration order, with the plugin that ships each."""
        folders: dict[Path, str] = {}
        for plugin_name, result in self._call_each("zoo_catalogs"):
            if not all(isinstance(folder, (str, Path)) for folder in result):
                self.infos[plugin_name].error = "zoo_catalogs yielded something that is not a folder path"
                continue
            found = [Path(folder) for folder in result]
            self.infos[plugin_name].provides["catalogs"] = [str(folder) for folder in found]
            folders.update((folder, plugin_name) for folder in found if folder not in folders)
        return folders

    def note_left_out_cards(self, left_out: list[dict[str, str]]) -> None:
        """Record the cards the catalog left out (their id was taken), for `zoo plugins`."""
        for clash in left_out:
            holder = f"plugin '{clash['kept_by']}'" if clash["kept_by"] in self.infos else clash["kept_by"]
            if clash["plugin"] in self.infos:
                self.infos[clash["plugin"]].left_out.append(f"card '{clash['card']}': {holder} provides it")
            if clash["kept_by"] in self.infos:
                self.infos[clash["kept_by"]].left_out.append(f"kept card '{clash['card']}'; plugin '{clash['plugin']}' also provides it and was left out")

    def add_commands(self, app: Any) -> None:
        """Let every plugin add its commands to the Typer app. A command that takes a built-in or an
        earlier plugin's name, or that Typer cannot build, is left out and shown by `zoo plugins`;
        what a command raises becomes one line naming its plugin."""
        from zoo_core.commands import buildable, guarded

        builtin = {_command_name(command) for command in app.registered_commands} | {group.name for group in app.registered_groups}
        for impl in self._impls("zoo_commands"):
            commands, groups = len(app.registered_commands), len(app.registered_groups)
            try:
                impl.function(app=app)
            except Exception as exc:  # a broken plugin must not take the CLI down
                self._fail(impl.plugin_name, "zoo_commands", exc)
                del app.registered_commands[commands:], app.registered_groups[groups:]
                continue
            added, kept = app.registered_commands[commands:], []
            for command in added:
                name = _command_name(command)
                problem = buildable(command)
                if name in builtin:
                    self.infos[impl.plugin_name].left_out.append(f"command '{name}': a built-in command of zoo has that name")
                elif problem is not None:
                    self.infos[impl.plugin_name].left_out.append(f"command '{name}': Typer cannot build it ({problem})")
                elif self.claim("command", name, impl.plugin_name):
                    kept.append(guarded(command, impl.plugin_name))
                    self.infos[impl.plugin_name].provides.setdefault("commands", []).append(name)
            app.registered_commands[commands:] = kept
            for group in app.registered_groups[groups:]:
                if group.name in builtin:
                    self.infos[impl.plugin_name].left_out.append(f"command '{group.name}': a built-in command of zoo has that name")
                    app.registered_groups.remove(group)

    def describe(self) -> list[PluginInfo]:
        """Every plugin with what it provides, for `zoo plugins`; a conflict is shown, not raised."""
        for build in (self.sources, self.domains, self.methods, self.exporters, self.tasks):
            build()
        self.catalog_folders
        return sorted(self.infos.values(), key=lambda info: info.name)

    def _registry(self, hook_name: str, key: str, kind: str, expected: type) -> dict[str, Any]:
        if hook_name in self._registries:
            return self._registries[hook_name]
        found: dict[str, Any] = {}
        for plugin_name, result in self._call_each(hook_name):
            problem = next(filter(None, (_descriptor_problem(item, expected, key) for item in result)), None)
            if problem is not None:  # the plugin is left out; the others work
                self.infos[plugin_name].error = f"{hook_name} yielded {problem}"
                continue
            names = []
            for item in result:
                if self.claim(kind, getattr(item, key), plugin_name):
                    found[getattr(item, key)] = item
                    names.append(getattr(item, key))
            self.infos[plugin_name].provides[kind + "s"] = names
        self._registries[hook_name] = found
        return found

    def claim(self, kind: str, name: str, plugin_name: str) -> bool:
        """Whether `plugin_name` may provide the `kind` called `name`: no when another plugin already
        does; then both sides record the clash for `zoo plugins`."""
        holder = self.owner(kind, name)
        if holder is None or holder == plugin_name:
            return True
        self.infos[plugin_name].left_out.append(f"{kind} '{name}': plugin '{holder}' provides it")
        if holder in self.infos:
            self.infos[holder].left_out.append(f"kept {kind} '{name}'; plugin '{plugin_name}' also provides it and was left out")
        return False

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


def _domain_adapter(domain: Domain, task: str) -> Any:
    """A domain's own task as a `Task.adapter`: its `adapter(task)`, called when needed."""
    return lambda: domain.adapter(task)


def _command_name(command: Any) -> str:
    """The name Typer gives a registered command: its own, or the function's with dashes."""
    return command.name or command.callback.__name__.replace("_", "-")


# What each descriptor must be able to call; the optional ones may be None (a Method needs prepare or fit).
REQUIRED_CALLABLES = {"Source": ("fetch",), "Domain": (), "Method": (), "Exporter": ("export", "open"), "Task": ("adapter",)}
OPTIONAL_CALLABLES = ("adapter", "log_model", "prepare", "fit", "options", "lr_for", "objective", "task_of", "recognizes")


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


def _load_order(ep: Any) -> tuple[bool, str]:
    """zoo's own plugins first (every plugin's distribution depends on zoo's), then by distribution
    name, each distribution's in the order it lists them: a newly installed plugin never takes a
    name from what was there before it, whatever the order of sys.path."""
    distribution = ep.dist.name if ep.dist else ""
    return distribution != _OWN_DISTRIBUTION, distribution


def load_plugins(selected: set[str] | None = None) -> Plugins:
    """Load the installed plugins, or those `ZOO_LOAD_PLUGINS` selects (`nlp,cv` keeps
    only these; `-broken` loads all but that one)."""
    selected = settings.selected_plugins() if selected is None else selected
    plugins = Plugins()
    available = sorted(entry_points(group=ENTRY_POINT_GROUP), key=_load_order)
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
        started = time.perf_counter()
        try:
            module = ep.load()
        except Exception as exc:  # reported by `zoo plugins`; the rest of the CLI works
            info.error = f"import failed: {type(exc).__name__}: {exc}"
            plugins.infos[ep.name] = info
            continue
        finally:
            info.import_seconds = time.perf_counter() - started
        plugins.register(module, ep.name, info)
    return plugins
