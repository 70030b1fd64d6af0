"""The multimodal domain: image-text models such as CLIP, and their cards."""

from zoo_core import Domain, builtin_folder, hookimpl


def _adapter(task: str):
    from zoo_multimodal.image_text import ImageText

    return ImageText()


DUAL_ENCODERS = ("clip", "siglip", "chinese_clip", "vision-text-dual-encoder")


def _recognizes(model_dir):
    """An image-text dual encoder, by its config's model_type."""
    import json

    config = model_dir / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("model_type") in DUAL_ENCODERS


@hookimpl
def zoo_domains():
    yield Domain(
        name="multimodal",
        summary="Image-text models that embed both into one space",
        tasks=("image-text-retrieval", "zero-shot-image-classification"),
        adapter=_adapter,
        recognizes=_recognizes,
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "multimodal"
