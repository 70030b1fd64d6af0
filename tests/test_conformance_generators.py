"""The conformance suite (zoo_core.testing) on zoo's generators' tasks: train, eval, predict, export, predict on the export, bench."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_tasks import run_case

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


@pytest.mark.parametrize("name", ["nlp/text-generation", "nlp/text2text-generation", "nlp/translation", "nlp/summarization", "nlp/span-corruption"])
def test_task_conforms(name: str, tmp_path: Path) -> None:
    run_case(name, tmp_path)
