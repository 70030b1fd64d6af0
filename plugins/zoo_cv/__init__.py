"""The CV domain: image classifiers (ResNet, EfficientNet, ViT, ...) and their cards."""

from zoo_core import Domain, builtin_folder, hookimpl


def _adapter(task: str):
    from zoo_cv.image_classification import ImageClassification

    return ImageClassification()


def _recognizes(model_dir):
    """A timm checkpoint, or a folder with an image processor and no tokenizer."""
    import json

    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    if "pretrained_cfg" in config or config.get("model_type") == "timm_wrapper":
        return True
    tokenizer = any((model_dir / name).exists() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"))
    return (model_dir / "preprocessor_config.json").exists() and not tokenizer


@hookimpl
def zoo_domains():
    yield Domain(
        name="cv",
        summary="Image models preprocessed as their cards say (size, crop, mean/std)",
        tasks=("image-classification",),
        adapter=_adapter,
        recognizes=_recognizes,
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "cv"
