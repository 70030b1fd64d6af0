"""MLflow: where runs and registered versions live, and the few calls zoo makes.

With no `MLFLOW_TRACKING_URI`, runs go to a SQLite store under `ZOO_HOME` with
artifacts beside it; a team points the variable at its MLflow server instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.disk import ensure_writable
from zoo_core.errors import RefError, ZooError

EXPERIMENT = "zoo"
SERVER_TIMEOUT_S = 10


class TrackingError(ZooError):
    """The MLflow store zoo was pointed at cannot be used."""


def check_port_free(port: int) -> None:
    """`zoo ui` must not announce a URL that another program answers."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a server that just stopped leaves TIME_WAIT, not a listener
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ZooError(f"port {port} on 127.0.0.1 is already in use", f"stop what uses it, or pass --port with a free port, e.g. --port {port + 1}") from None


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{settings.zoo_home() / 'mlflow.db'}"


def uses_default_store() -> bool:
    return not os.environ.get("MLFLOW_TRACKING_URI")


def connect() -> str:
    """Point MLflow at the zoo store and return the `zoo` experiment's id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow.exceptions import MlflowException

    default = uses_default_store()  # before set_tracking_uri, which also sets MLFLOW_TRACKING_URI
    if default:
        ensure_writable(settings.zoo_home())  # SQLite writes beside its database even to read
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return experiment.experiment_id
        # In zoo's own store artifacts live beside it; a server or a store the user named decides for itself.
        artifacts = (settings.zoo_home() / "mlartifacts").as_uri() if default else None
        return mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    except MlflowException as exc:
        raise TrackingError(f"the MLflow store at {uri} refused zoo: {exc.message.splitlines()[0][:200]}", "check MLFLOW_TRACKING_URI and its credentials, or unset it to use zoo's own store") from None


def _check_server(uri: str) -> None:
    """A tracking server that does not answer fails in seconds, not after MLflow's minutes of retries."""
    import urllib.error
    import urllib.request

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return  # it answers (perhaps asking for credentials): MLflow's own calls say what it wants
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"the MLflow tracking server at {uri} does not answer ({reason})", "start it, fix MLFLOW_TRACKING_URI, or unset it to use zoo's own store") from None


@contextlib.contextmanager
def run(run_id: str | None = None, name: str | None = None, tags: dict[str, str] | None = None, parent: str | None = None) -> Iterator[Any]:
    """A new (or, with `run_id`, resumed) MLflow run that ends FAILED if anything raises; with
    `parent`, nested in that (active) run, as MLflow shows a parent's child runs."""
    import mlflow

    experiment_id = connect()
    active = mlflow.start_run(
        run_id=run_id, experiment_id=None if run_id else experiment_id, run_name=name, tags=tags, log_system_metrics=True, nested=parent is not None, parent_run_id=parent
    )
    try:
        yield active
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


@contextlib.contextmanager
def linked_run(source_run_id: str, kind: str, tags: dict[str, str]) -> Iterator[Any]:
    """A run of its own for work done on a trained model (an export, a benchmark), linked both
    ways to the training run and its registered versions, so the training run's times stay its own."""
    from mlflow import MlflowClient

    connect()
    client = MlflowClient()
    source = client.get_run(source_run_id)
    with run(name=f"{source.info.run_name}-{kind}", tags={"zoo.kind": kind, "zoo.source_run": source_run_id, **tags}) as active:
        yield active
    client.set_tag(source_run_id, f"zoo.{kind}_run", active.info.run_id)
    for version in client.search_model_versions(f"run_id='{source_run_id}'"):
        client.set_model_version_tag(version.name, version.version, f"{kind}_run", active.info.run_id)


def register(run_id: str, artifact_path: str, name: str, tags: dict[str, str]) -> str:
    """Register a run's model folder as a new version of `name`; returns the version."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(name, description="Fine-tuned with zoo")
    source = f"{mlflow.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version = client.create_model_version(name, source=source, run_id=run_id, tags=tags)
    return version.version


def download(uri: str) -> Path:
    """A `models:/` or `runs:/` URI as a local folder, cached under ZOO_HOME."""
    import hashlib

    import mlflow
    from mlflow.exceptions import MlflowException

    connect()
    target = settings.zoo_home() / "cache" / "mlflow" / hashlib.sha256(f"{tracking_uri()}|{uri}".encode()).hexdigest()[:16]
    try:
        resolved = _pinned(uri)
    except MlflowException as exc:
        raise RefError(f"{uri} does not exist in {tracking_uri()}: {exc.message.splitlines()[0]}", "`zoo models` and `zoo runs` list what does") from None
    marker = target / ".zoo-source"
    if marker.is_file() and marker.read_text() == resolved:
        return target / "model"
    try:
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=resolved, dst_path=str(target / "download")))
    except (MlflowException, OSError) as exc:
        raise RefError(f"{uri} could not be downloaded: {exc}", "check the run's artifacts with `zoo runs`") from None
    if (target / "model").exists():
        shutil.rmtree(target / "model")
    path.rename(target / "model")
    marker.write_text(resolved)
    return target / "model"


def _pinned(uri: str) -> str:
    """`models:/name@alias`, `models:/name/3` or `models:/name/latest` -> the version's source,
    so an alias or `latest` that moved refreshes the cache."""
    from mlflow import MlflowClient

    if not uri.startswith("models:/"):
        return uri
    client = MlflowClient()
    name, _, rest = uri.removeprefix("models:/").partition("/")
    if "@" in name:
        name, alias = name.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    elif rest.isdigit():
        version = client.get_model_version(name, rest)
    elif rest == "latest":
        versions = client.search_model_versions(f"name='{name}'", max_results=1, order_by=["version_number DESC"])
        if not versions:
            raise RefError(f"{name} has no registered versions", "`zoo models` lists what is registered")
        version = versions[0]
    else:
        raise RefError(f"'{uri}' is not a model URI", "write models:/NAME/VERSION, models:/NAME/latest or models:/NAME@ALIAS")
    return version.source

