"""Every test session gets its own ZOO_HOME (with its MLflow store) and HOME; nothing touches ~."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("zoo-home")
    saved = dict(os.environ)
    os.environ.update(
        HOME=str(home / "user"),
        ZOO_HOME=str(home),
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK="true",
        COLUMNS="200",
    )
    # No MLFLOW_TRACKING_URI: runs land in the default SQLite store under this ZOO_HOME.
    for name in ("ZOO_CATALOG", "ZOO_LOAD_PLUGINS", "ZOO_DEBUG", "ZOO_OFFLINE", "MLFLOW_TRACKING_URI", "HF_HUB_OFFLINE"):
        os.environ.pop(name, None)
    yield home
    os.environ.clear()
    os.environ.update(saved)
