"""Images in, arrays out: reading image datasets and the eval preprocessing.

Only PIL and numpy: `zoo predict` on an image export uses this without torch,
and training uses the same function for validation, so ONNX and PyTorch see
exactly the same pixels.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import CARD_COPY, DataError, pick_column, read_problem, shown_path, warn_dropped

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
PATH_COLUMNS = ("image", "path", "file", "filename", "filepath", "image_path")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target", "y")
PREPROCESSING_FILE = "zoo-preprocessing.json"
FLAGS = "--text-col/--label-col"
HF_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


@dataclass(frozen=True)
class ImagePreprocessing:
    """timm's eval transform: resize the short side to size / crop_pct, centre-crop, normalise."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> ImagePreprocessing:
        known = {key: tuple(value) if isinstance(value, list) else value for key, value in fields.items() if key in cls.__dataclass_fields__ and value is not None}
        return cls(**known)

    @classmethod
    def from_pretrained(cls, folder: Path) -> ImagePreprocessing:
        return cls.from_dict(json.loads((folder / PREPROCESSING_FILE).read_text()))

    def save_pretrained(self, folder: Path) -> None:
        """Beside the weights (and in exports), so every later command feeds the model the same way."""
        (Path(folder) / PREPROCESSING_FILE).write_text(json.dumps(asdict(self), indent=2))

    @property
    def size(self) -> tuple[int, int]:
        return self.input_size[1], self.input_size[2]

    def __call__(self, image: Any) -> np.ndarray:
        """A PIL image (any mode) as a normalised CHW float32 array."""
        from PIL import Image

        resample = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[self.interpolation]
        image = image.convert("RGB")
        height, width = self.size
        scale = math.floor(min(height, width) / self.crop_pct)
        if image.width <= image.height:  # torchvision's Resize(int) rounding, so timm's weights see what they expect
            new_size = (scale, int(scale * image.height / image.width))
        else:
            new_size = (int(scale * image.width / image.height), scale)
        resized = image.resize(new_size, resample)
        left, top = int(round((resized.width - width) / 2)), int(round((resized.height - height) / 2))
        pixels = np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.float32) / 255.0
        pixels = (pixels - np.array(self.mean, dtype=np.float32)) / np.array(self.std, dtype=np.float32)
        return pixels.transpose(2, 0, 1).copy()


def preprocessing_of(model_dir: Path) -> ImagePreprocessing:
    """Ours from a fine-tune or export, else the card's, else what the model folder says, else ImageNet's."""
    if (model_dir / PREPROCESSING_FILE).is_file():
        return ImagePreprocessing.from_pretrained(model_dir)
    if (model_dir / CARD_COPY).is_file():
        card = json.loads((model_dir / CARD_COPY).read_text())
        if card.get("preprocessing", {}).get("input_size"):
            return ImagePreprocessing.from_dict(card["preprocessing"])
    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    if "pretrained_cfg" in config:  # a timm folder
        return ImagePreprocessing.from_dict(config["pretrained_cfg"])
    processor = model_dir / "preprocessor_config.json"
    if processor.is_file():  # a Hugging Face image processor: resize (short side or exact), then maybe crop
        fields = json.loads(processor.read_text())
        size, crop = fields.get("size") or {}, fields.get("crop_size") or {}
        resized = size.get("shortest_edge") or size.get("height") or 224
        side = crop.get("height", resized) if fields.get("do_center_crop") else size.get("height", resized)
        return ImagePreprocessing.from_dict(
            {
                "input_size": (3, side, crop.get("width", side) if fields.get("do_center_crop") else size.get("width", side)),
                "mean": fields.get("image_mean"),
                "std": fields.get("image_std"),
                "crop_pct": min(1.0, side / resized),
                "interpolation": HF_RESAMPLE.get(fields.get("resample"), "bilinear"),
            }
        )
    return ImagePreprocessing()


def train_transform(preprocessing: ImagePreprocessing) -> Any:
    """The standard fine-tuning augmentation: random resized crop and horizontal flip."""
    from torchvision import transforms

    mode = transforms.InterpolationMode(preprocessing.interpolation)
    return transforms.Compose(
        [
            transforms.Lambda(lambda image: image.convert("RGB")),
            transforms.RandomResizedCrop(preprocessing.size, scale=(0.5, 1.0), interpolation=mode),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )


def open_image(path: str | Path) -> Any:
    """Decode the whole image now, so a broken file fails here with its name, not mid-epoch."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist", "check the path (paths in a CSV are relative to the CSV's folder)")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {str(exc).splitlines()[0][:120]}", "replace or remove the file") from None


def image_rows(path: Path, path_column: str | None, label_column: str | None) -> list[tuple[str, str]]:
    """(image path, label) pairs from a folder of class folders or a CSV of path,label."""
    if path.is_dir():
        return _folder_rows(path)
    if not path.is_file():
        raise DataError(f"data {shown_path(path)} does not exist", "give a folder with one sub-folder per class, or a CSV of path,label")
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise DataError(f"{path.name}: image data is a folder of class folders or a CSV", "write a CSV with columns path,label")
    return _csv_rows(path, path_column, label_column)


def unlabeled_images(path: Path, path_column: str | None) -> list[str]:
    """Image paths without labels (self-training): every image under a folder, or a CSV's path
    column; a CSV's label column is ignored, and said so."""
    import warnings

    from zoo_core import DataWarning

    if path.is_dir():
        images = sorted(str(file) for file in path.rglob("*") if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file())
        if not images:
            raise DataError(f"{path} has no images", f"put {', '.join(IMAGE_SUFFIXES[:3])} files in it (sub-folders are searched too)")
        return images
    if not path.is_file() or path.suffix.lower() not in (".csv", ".tsv"):
        raise DataError(f"unlabelled images {shown_path(path)}: give a folder of images or a CSV with an image path column", "write a CSV with a path column")
    with path.open(newline="", encoding="utf-8") as handle:
        present = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",").fieldnames or []
    label = next((name for name in LABEL_COLUMNS if name in present), None)
    if label:
        warnings.warn(DataWarning(f"{path.name}: its '{label}' column is ignored: self-training labels this data itself"), stacklevel=2)
    column = pick_column("image path", path_column, PATH_COLUMNS, present, path, FLAGS)
    return [image for image, _ in csv_pairs(path, column, ("image path", PATH_COLUMNS), column, ("image path", PATH_COLUMNS))]


def _folder_rows(root: Path) -> list[tuple[str, str]]:
    classes = sorted(folder for folder in root.iterdir() if folder.is_dir() and not folder.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class folders", "put each class's images in their own sub-folder, e.g. cats/ and dogs/")
    rows = []
    for folder in classes:
        images = sorted(file for file in folder.rglob("*") if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file())
        if not images:
            raise DataError(f"class folder {folder.name}/ has no images", f"add {', '.join(IMAGE_SUFFIXES[:3])} files to it or delete it")
        rows.extend((str(file), folder.name) for file in images)
    return rows


def _csv_rows(path: Path, path_column: str | None, label_column: str | None) -> list[tuple[str, str]]:
    return csv_pairs(path, path_column, ("image path", PATH_COLUMNS), label_column, ("label", LABEL_COLUMNS))


def csv_pairs(path: Path, first: str | None, first_kind: tuple[str, tuple[str, ...]], second: str | None, second_kind: tuple[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(absolute image path, value) rows of a CSV whose first picked column holds image paths."""
    if not path.is_file():
        raise DataError(f"data {shown_path(path)} does not exist", "give a CSV with an image path column")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            present = reader.fieldnames or []
            image = pick_column(first_kind[0], first, first_kind[1], present, path, FLAGS)
            value = pick_column(second_kind[0], second, second_kind[1], present, path, FLAGS)
            every = [(row.get(image) or "", row.get(value) or "") for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path.name} could not be read: {read_problem(path, exc)}", "fix that line, or save the file as UTF-8 CSV") from None
    rows = [(image_path, other) for image_path, other in every if image_path.strip() and other.strip()]
    warn_dropped(path, len(every) - len(rows), len(every), f"an empty {first_kind[0]} or {second_kind[0]}")
    if not rows:
        raise DataError(f"{path.name} has no rows with both an image path and a {second_kind[0]}", "fill in the empty cells")
    resolved = []
    for image_path, other in rows:
        full = (path.parent / image_path).resolve() if not Path(image_path).is_absolute() else Path(image_path)
        if not full.is_file():
            raise DataError(f"{path.name}: image {image_path} does not exist", f"paths are relative to {path.parent}")
        resolved.append((str(full), other.strip()))
    return resolved
