"""An example third-party zoo plugin.

It adds the BitFit adaptation method (Ben Zaken et al., 2021: train only the
bias terms and the task head) and a `zoo licenses` command that summarises the
catalog by licence.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import typer

from zoo_core import Method, hookimpl

HEAD_NAMES = ("classifier", "score", "head", "fc")


def train_biases_only(model: Any, options: dict[str, Any]) -> Any:
    """Freeze every weight except biases and the parameters of the task head."""
    heads = tuple(options.get("head_names", HEAD_NAMES))
    for name, parameter in model.named_parameters():
        in_head = any(part in heads for part in name.split("."))
        parameter.requires_grad = name.endswith("bias") or in_head
    return model


@hookimpl
def zoo_methods():
    yield Method(
        name="bitfit",
        summary="Train only the bias terms and the task head (BitFit)",
        prepare=train_biases_only,
    )


@hookimpl
def zoo_commands(app):
    @app.command()
    def licenses(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Count the catalog's models per licence."""
        counts = Counter(entry["license"] for entry in ctx.obj.catalog.entries.values())
        if as_json:
            print(json.dumps(dict(counts.most_common())))
            return
        for license_name, count in counts.most_common():
            print(f"{license_name:<20} {count}")
