"""`zoo --help`, `zoo list` and `zoo plugins` must not import the ML stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "mlflow", "onnxruntime", "datasets", "peft", "pydantic")

PROBE = """
import sys
from zoo_core.cli.app import main
sys.argv = ["zoo", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
print("HEAVY:", ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["list"], ["plugins"]], ids=" ".join)
def test_start_up_imports_no_ml_library(args: list[str]) -> None:
    # The first `zoo list` validates the cards (pydantic) and caches them; the check is on the second.
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, check=True)
    imported = result.stderr.strip().splitlines()[-1].removeprefix("HEAVY:").strip()
    assert imported == "", f"zoo {' '.join(args)} imported {imported}"


def test_the_ml_stack_is_installed_so_the_check_means_something() -> None:
    import importlib.util

    assert all(importlib.util.find_spec(name) for name in HEAVY)
