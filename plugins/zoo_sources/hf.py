"""The Hugging Face Hub through huggingface_hub's own client.

`HF_ENDPOINT` selects a mirror and `HF_TOKEN` authenticates, as everywhere else
in the Hugging Face stack. Only the files a model needs are downloaded:
configs, tokenizer and preprocessor files, and safetensors weights, falling
back to pickle weights only when a repository has no safetensors.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from zoo_core import SourceError

SUPPORT_FILES = ("*.json", "*.txt", "*.model", "*.tiktoken", "tokenizer*", "vocab*", "merges*", "README.md")
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
OTHER_FRAMEWORKS = ("onnx/", "openvino/", "coreml/", "tflite/", "tf/", "flax/")


def parse(uri: str) -> tuple[str, str | None]:
    """`hf://org/name@rev` -> ("org/name", "rev")."""
    repo_id, _, revision = uri.removeprefix("hf://").partition("@")
    return repo_id.strip("/"), revision or None


def select_files(files: list[str]) -> list[str]:
    """What a model needs from a repository listing: support files plus one weights format."""
    files = [name for name in files if not name.startswith(OTHER_FRAMEWORKS)]

    def matching(patterns: tuple[str, ...]) -> list[str]:
        return [name for name in files if any(fnmatch.fnmatch(name.rsplit("/", 1)[-1], pattern) for pattern in patterns)]

    weights = matching(("*.safetensors",)) or [name for name in matching(PICKLE_WEIGHTS) if not name.startswith("training_args")]
    return sorted(set(matching(SUPPORT_FILES)) | set(weights))


def fetch(uri: str, dest: Path, revision: str | None) -> str | None:
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id, pinned = parse(uri)
    revision = revision or pinned or "main"
    endpoint = constants.ENDPOINT
    try:
        info = HfApi().model_info(repo_id, revision=revision)
        wanted = select_files([sibling.rfilename for sibling in info.siblings or []])
        if not wanted:
            raise SourceError(f"{repo_id}@{revision} has no weights or configs zoo can use")
        # A commit hash makes the download immune to the branch moving meanwhile.
        snapshot_download(repo_id, revision=info.sha, local_dir=dest, allow_patterns=wanted)
    except GatedRepoError:
        raise SourceError(f"{repo_id} is gated on {endpoint}", "accept its licence on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise SourceError(f"no repository {repo_id} on {endpoint}", "check the name, or set HF_TOKEN for a private one") from None
    except RevisionNotFoundError:
        raise SourceError(f"{repo_id} has no revision '{revision}' on {endpoint}") from None
    except HfHubHTTPError as exc:
        raise SourceError(f"{endpoint} answered {exc.response.status_code if exc.response is not None else 'an error'} for {repo_id}") from None
    except (OSError, ConnectionError) as exc:
        raise SourceError(f"cannot reach {endpoint}: {exc}") from None
    except Exception as exc:  # httpx's network errors are not OSErrors
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            raise SourceError(f"cannot reach {endpoint}: {type(exc).__name__}: {exc}") from None
        raise
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # huggingface_hub's resume state, done with
    return info.sha
