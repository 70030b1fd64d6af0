"""Data files on the Hugging Face Hub: `hf://datasets/OWNER/NAME[@REVISION]/FILE` wherever a command
takes a data file, downloaded once through huggingface_hub (HF_ENDPOINT and HF_TOKEN apply) into
ZOO_HOME's cache, pinned to the commit it resolved."""

from __future__ import annotations

import re
from pathlib import Path

from zoo_core import settings
from zoo_core.errors import DataError

# A path keeps one slash of `hf://` (pathlib and the CLI's Path options collapse the second).
HUB_DATA = re.compile(r"^hf:/+datasets/(?P<repo>[^/@]+/[^/@]+)(?:@(?P<revision>[^/]+))?/(?P<file>.+)$")


def is_hub(path: Path | str | None) -> bool:
    return path is not None and HUB_DATA.match(str(path)) is not None


def shown(path: Path | str) -> str:
    """The way a user writes it: hf://datasets/..."""
    return re.sub(r"^hf:/+", "hf://", str(path))


def local_data(path: Path | None) -> Path | None:
    """The local file behind a data path: itself, or the Hub file it names, downloaded (and cached)."""
    if path is not None and str(path).startswith("hf:") and not is_hub(path):
        raise DataError(f"{shown(path)} does not name a file in a Hub dataset", "write hf://datasets/OWNER/NAME/FILE (or .../NAME@REVISION/FILE)")
    if path is None or not is_hub(path):
        return path
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    match = HUB_DATA.match(str(path))
    assert match is not None
    repo, revision, file = match["repo"], match["revision"] or "main", match["file"]
    endpoint = constants.ENDPOINT
    try:
        return Path(hf_hub_download(repo, file, repo_type="dataset", revision=revision, cache_dir=settings.zoo_home() / "cache" / "datasets"))
    except LocalEntryNotFoundError:  # offline, or the Hub unreachable, and no cached copy
        raise DataError(f"cannot reach {endpoint} for the dataset {repo}, and {file} is not in zoo's cache", "check the network (HF_ENDPOINT, HF_HUB_OFFLINE), or download the file and pass its path") from None
    except EntryNotFoundError:
        raise DataError(f"the dataset {repo}@{revision} on {endpoint} has no file {file}", "name a file the repository has: hf://datasets/OWNER/NAME/train.jsonl") from None
    except GatedRepoError:
        raise DataError(f"the dataset {repo} is gated on {endpoint}", "accept its terms on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise DataError(f"no dataset {repo} on {endpoint}", "check the name, or set HF_TOKEN for a private one") from None
    except RevisionNotFoundError:
        raise DataError(f"the dataset {repo} has no revision '{revision}' on {endpoint}", "name a branch, tag or commit after @") from None
    except HfHubHTTPError as exc:
        raise DataError(f"{endpoint} answered {exc.response.status_code if exc.response is not None else 'an error'} for the dataset {repo}", "try again later") from None
    except Exception as exc:  # network errors (httpx's are not OSErrors)
        if isinstance(exc, OSError) or type(exc).__module__.startswith(("httpx", "httpcore")):
            raise DataError(f"cannot reach {endpoint} for the dataset {repo}: {type(exc).__name__}", "check the network, or download the file and pass its path") from None
        raise
