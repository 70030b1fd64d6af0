"""An example third-party zoo plugin.

It adds the BitFit adaptation method (Ben Zaken et al., 2021: train only the
bias terms and the task head), with an option of its own (`-o bias_lr=...`), and
a `zoo licenses` command that summarises the catalog by licence.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import typer

from zoo_core import Method, head_names, hookimpl


def bitfit_options():
    """The method's options, imported when a command needs them (pydantic is slow to import)."""
    from zoo_bitfit.options import BitFitOptions

    return BitFitOptions


def train_biases_only(model: Any, options: dict[str, Any]) -> Any:
    """Freeze every weight except biases and the parameters of the new task head."""
    head = head_names(model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name.endswith("bias") or name in head
    return model


def bias_learning_rate(name: str, options: dict[str, Any]) -> float | None:
    """The bias terms train at `bias_lr` when it is given; the head keeps zoo's head_lr."""
    return options["bias_lr"] if name.endswith("bias") else None


@hookimpl
def zoo_methods():
    yield Method(
        name="bitfit",
        summary="Train only the bias terms and the task head (BitFit)",
        prepare=train_biases_only,
        defaults={"lr": 1e-3, "head_lr": 3e-3},
        options=bitfit_options,
        lr_for=bias_learning_rate,
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
