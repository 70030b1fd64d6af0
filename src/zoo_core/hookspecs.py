"""The hooks a zoo plugin can implement.

A plugin is a module registered under the `zoo` entry-point group whose
functions carry `@zoo_core.hookimpl`. Every hook here is documented with an
example; docs/plugins.md walks through a whole plugin.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pluggy

from zoo_core.types import Domain, Exporter, Method, Source, Task

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def zoo_sources() -> Iterable[Source]:
    """Yield the model sources (URI schemes) this plugin can download from.

    Example::

        @hookimpl
        def zoo_sources():
            yield Source(scheme="s3", summary="Amazon S3 buckets", fetch=fetch_s3)
    """


@hookspec
def zoo_domains() -> Iterable[Domain]:
    """Yield the domains (families of models, data and tasks) this plugin adds.

    Example::

        @hookimpl
        def zoo_domains():
            yield Domain(name="audio", summary="Speech and sound", tasks=("audio-classification",))
    """


@hookspec
def zoo_tasks() -> Iterable[Task]:
    """Yield tasks to add to a domain, any plugin's (a sentence-embedding task for `nlp`, say).

    A task whose (domain, name) another plugin already serves is left out, as is a task
    for a domain no plugin provides; `zoo plugins` says which.

    Example::

        @hookimpl
        def zoo_tasks():
            yield Task(domain="nlp", name="sentence-embedding", summary="Mean-pooled sentence vectors", adapter=_embedding_adapter)
    """


@hookspec
def zoo_methods() -> Iterable[Method]:
    """Yield the adaptation methods this plugin adds.

    Example::

        @hookimpl
        def zoo_methods():
            yield Method(name="bitfit", summary="Train only the biases", prepare=train_biases_only)
    """


@hookspec
def zoo_exporters() -> Iterable[Exporter]:
    """Yield the export formats this plugin adds, each with the runtime that runs its exports.

    `export(model_dir, adapter, out_dir, options)` returns an `ExportReport`;
    `open(export_dir, report, provider, variant, threads)` returns a `Runtime`
    that `zoo predict`, `zoo bench` and `zoo export --data` use.

    Example::

        @hookimpl
        def zoo_exporters():
            yield Exporter(format="torchscript", summary="TorchScript archive", export=to_torchscript, open=TorchScriptRuntime)
    """


@hookspec
def zoo_catalogs() -> Iterable[Path]:
    """Yield folders of catalog cards (YAML) this plugin ships.

    Example::

        @hookimpl
        def zoo_catalogs():
            yield Path(__file__).parent / "cards"
    """


@hookspec
def zoo_commands(app) -> None:
    """Add commands to the `zoo` Typer app.

    Example::

        @hookimpl
        def zoo_commands(app):
            @app.command()
            def hello(name: str):
                print(f"hello {name}")
    """
