"""The multimodal domain: image-text models such as CLIP, and their cards."""

from zoo_core import Domain, hookimpl
from zoo_core.catalog import builtin_folder


def _adapter(task: str):
    from zoo_multimodal.image_text import ImageText

    return ImageText()


@hookimpl
def zoo_domains():
    yield Domain(
        name="multimodal",
        summary="Image-text models that embed both into one space",
        tasks=("image-text-retrieval", "zero-shot-image-classification"),
        adapter=_adapter,
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "multimodal"
