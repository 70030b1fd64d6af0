"""The CV domain: image classifiers (ResNet, EfficientNet, ViT, ...) and their cards."""

from zoo_core import Domain, builtin_folder, hookimpl


def _adapter(task: str):
    from zoo_cv.image_classification import ImageClassification

    return ImageClassification()


@hookimpl
def zoo_domains():
    yield Domain(
        name="cv",
        summary="Image models preprocessed as their cards say (size, crop, mean/std)",
        tasks=("image-classification",),
        adapter=_adapter,
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "cv"
