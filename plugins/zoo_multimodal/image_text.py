"""CLIP-style image-text models: contrastive fine-tuning, retrieval recall, zero-shot labels.

One adapter serves both tasks. Training feeds (image, text) pairs to the model's
own contrastive loss; evaluation embeds every image and text and reports
recall@1/5/10 both ways. Export writes the image and text towers as separate
graphs, so texts (label prompts) are embedded once and images stream.
Inputs are prepared with PIL, numpy and `tokenizers` alone, so PyTorch and ONNX
Runtime see the same arrays and `zoo predict` on an export never loads torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import RETRIEVAL, Columns, DataError, ExportSpec, Label, Runtime, TaskAdapter, quiet_transformers, trust_remote_code
from zoo_cv.images import PATH_COLUMNS, ImagePreprocessing, csv_pairs, open_image, preprocessing_of, train_transform

TEXT_COLUMNS = ("text", "caption", "name", "description", "sentence")
TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "an image of a {}.")
SETTINGS_FILE = "zoo-image-text.json"
RECALL_AT = (1, 5, 10)
BATCH = 64


class ImageTextProcessing:
    """The tokenizer, the image preprocessing and the model's logit scale, saved together."""

    def __init__(self, tokenizer: Any, image: ImagePreprocessing, max_length: int, logit_scale: float) -> None:
        self.tokenizer, self.image, self.max_length, self.logit_scale = tokenizer, image, max_length, logit_scale

    def save_pretrained(self, folder: Path) -> None:
        self.tokenizer.save_pretrained(folder)
        self.image.save_pretrained(folder)
        settings = {"max_length": self.max_length, "logit_scale": self.logit_scale, "pad_token": self.tokenizer.pad_token}
        (Path(folder) / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))


def text_arrays(folder: Path, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """Token ids and mask from tokenizer.json with the `tokenizers` library: no transformers, no torch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    settings = json.loads((folder / SETTINGS_FILE).read_text()) if (folder / SETTINGS_FILE).is_file() else {}
    pad_token = settings.get("pad_token")
    pad_id = tokenizer.token_to_id(pad_token) if pad_token else None
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=pad_id or 0, pad_token=pad_token or "[PAD]")
    encoded = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([item.ids for item in encoded], dtype=np.int64),
        "attention_mask": np.array([item.attention_mask for item in encoded], dtype=np.int64),
    }


def image_arrays(folder: Path, paths: list[str]) -> dict[str, np.ndarray]:
    preprocessing = preprocessing_of(folder)
    return {"pixel_values": np.stack([preprocessing(open_image(path)) for path in paths])}


def normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def retrieval_recall(image_embeds: np.ndarray, text_embeds: np.ndarray, texts: list[str]) -> dict[str, float]:
    """recall@k both ways; a pair's own text counts, and so does an identical caption of another image."""
    similarity = normalise(image_embeds) @ normalise(text_embeds).T
    captions = np.array(texts, dtype=object)
    relevant = captions[:, None] == captions[None, :]
    metrics = {}
    for k in RECALL_AT:
        if k > len(texts):
            continue
        image_to_text = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        text_to_image = np.argsort(-similarity.T, axis=1, kind="stable")[:, :k]
        rows = np.arange(len(texts))[:, None]
        metrics[f"image_to_text_recall_at_{k}"] = float(relevant[rows, image_to_text].any(axis=1).mean())
        metrics[f"text_to_image_recall_at_{k}"] = float(relevant[rows, text_to_image].any(axis=1).mean())
    return metrics


def zero_shot(image_embeds: np.ndarray, prompt_embeds: np.ndarray, labels: list[str], logit_scale: float, top: int) -> list[dict[str, Any]]:
    """CLIP's zero-shot classifier: each label is the mean of its prompts' embeddings."""
    from zoo_core import ranked, softmax

    per_label = normalise(normalise(prompt_embeds).reshape(len(labels), len(TEMPLATES), -1).mean(axis=1))
    probabilities = softmax(logit_scale * normalise(image_embeds) @ per_label.T)
    return [ranked(row, labels, top) for row in probabilities]


def prompts(labels: list[str]) -> list[str]:
    if not labels or not all(label.strip() for label in labels):
        raise DataError("zero-shot classification needs candidate labels", 'pass them with --labels "cat,dog,car"')
    return [template.format(label.strip()) for label in labels for template in TEMPLATES]


def image_tower(model: Any) -> Any:
    """pixel_values -> normalised image embeddings, as a module torch.onnx can export."""
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            embeds = self.model.get_image_features(pixel_values=pixel_values).pooler_output
            return {"image_embeds": embeds / embeds.norm(dim=-1, keepdim=True)}

    return ImageTower()


def text_tower(model: Any) -> Any:
    """input_ids, attention_mask -> normalised text embeddings."""
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            embeds = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            return {"text_embeds": embeds / embeds.norm(dim=-1, keepdim=True)}

    return TextTower()


class ImageText(TaskAdapter):
    """The `TaskAdapter` for image-text-retrieval and zero-shot-image-classification."""

    kind = RETRIEVAL


    def read(self, path: Path, columns: Columns) -> Any:
        import datasets

        if path.is_dir():
            raise DataError(f"{path} is a folder; image-text data is a CSV", "write a CSV with columns image,text")
        rows = csv_pairs(path, None, ("image path", PATH_COLUMNS), columns.text, ("text", TEXT_COLUMNS))
        for image, _ in rows:
            open_image(image)
        return datasets.Dataset.from_dict({"image": [image for image, _ in rows], "text": [text for _, text in rows]})

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        transformers = quiet_transformers()
        auto = transformers.AutoModel
        remote = {"trust_remote_code": trust_remote_code()}
        model = auto.from_config(transformers.AutoConfig.from_pretrained(model_dir, **remote)) if scratch else auto.from_pretrained(model_dir, **remote)
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, **remote)
        max_length = int(getattr(model.config.text_config, "max_position_embeddings", 77))
        processor = ImageTextProcessing(tokenizer, preprocessing_of(model_dir), max_length, float(model.logit_scale.exp().item()))
        return model, processor

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        model, processor = self.load(model_dir, [], False)
        return model, processor, []

    def encode(self, dataset: Any, processor: ImageTextProcessing, labels: list[str], max_length: int, train: bool = False) -> Any:
        import torch

        augment = train_transform(processor.image) if train else None
        length = min(max_length, processor.max_length)

        def pairs(batch: dict) -> dict:
            images = [open_image(path) for path in batch["image"]]
            tokens = processor.tokenizer(batch["text"], truncation=True, max_length=length)
            return {
                "pixel_values": [augment(image) if augment else torch.from_numpy(processor.image(image)) for image in images],
                "input_ids": tokens["input_ids"],
            }

        return dataset.with_transform(pairs)

    def collator(self, processor: ImageTextProcessing):
        import torch

        pad = processor.tokenizer.pad_token_id or 0

        def collate(examples: list[dict]) -> dict:
            longest = max(len(example["input_ids"]) for example in examples)
            ids = torch.full((len(examples), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(examples), longest), dtype=torch.long)
            for row, example in enumerate(examples):
                ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
                mask[row, : len(example["input_ids"])] = 1
            pixels = torch.stack([example["pixel_values"] for example in examples])
            return {"pixel_values": pixels, "input_ids": ids, "attention_mask": mask, "return_loss": True}

        return collate

    def evaluate(self, model: Any, processor: ImageTextProcessing, dataset: Any, labels: list[str]) -> dict[str, float]:
        """recall@1/5/10 in both directions over the whole set (not per batch)."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            processor.save_pretrained(Path(folder))  # the same arrays the ONNX path will build
            images = self._embed(image_tower(model), image_arrays, Path(folder), list(dataset["image"]), "image_embeds")
            texts = self._embed(text_tower(model), lambda where, chunk: text_arrays(where, chunk, processor.max_length), Path(folder), list(dataset["text"]), "text_embeds")
        return retrieval_recall(images, texts, list(dataset["text"]))

    @staticmethod
    def _embed(tower: Any, arrays: Any, folder: Path, items: list[str], output: str) -> np.ndarray:
        import torch

        device = next(tower.parameters()).device
        tower.eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(items), BATCH):
                inputs = {name: torch.from_numpy(value).to(device) for name, value in arrays(folder, items[start : start + BATCH]).items()}
                chunks.append(tower(**inputs)[output].float().cpu().numpy())
        return np.concatenate(chunks)

    def predict_model(self, model_dir: Path, inputs: list[str], labels: list[str], top: int) -> list[dict[str, Any]]:
        """Zero-shot labels for images with the PyTorch model."""
        texts = prompts(labels)
        model, processor = self.load(model_dir, [], False)
        images = self._embed(image_tower(model), image_arrays, model_dir, inputs, "image_embeds")
        prompt_embeds = self._embed(text_tower(model), lambda where, chunk: text_arrays(where, chunk, processor.max_length), model_dir, texts, "text_embeds")
        return [Label(input=path, **result) for path, result in zip(inputs, zero_shot(images, prompt_embeds, labels, processor.logit_scale, top))]

    def predict_export(self, runtime: Runtime, export_dir: Path, inputs: list[str], labels: list[str], top: int) -> list[dict[str, Any]]:
        """The same zero-shot answer from the exported towers, on the export's runtime."""
        texts = prompts(labels)
        settings = json.loads((export_dir / SETTINGS_FILE).read_text())
        images = np.concatenate([runtime.run(image_arrays(export_dir, inputs[start : start + BATCH]), "image")[0] for start in range(0, len(inputs), BATCH)])
        prompt_embeds = runtime.run(text_arrays(export_dir, texts, settings["max_length"]), "text")[0]
        results = zero_shot(images, prompt_embeds, labels, settings["logit_scale"], top)
        return [Label(input=path, **result) for path, result in zip(inputs, results)]

    def export_spec(self, model: Any, processor: ImageTextProcessing) -> ExportSpec:
        return self.export_graphs(model, processor)[0][2]

    def export_graphs(self, model: Any, processor: ImageTextProcessing) -> list[tuple[str, Any, ExportSpec]]:
        channels, height, width = processor.image.input_size
        vocab = int(model.config.text_config.vocab_size)

        def images(batch: int, length: int, seed: int) -> dict[str, Any]:
            return {"pixel_values": np.random.default_rng(seed).standard_normal((batch, channels, height, width), dtype=np.float32)}

        def texts(batch: int, length: int, seed: int) -> dict[str, Any]:
            rng = np.random.default_rng(seed)
            ids = rng.integers(0, vocab, size=(batch, length), dtype=np.int64)
            mask = np.ones((batch, length), dtype=np.int64)
            for row, used in enumerate(rng.integers(1, length + 1, size=batch)):
                mask[row, used:] = 0
            return {"input_ids": ids, "attention_mask": mask}

        image_spec = ExportSpec(("pixel_values",), ("image_embeds",), {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}}, images, height)
        text_axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "text_embeds": {0: "batch"}}
        text_spec = ExportSpec(("input_ids", "attention_mask"), ("text_embeds",), text_axes, texts, processor.max_length)
        return [("image", image_tower(model), image_spec), ("text", text_tower(model), text_spec)]

    def export_inputs(self, export_dir: Path, inputs: list[str], max_length: int) -> dict[str, Any]:
        return image_arrays(export_dir, inputs)
