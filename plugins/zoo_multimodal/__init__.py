"""The multimodal domain: image-text models such as CLIP, and their cards."""

from zoo_core import Domain, builtin_folder, hookimpl


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
