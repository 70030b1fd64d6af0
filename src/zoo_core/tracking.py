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
DATABASES = ("postgresql", "mysql", "mssql")  # MLflow's database stores over a network (SQLite is a file)


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


def tracking_client() -> Any:
    """An `mlflow.MlflowClient` on zoo's store (`MLFLOW_TRACKING_URI`, else the SQLite store under
    ZOO_HOME), checked and with the `zoo` experiment made: what a plugin command uses to read runs."""
    connect()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri())


def uses_default_store() -> bool:
    return not os.environ.get("MLFLOW_TRACKING_URI")


def uses_server() -> bool:
    """A tracking server (rather than a database or folder zoo opens itself)."""
    return tracking_uri().startswith(("http://", "https://"))


def shown_uri(uri: str | None = None) -> str:
    """The tracking URI as messages show it: a password in it (postgresql://user:secret@host/db) becomes ***."""
    from urllib.parse import urlsplit

    uri = uri or tracking_uri()
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


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
    if uses_server():
        _check_server(uri)
    elif uri.split(":", 1)[0].split("+")[0] in DATABASES:
        _check_database(uri)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return experiment.experiment_id
        # In zoo's own store artifacts live beside it; a server or a store the user named decides for itself.
        artifacts = (settings.zoo_home() / "mlartifacts").as_uri() if default else None
        return mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    except MlflowException as exc:
        raise TrackingError(f"the MLflow store at {shown_uri(uri)} refused zoo: {exc.message.splitlines()[0][:200]}", "check MLFLOW_TRACKING_URI and its credentials, or unset it to use zoo's own store") from None


def _check_server(uri: str) -> None:
    """A tracking server that does not answer, or answers but cannot work, fails in seconds with
    the reason, not after MLflow's minutes of retries."""
    import urllib.error
    import urllib.request

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        pass  # it answers (perhaps asking for credentials): the API call below says what it wants
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"the MLflow tracking server at {uri} does not answer ({reason})", "start it, fix MLFLOW_TRACKING_URI, or unset it to use zoo's own store") from None
    _check_api(uri)


def _check_api(uri: str) -> None:
    """One API call with the user's credentials and no retries: /health answers even when the
    server's database is down or the user may not in."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        response = http_request(
            get_default_host_creds(uri), "/api/2.0/mlflow/experiments/get-by-name", "GET", max_retries=0, timeout=SERVER_TIMEOUT_S, raise_on_status=False, params={"experiment_name": EXPERIMENT}
        )
    except MlflowException as exc:
        raise TrackingError(f"the MLflow tracking server at {uri} does not answer ({exc.message.splitlines()[0][:200]})", "start it, fix MLFLOW_TRACKING_URI, or unset it to use zoo's own store") from None
    if response.status_code in (401, 403):
        raise TrackingError(
            f"the MLflow tracking server at {uri} refuses zoo (HTTP {response.status_code}: {_reason(response)})",
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) to an account it accepts, or unset MLFLOW_TRACKING_URI to use zoo's own store",
        )
    if response.status_code >= 500:
        raise TrackingError(
            f"the MLflow tracking server at {uri} answers but cannot work (HTTP {response.status_code}: {_reason(response)})",
            "whoever runs it should check the database it stores runs in and its log; or unset MLFLOW_TRACKING_URI to use zoo's own store",
        )


def _reason(response: Any) -> str:
    """The first line of an MLflow error body's message, else the HTTP reason."""
    try:
        message = str(response.json().get("message") or "")
    except ValueError:
        message = ""
    return (message.strip().splitlines() or [response.reason or "no reason given"])[0][:200]


def _check_database(uri: str) -> None:
    """A database store (postgresql://...) that does not answer fails in seconds: MLflow itself
    retries a failed connection for nearly an hour before it gives up."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    shown = shown_uri(uri)
    try:
        url = sqlalchemy.make_url(uri)
        timeout = {"connect_timeout": SERVER_TIMEOUT_S} if url.get_backend_name() in ("postgresql", "mysql", "mariadb") else {}
        engine = sqlalchemy.create_engine(url, connect_args=timeout, poolclass=sqlalchemy.pool.NullPool)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise TrackingError(f"MLFLOW_TRACKING_URI {shown} is not a database URI zoo can open ({exc})", "write it as postgresql+psycopg2://USER@HOST/DB (or mysql+pymysql://...), or unset it to use zoo's own store") from None
    except ModuleNotFoundError as exc:
        fix = "pip install 'zoo-models[team]' and write the URI as postgresql+psycopg2://USER@HOST/DB" if url.get_backend_name() == "postgresql" else f"pip install the {exc.name} package"
        raise TrackingError(f"the MLflow store at {shown} needs the Python database driver {exc.name}, which is not installed", fix) from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise TrackingError(f"the MLflow store at {shown} does not answer ({reason})", "start the database, fix MLFLOW_TRACKING_URI, or unset it to use zoo's own store") from None
    finally:
        engine.dispose()


@contextlib.contextmanager
def run(run_id: str | None = None, name: str | None = None, tags: dict[str, str] | None = None, parent: str | None = None) -> Iterator[Any]:
    """A new (or, with `run_id`, resumed) MLflow run that ends FAILED if anything raises; with
    `parent`, nested in that (active) run, as MLflow shows a parent's child runs."""
    import mlflow

    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    experiment_id = connect()
    active = mlflow.start_run(
        run_id=run_id, experiment_id=None if run_id else experiment_id, run_name=name, tags=tags, log_system_metrics=True, nested=parent is not None, parent_run_id=parent
    )
    try:
        yield active
    except (MlflowException, RequestException) as exc:  # the store went away mid-run (or refused what was logged)
        _end_quietly()
        raise _lost(active.info.run_id, exc) from None
    except BaseException:
        _end_quietly()
        raise
    try:
        mlflow.end_run("FINISHED")
    except (MlflowException, RequestException) as exc:
        raise _lost(active.info.run_id, exc) from None


def _end_quietly() -> None:
    """Mark the run FAILED if the store still answers; the error that ended it is what the user needs."""
    import mlflow

    with contextlib.suppress(Exception):
        mlflow.end_run("FAILED")


def _lost(run_id: str, exc: Exception) -> TrackingError:
    """What failed, and where the run's local work is kept (a fine-tune's model folder, under ZOO_HOME/runs)."""
    reason = str(getattr(exc, "message", None) or exc).strip().splitlines()[0][:200]
    model = settings.zoo_home() / "runs" / run_id / "model"
    if model.is_dir():
        fix = f"the trained model is kept in {model}; once the store answers, `zoo finetune --resume {run_id}` logs and registers it without training again"
    else:
        fix = "nothing was lost locally; run the command again once the store answers"
    return TrackingError(f"the MLflow store at {shown_uri()} failed during run {run_id} ({reason})", fix)


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
        raise RefError(f"{uri} does not exist in {shown_uri()}: {exc.message.splitlines()[0]}", "`zoo models` and `zoo runs` list what does") from None
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

