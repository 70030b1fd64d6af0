"""Image classification for timm and Hugging Face vision models, through transformers' Auto classes.

timm models are wrapped by transformers' `TimmWrapperForImageClassification`, so
every backbone trains under the Trainer, saves with `save_pretrained` and
reloads as a plain folder. A pulled folder with only a bare checkpoint (no
config.json) is built from the card the pull kept beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo_core import CARD_COPY, CLASSIFIER, Columns, ExportSpec, RecipeError, TaskAdapter, quiet_transformers, trust_remote_code
from zoo_cv.images import ImagePreprocessing, image_rows, open_image, preprocessing_of, train_transform, unlabeled_images


def _label_fields(labels: list[str]) -> dict[str, Any]:
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def build_model(model_dir: Path, labels: list[str] | None, scratch: bool) -> Any:
    """The folder's classifier; with `labels`, its head replaced by a new one for them."""
    transformers = quiet_transformers()
    fields = _label_fields(labels) if labels else {}
    auto = transformers.AutoModelForImageClassification
    if (model_dir / "config.json").is_file():
        config = transformers.AutoConfig.from_pretrained(model_dir, **fields, trust_remote_code=trust_remote_code())
        if scratch:
            return auto.from_config(config)
        return auto.from_pretrained(model_dir, config=config, ignore_mismatched_sizes=bool(labels), trust_remote_code=trust_remote_code())
    return _from_card(model_dir, labels, scratch)


def _from_card(model_dir: Path, labels: list[str] | None, scratch: bool) -> Any:
    """A bare checkpoint: build the card's timm architecture and map the weights onto it."""
    from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

    from zoo_cv.weights import load_into_timm, read_state_dict

    if not (model_dir / CARD_COPY).is_file():
        raise RecipeError(f"{model_dir} has no config.json: zoo cannot tell which architecture its weights are for", "give a Hugging Face or timm model folder, or pull the model from the catalog")
    card = json.loads((model_dir / CARD_COPY).read_text())
    if card["library"] != "timm":
        raise RecipeError(f"{card['id']}: a bare checkpoint can only be built for a timm architecture, not {card['library']}", "use a source with a config.json")
    classes = card.get("num_classes") or 1000
    config = TimmWrapperConfig(architecture=card["architecture"], **_label_fields(_imagenet_labels() if classes == 1000 else [str(i) for i in range(classes)]))
    model = TimmWrapperForImageClassification(config)
    if not scratch:
        load_into_timm(model.timm_model, read_state_dict(model_dir), model_dir)
    if labels:
        model.timm_model.reset_classifier(len(labels))
        model.config.update(_label_fields(labels))
        model.num_labels = len(labels)
    return model


def _imagenet_labels() -> list[str]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(index) for index in range(info.num_classes())]


class ImageClassification(TaskAdapter):
    """The `TaskAdapter` for image-classification."""

    kind = CLASSIFIER


    def read(self, path: Path, columns: Columns) -> Any:
        import datasets

        rows = image_rows(path, columns.text, columns.label)
        for image, _ in rows:
            open_image(image)  # every file decodes, or the one that does not is named now
        return datasets.Dataset.from_dict({"image": [image for image, _ in rows], "label": [label for _, label in rows]})

    def read_unlabeled(self, path: Path, columns: Columns) -> Any:
        import datasets

        images = unlabeled_images(path, columns.text)
        for image in images:
            open_image(image)
        return datasets.Dataset.from_dict({"image": images})

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        return build_model(model_dir, labels, scratch), preprocessing_of(model_dir)

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        model = build_model(model_dir, None, False)
        labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
        return model, preprocessing_of(model_dir), labels

    def encode(self, dataset: Any, processor: ImagePreprocessing, labels: list[str], max_length: int, train: bool = False) -> Any:
        import torch

        label2id = {label: index for index, label in enumerate(labels)}
        augment = train_transform(processor) if train else None

        def pixels(batch: dict) -> dict:
            images = [open_image(path) for path in batch["image"]]
            values = [augment(image) if augment else torch.from_numpy(processor(image)) for image in images]
            return {"pixel_values": values, "labels": [label2id[label] for label in batch["label"]]}

        return dataset.with_transform(pixels)  # decoded per batch: the set never sits in memory as tensors

    def collator(self, processor: ImagePreprocessing):
        import torch

        def collate(examples: list[dict]) -> dict:
            return {"pixel_values": torch.stack([example["pixel_values"] for example in examples]), "labels": torch.tensor([example["labels"] for example in examples])}

        return collate

    def export_spec(self, model: Any, processor: ImagePreprocessing) -> ExportSpec:
        import numpy as np

        channels, height, width = processor.input_size

        def sample(batch: int, length: int, seed: int) -> dict[str, Any]:
            return {"pixel_values": np.random.default_rng(seed).standard_normal((batch, channels, height, width), dtype=np.float32)}

        return ExportSpec(
            input_names=("pixel_values",),
            output_names=("logits",),
            dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
            sample=sample,
            max_length=height,
        )

    def export_inputs(self, export_dir: Path, inputs: list[str], max_length: int) -> dict[str, Any]:
        import numpy as np

        preprocessing = ImagePreprocessing.from_pretrained(export_dir)
        return {"pixel_values": np.stack([preprocessing(open_image(path)) for path in inputs])}
