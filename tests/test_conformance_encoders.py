"""The conformance suite (zoo_core.testing) on zoo's text encoders' tasks: train, eval, predict, export, predict on the export, bench."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_tasks import run_case

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


@pytest.mark.parametrize("name", ["nlp/text-classification", "nlp/token-classification", "nlp/question-answering", "nlp/fill-mask"])
def test_task_conforms(name: str, tmp_path: Path) -> None:
    run_case(name, tmp_path)
