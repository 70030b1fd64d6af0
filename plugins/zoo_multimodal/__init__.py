"""The multimodal domain: image-text models such as CLIP, and their cards."""

from zoo_core import Domain, hookimpl
from zoo_core.catalog import builtin_folder


@hookimpl
def zoo_domains():
    yield Domain(
        name="multimodal",
        summary="Image-text models that embed both into one space",
        tasks=("zero-shot-image-classification", "image-text-retrieval"),
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "multimodal"
