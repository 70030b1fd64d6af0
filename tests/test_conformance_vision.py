"""The conformance suite (zoo_core.testing) on zoo's image and image-text tasks: train, eval, predict, export, predict on the export, bench."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_tasks import run_case

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


@pytest.mark.parametrize("name", ["cv/image-classification", "multimodal/image-text-retrieval", "multimodal/zero-shot-image-classification"])
def test_task_conforms(name: str, tmp_path: Path) -> None:
    run_case(name, tmp_path)


def test_every_registered_task_has_a_conformance_case() -> None:
    import test_conformance_encoders
    import test_conformance_generators
    from conformance_tasks import CASES

    from zoo_core.plugins import load_plugins

    registered = {f"{domain}/{task}" for domain, tasks in load_plugins().tasks().items() for task in tasks}
    covered = set()
    for module in (test_conformance_encoders, test_conformance_generators, __import__(__name__)):
        covered |= {value for mark in module.test_task_conforms.pytestmark for value in mark.args[1]}
    assert registered == set(CASES) == covered
