"""`zoo pull` against a real HTTP server on 127.0.0.1: files, a fake Hub, a package index."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from helpers import ZOO, assert_one_line_error, zoo
from local_server import LocalServer

from zoo_core.errors import PickleRefusedError
from zoo_core.store import Manifest, ensure_loadable

WEIGHTS = os.urandom(3 << 20)
SHA = hashlib.sha256(WEIGHTS).hexdigest()


@pytest.fixture
def server():
    server = LocalServer()
    yield server
    server.close()


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A store of its own for each test."""
    return {"ZOO_HOME": str(tmp_path / "zoo-home")}


def local_models(env: dict[str, str]) -> dict[str, dict]:
    return {model["name"]: model for model in json.loads(zoo("list", "--local", "--json", env=env).stdout)}


def store_leftovers(env: dict[str, str]) -> list[str]:
    root = Path(env["ZOO_HOME"])
    return sorted(str(path.relative_to(root)) for sub in ("models", "staging") if (root / sub).exists() for path in (root / sub).rglob("*"))


def write_card(folder: Path, name: str, sources: list[dict]) -> None:
    card = {
        "id": name,
        "summary": "a tiny test model",
        "domain": "nlp",
        "tasks": ["text-classification"],
        "architecture": "BertModel",
        "library": "transformers",
        "sources": sources,
        "license": "mit",
        "parameters": 1000,
        "paper": {"title": "t", "url": "https://example.org/paper"},
    }
    (folder / "nlp").mkdir(parents=True, exist_ok=True)
    (folder / "nlp" / f"{name}.yaml").write_text(json.dumps(card))


def test_https_pull_verify_rm_and_cache(server: LocalServer, home: dict[str, str]) -> None:
    url = server.add_file("/files/tiny.safetensors", WEIGHTS)
    out = zoo("pull", f"{url}#sha256={SHA}", "--name", "tiny", env=home).stdout
    assert "pulled tiny" in out and "sha256 verified" in out
    folder = Path(home["ZOO_HOME"]) / "models" / "tiny"
    assert (folder / "tiny.safetensors").read_bytes() == WEIGHTS
    manifest = Manifest.read(folder / "zoo-manifest.json")
    assert [(entry.path, entry.size, entry.sha256) for entry in manifest.files] == [("tiny.safetensors", len(WEIGHTS), SHA)]
    assert local_models(home)["tiny"]["source"] == url
    assert "all 1 files match" in zoo("verify", "tiny", env=home).stdout

    data = bytearray(WEIGHTS)
    data[1000] ^= 0xFF
    (folder / "tiny.safetensors").write_bytes(bytes(data))
    corrupted = zoo("verify", "tiny", env=home, check=False)
    assert corrupted.returncode == 1 and "tiny.safetensors: sha256 differs" in corrupted.stdout

    cache = json.loads(zoo("cache", "--json", env=home).stdout)
    assert cache["models"] == {"tiny": len(WEIGHTS)} and cache["total"] == len(WEIGHTS)
    assert "removed tiny (3.1 MB freed)" in zoo("rm", "tiny", env=home).stdout
    assert local_models(home) == {}
    assert_one_line_error(zoo("rm", "tiny", env=home, check=False), "tiny is not in the store")


def test_a_digest_mismatch_keeps_nothing(server: LocalServer, home: dict[str, str]) -> None:
    url = server.add_file("/files/tiny.safetensors", WEIGHTS)
    result = zoo("pull", f"{url}#sha256={'0' * 64}", "--name", "tiny", env=home, check=False)
    assert result.returncode == 2 and "sha256 mismatch for tiny.safetensors" in result.stderr
    assert store_leftovers(home) == []


def test_a_server_supplied_name_that_escapes_is_refused(server: LocalServer, home: dict[str, str], tmp_path: Path) -> None:
    url = server.add_file("/files/innocent.bin", WEIGHTS, {"Content-Disposition": 'attachment; filename="../../evil.bin"'})
    result = zoo("pull", url, "--name", "innocent", env=home, check=False)
    assert result.returncode == 2 and "refused the file name '../../evil.bin'" in result.stderr
    assert store_leftovers(home) == [] and not list(tmp_path.rglob("evil.bin"))


def test_names_cannot_escape_the_store(server: LocalServer, home: dict[str, str]) -> None:
    url = server.add_file("/files/tiny.safetensors", WEIGHTS)
    assert_one_line_error(zoo("pull", url, "--name", "../outside", env=home, check=False), "'../outside' cannot be a model name")


def test_hf_source_downloads_only_what_a_model_needs(server: LocalServer, home: dict[str, str], tmp_path: Path) -> None:
    commit = server.add_repo(
        "acme/tiny-bert",
        {
            "config.json": b'{"model_type": "bert"}',
            "tokenizer.json": b"{}",
            "vocab.txt": b"[PAD]\n[UNK]\n",
            "model.safetensors": WEIGHTS,
            "pytorch_model.bin": b"pickle weights that must not be fetched",
            "onnx/model.onnx": b"another framework",
            "modeling_custom.py": b"remote code",
        },
    )
    write_card(tmp_path / "cards", "tiny-bert", [{"uri": "hf://acme/tiny-bert", "revision": "main", "sha256": {"model.safetensors": SHA}}])
    env = {**home, "HF_ENDPOINT": server.url, "ZOO_CATALOG": str(tmp_path / "cards")}
    zoo("pull", "tiny-bert", env=env)
    model = local_models(env)["tiny-bert"]
    assert sorted(entry["path"] for entry in model["files"]) == ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]
    assert model["revision"] == commit and model["license"] == "mit" and model["pickle"] is False
    assert not (Path(home["ZOO_HOME"]) / "models" / "tiny-bert" / ".cache").exists()

    zoo("pull", f"hf://acme/tiny-bert@{commit}", "--name", "pinned", env=env)
    assert local_models(env)["pinned"]["revision"] == commit
    missing = zoo("pull", "hf://acme/tiny-bert@v9", "--name", "v9", env=env, check=False)
    assert missing.returncode == 2 and "has no revision 'v9'" in missing.stderr


def test_pickle_only_checkpoints_are_marked_and_need_consent(server: LocalServer, home: dict[str, str]) -> None:
    server.add_repo("acme/old-bert", {"config.json": b"{}", "pytorch_model.bin": b"pickled"})
    env = {**home, "HF_ENDPOINT": server.url}
    assert "--allow-pickle" in zoo("pull", "hf://acme/old-bert", env=env).stdout
    assert "pickle" in zoo("list", "--local", env=env).stdout
    manifest = Manifest.read(Path(home["ZOO_HOME"]) / "models" / "old-bert" / "zoo-manifest.json")
    with pytest.raises(PickleRefusedError, match="only pickle weights"):
        ensure_loadable(manifest, allow_pickle=False)
    ensure_loadable(manifest, allow_pickle=True)


def test_sources_are_tried_in_order_and_each_failure_is_explained(server: LocalServer, home: dict[str, str], tmp_path: Path) -> None:
    url = server.add_file("/mirror/tiny.safetensors", WEIGHTS)
    write_card(tmp_path / "cards", "mirrored", [{"uri": "hf://acme/gone"}, {"uri": url, "sha256": {"tiny.safetensors": SHA}}])
    env = {**home, "HF_ENDPOINT": server.url, "ZOO_CATALOG": str(tmp_path / "cards")}
    result = zoo("pull", "mirrored", env=env)
    assert "skipped hf://acme/gone: no repository acme/gone" in result.stderr
    assert local_models(env)["mirrored"]["source"] == url

    write_card(tmp_path / "cards", "nowhere", [{"uri": "hf://acme/gone"}, {"uri": server.url + "/missing.bin"}, {"uri": "s3://bucket/x"}])
    failed = zoo("pull", "nowhere", env=env, check=False)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()[-4:]
    assert lines[0] == "error: could not pull nowhere; every source failed:"
    assert "no repository acme/gone" in lines[1] and "HTTP 404" in lines[2] and "unknown source 's3'; sources are file, hf, http, https, pypi" in lines[3]


def make_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes], symlink: str | None = None) -> Path:
    package = dist.replace("-", "_")
    wheel = folder / f"{package}-{version}-py3-none-any.whl"
    info = f"{package}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{package}/{name}", data)
        if symlink:
            link = zipfile.ZipInfo(f"{package}/model/escape")
            link.external_attr = (0o120777 << 16)
            archive.writestr(link, symlink)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def pip_env(server: LocalServer, home: dict[str, str]) -> dict[str, str]:
    return {**home, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": f"{server.url}/simple/", "PIP_NO_CACHE_DIR": "1"}


def test_pypi_source_extracts_one_folder_of_a_wheel(server: LocalServer, home: dict[str, str], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "tiny-model-pkg", "1.2", {"model/config.json": b"{}", "model/model.safetensors": WEIGHTS, "__init__.py": b""})
    server.add_wheel("tiny-model-pkg", wheel)
    zoo("pull", "pypi://tiny-model-pkg==1.2#tiny_model_pkg/model", "--name", "packaged", env=pip_env(server, home))
    model = local_models(home)["packaged"]
    assert sorted(entry["path"] for entry in model["files"]) == ["config.json", "model.safetensors"]
    assert model["revision"] == "1.2"
    assert any(request.startswith("GET /packages/tiny_model_pkg-1.2") for request in server.requests)


def test_pypi_source_refuses_symlinks_in_the_wheel(server: LocalServer, home: dict[str, str], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "evil-pkg", "1.0", {"model/config.json": b"{}"}, symlink="/etc/passwd")
    server.add_wheel("evil-pkg", wheel)
    result = zoo("pull", "pypi://evil-pkg==1.0#evil_pkg/model", "--name", "evil", env=pip_env(server, home), check=False)
    assert result.returncode == 2 and "archives may not carry symlinks" in result.stderr
    assert store_leftovers(home) == []


def test_local_checkpoints_are_copied_in(home: dict[str, str], tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--acme--tiny"  # a Hugging Face cache: snapshot files link into blobs/
    checkpoint = repo / "snapshots" / "abc123"
    checkpoint.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (checkpoint / "config.json").write_text("{}")
    (repo / "blobs" / "e3b0").write_bytes(WEIGHTS)
    (checkpoint / "model.safetensors").symlink_to("../../blobs/e3b0")
    zoo("pull", str(checkpoint), "--name", "my-bert", env=home)
    copied = Path(home["ZOO_HOME"]) / "models" / "my-bert" / "model.safetensors"
    assert not copied.is_symlink() and copied.read_bytes() == WEIGHTS
    assert_one_line_error(zoo("pull", str(tmp_path / "nope"), env=home, check=False), "does not exist")


def test_a_local_folder_never_brings_in_what_lies_outside_it(home: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("certificate")
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "weights.safetensors").write_bytes(WEIGHTS)
    (checkpoint / "same.safetensors").symlink_to("weights.safetensors")  # inside: followed
    for link, target in (("notes.txt", secret), ("extra", tmp_path / "certs")):
        (checkpoint / link).symlink_to(target)
        result = zoo("pull", str(checkpoint), "--name", "leaky", env=home, check=False)
        assert_one_line_error(result, f"refused {link}: a symlink to {target}, outside {checkpoint}", "remove the link")
        assert local_models(home).get("leaky") is None, "nothing from outside lands in the store"
        (checkpoint / link).unlink()
    zoo("pull", str(checkpoint), "--name", "leaky", env=home)
    assert (Path(home["ZOO_HOME"]) / "models" / "leaky" / "same.safetensors").read_bytes() == WEIGHTS


def test_four_parallel_pulls_download_once(server: LocalServer, home: dict[str, str]) -> None:
    url = server.add_file("/files/shared.safetensors", WEIGHTS)
    server.rate = 8 << 20  # slow enough that the pulls overlap
    env = {**os.environ, **home}
    pulls = [subprocess.Popen([str(ZOO), "pull", url, "--name", "shared"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=120) for process in pulls]
    assert [process.returncode for process in pulls] == [0, 0, 0, 0], outputs
    assert server.requests.count("GET /files/shared.safetensors") == 1
    assert sum("pulled shared" in out for out, _ in outputs) == 1
    assert sum("already in the store" in out for out, _ in outputs) == 3


def kill_pull_midway(url: str, name: str, home: dict[str, str]) -> int:
    """Start `zoo pull`, kill -9 it once 2 MiB are on disk; returns the bytes it left."""
    process = subprocess.Popen([str(ZOO), "pull", url, "--name", name], env={**os.environ, **home}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = Path(home["ZOO_HOME"]) / "staging"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(staging.rglob("*.part"))
        if parts and parts[0].stat().st_size >= 2 << 20:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return list(staging.rglob("*.part"))[0].stat().st_size


def test_kill_9_mid_download_then_pull_resumes(server: LocalServer, home: dict[str, str]) -> None:
    big = os.urandom(8 << 20)
    url = server.add_file("/files/big.safetensors", big)
    server.rate = 2 << 20
    on_disk = kill_pull_midway(f"{url}#sha256={hashlib.sha256(big).hexdigest()}", "big", home)
    assert local_models(home) == {}, "a half model is never visible"
    assert json.loads(zoo("cache", "--json", env=home).stdout)["partial"]["big"] >= on_disk
    staging = Path(home["ZOO_HOME"]) / "staging"

    server.rate = None
    server.reset_counts()
    zoo("pull", f"{url}#sha256={hashlib.sha256(big).hexdigest()}", "--name", "big", env=home)
    assert server.bytes_sent == len(big) - on_disk, "only the missing bytes were sent"
    assert "all 1 files match" in zoo("verify", "big", env=home).stdout
    assert not staging.exists() or not any(staging.iterdir())


def test_offline_mode_makes_no_network_call(server: LocalServer, home: dict[str, str]) -> None:
    url = server.add_file("/files/tiny.safetensors", WEIGHTS)
    zoo("pull", url, "--name", "tiny", env=home)
    server.reset_counts()
    for variable in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"):
        assert "already in the store" in zoo("pull", url, "--name", "tiny", env={**home, variable: "1"}).stdout
    assert "already in the store" in zoo("pull", url, "--name", "tiny", env=home).stdout
    assert server.requests == []
    absent = zoo("pull", url, "--name", "other", env={**home, "ZOO_OFFLINE": "1"}, check=False)
    assert_one_line_error(absent, "other is not in the store and offline mode forbids downloading")
    assert server.requests == []


def test_cache_prune_deletes_interrupted_pulls(server: LocalServer, home: dict[str, str]) -> None:
    url = server.add_file("/files/big.safetensors", os.urandom(8 << 20))
    server.rate = 2 << 20
    on_disk = kill_pull_midway(url, "big", home)
    assert "(interrupted pull)" in zoo("cache", env=home).stdout
    pruned = json.loads(zoo("cache", "--prune", "--json", env=home).stdout)
    assert pruned["freed"] >= on_disk and pruned["partial"] == {} and pruned["total"] == 0
