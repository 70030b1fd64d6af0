"""Options several commands share, declared once so their names and help read the same everywhere."""

from typing import Annotated

import typer

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AllowPickle = Annotated[bool, typer.Option(help="Allow loading pickle weights.")]
TrustRemoteCode = Annotated[bool, typer.Option(help="Let a checkpoint run its own Python code (auto_map in config.json); only for sources you trust.")]
