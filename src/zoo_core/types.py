"""The descriptors plugins yield from their hooks.

They are frozen dataclasses holding names and callables, so a plugin module
stays cheap to import: heavy libraries are imported inside the callables, when
a command actually runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Source:
    """Where models come from: one URI scheme (`hf`, `https`, `file`, `pypi`, ...).

    `fetch(uri, dest, revision)` downloads what `uri` names into the folder `dest`
    and returns the revision it resolved (or None when the source has none).
    `dest` keeps what an interrupted attempt left, so a source that can resume
    should. Failures raise `zoo_core.errors.SourceError`; zoo then verifies the
    files, writes the manifest and moves the folder into the store.
    """

    scheme: str
    summary: str
    fetch: Callable[[str, Path, str | None], str | None]


@dataclass(frozen=True)
class Domain:
    """A family of models and data (nlp, cv, multimodal) and the tasks it serves."""

    name: str
    summary: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class Method:
    """A way to adapt a pretrained model (full, freeze, lora, ...).

    `prepare(model, options)` returns the model ready to train: weights frozen or
    adapters added as the method wants. `options` holds the method's settings
    from the recipe or CLI (for example `{"rank": 8}` for LoRA).
    """

    name: str
    summary: str
    prepare: Callable[[Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Exporter:
    """A format a model can be exported to (onnx, ...).

    `export(model_dir, out_dir, options)` writes the exported model into `out_dir`.
    """

    format: str
    summary: str
    export: Callable[[Path, Path, dict[str, Any]], None]
