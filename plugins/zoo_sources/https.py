"""Streamed HTTP(S) downloads that resume from the bytes already on disk."""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zoo_core import IntegrityError, SourceError, safe_relative

CHUNK = 1 << 20
TIMEOUT = 30


def file_name(url: str) -> str:
    """The name a URL's last path segment gives a file (`model.safetensors`)."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    if not name:
        raise SourceError(f"{url} names no file", "point at a file, e.g. https://host/model.safetensors")
    return safe_relative(name)


def server_name(disposition: str | None) -> str | None:
    """The file name a Content-Disposition header asks for, refused if it escapes."""
    if not disposition:
        return None
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition)
    if not match:
        return None
    name = unquote(match.group(1))
    if "/" in safe_relative(name):
        raise IntegrityError(f"refused the server's file name '{name}': it points into another folder", "the source is broken or hostile; use another")
    return name


def fetch(uri: str, dest: Path, revision: str | None) -> str | None:
    """Download one file into `dest`, resuming a `.part` left by an interrupted run."""
    url = uri.split("#", 1)[0]
    part = dest / (file_name(url) + ".part")
    state = dest / ".download.json"  # the validator that makes resuming safe
    known = json.loads(state.read_text()) if state.exists() and part.exists() else {}
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity", "User-Agent": "zoo"}
    if have and known.get("validator"):
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = known["validator"]
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part is already whole
            return _finish(part, dest, known.get("name"), state)
        raise SourceError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError(f"cannot reach {urlsplit(url).netloc}: {getattr(exc, 'reason', exc)}") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        total = _total(response, have)
        name = server_name(response.headers.get("Content-Disposition"))
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        state.write_text(json.dumps({"validator": validator, "name": name}))
        with part.open("ab" if resumed else "wb") as out, _progress(part.name.removesuffix(".part"), total, have) as advance:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                advance(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise SourceError(f"{url}: the connection closed after {size} of {total} bytes", "pull again to resume")
    return _finish(part, dest, name, state)


def _total(response, have: int) -> int | None:
    if response.status == 206:
        match = re.search(r"/(\d+)$", response.headers.get("Content-Range", ""))
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length")
    return int(length) if length else None


def _finish(part: Path, dest: Path, name: str | None, state: Path) -> None:
    os.replace(part, dest / (name or part.name.removesuffix(".part")))
    state.unlink(missing_ok=True)
    return None


class _progress:
    """A rich progress bar on stderr when a person is watching, nothing otherwise."""

    def __init__(self, name: str, total: int | None, done: int) -> None:
        self.name, self.total, self.done = name, total, done
        self.bar = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return lambda count: None
        from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

        self.bar = Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.name, total=self.total, completed=self.done)
        return lambda count: self.bar.advance(task, count)

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.stop()
