"""A real HTTP server on 127.0.0.1 for download tests and benchmarks.

It serves plain files with Range support, a PEP 503 package index, and the small
part of the Hugging Face Hub API that huggingface_hub calls (selected with
HF_ENDPOINT), and it counts requests and bytes so tests can prove what was sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHUNK = 1 << 16


class LocalServer:
    def __init__(self) -> None:
        self.files: dict[str, Path | bytes] = {}
        self.extra_headers: dict[str, dict[str, str]] = {}
        self.repos: dict[str, tuple[str, dict[str, bytes]]] = {}
        self.requests: list[str] = []
        self.bytes_sent = 0
        self.rate: float | None = None  # bytes per second, to make downloads slow enough to interrupt
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent = 0

    def add_file(self, path: str, content: Path | bytes, headers: dict[str, str] | None = None) -> str:
        self.files[path] = content
        self.extra_headers[path] = headers or {}
        return self.url + path

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        """A Hub model repository at one commit; returns the commit hash."""
        commit = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        self.repos[repo_id] = (commit, files)
        return commit

    def add_wheel(self, dist: str, wheel: Path) -> None:
        """A wheel in the package index under /simple/."""
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        self.add_file(f"/packages/{wheel.name}", wheel)
        page = f'<html><body><a href="/packages/{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>'
        self.add_file(f"/simple/{dist}/", page.encode(), {"Content-Type": "text/html"})

    def count(self, request: str, sent: int = 0) -> None:
        with self._lock:
            if request:
                self.requests.append(request)
            self.bytes_sent += sent


def _handler(server: LocalServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            server.count(f"{self.command} {path}")
            if match := re.fullmatch(r"/api/models/(.+?)/revision/([^/]+)", path):
                return self._repo_info(*match.groups())
            if match := re.fullmatch(r"/api/models/(.+?)/tree/([^/]+)(/.*)?", path):
                return self._repo_tree(match.group(1))
            if match := re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path):
                return self._repo_file(*match.groups(), body=body)
            if path in server.files:
                content = server.files[path]
                data = content.read_bytes() if isinstance(content, Path) else content
                return self._send_bytes(data, server.extra_headers.get(path, {}), body)
            self._json({"error": f"no {path}"}, 404)

        def _json(self, payload, status: int = 200, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _repo(self, repo_id: str):
            if repo_id not in server.repos:
                self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
                return None
            return server.repos[repo_id]

        def _repo_info(self, repo_id: str, revision: str) -> None:
            if not (repo := self._repo(repo_id)):
                return
            commit, files = repo
            if revision not in ("main", commit):
                return self._json({"error": "Invalid rev id"}, 404, {"X-Error-Code": "RevisionNotFound"})
            self._json({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False, "siblings": [{"rfilename": name} for name in sorted(files)]})

        def _repo_tree(self, repo_id: str) -> None:
            if not (repo := self._repo(repo_id)):
                return
            _, files = repo
            self._json(
                [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()} for name, data in sorted(files.items())]
            )

        def _repo_file(self, repo_id: str, revision: str, name: str, body: bool) -> None:
            if not (repo := self._repo(repo_id)):
                return
            commit, files = repo
            if name not in files:
                return self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
            data = files[name]
            etag = f'"{hashlib.sha256(data).hexdigest()}"'
            self._send_bytes(data, {"X-Repo-Commit": commit, "ETag": etag}, body)

        def _send_bytes(self, data: bytes, headers: dict[str, str], body: bool) -> None:
            start, status = 0, 200
            if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", headers.get("ETag", f'"{hashlib.md5(data).hexdigest()}"'))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            for key, value in headers.items():
                if key != "ETag":
                    self.send_header(key, value)
            self.end_headers()
            if not body:
                return
            view = memoryview(data)[start:]
            step = CHUNK if server.rate else 1 << 22
            for offset in range(0, len(view), step):
                piece = view[offset : offset + step]
                try:
                    self.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    return
                server.count("", len(piece))
                if server.rate:
                    time.sleep(len(piece) / server.rate)

    return Handler
