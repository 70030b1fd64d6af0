"""CLIP end to end on a tiny random CLIP: retrieval recall, contrastive fine-tuning with
full/freeze/lora, zero-shot labels from PyTorch and from the exported towers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error, zoo
from tiny_models import colour_images, colour_pairs, tiny_clip

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

RECALLS = [f"{direction}_recall_at_{k}" for k in (1, 5, 10) for direction in ("image_to_text", "text_to_image")]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pairs")
    zoo("pull", str(tiny_clip(folder / "tiny-clip-ckpt")), "--name", "tiny-clip")
    return {
        "train": colour_pairs(folder / "train", 16, 1),
        "val": colour_pairs(folder / "val", 6, 2),
        "photos": colour_images(folder / "photos", 2, 3),
    }


def recall(ref: str, data: Path) -> dict:
    return json.loads(zoo("eval", ref, "--data", str(data), "--json").stdout)


def finetune(method: str, lr: str, pairs: dict[str, Path], *extra: str) -> dict:
    args = ["tiny-clip", "--data", str(pairs["train"]), "--val", str(pairs["val"]), "--method", method, "--lr", lr, "--epochs", "5", *extra, "--json"]
    return json.loads(zoo("finetune", *args).stdout)[0]


@pytest.fixture(scope="module")
def tuned(pairs: dict[str, Path]) -> dict:
    return finetune("full", "2e-3", pairs, "--register", "colour-clip")


def test_contrastive_fine_tuning_improves_retrieval(pairs: dict[str, Path], tuned: dict) -> None:
    before = recall("tiny-clip", pairs["val"])
    after = recall("models:/colour-clip/1", pairs["val"])
    assert before["examples"] == after["examples"] == 18 and set(RECALLS) <= set(after)
    assert before["text_to_image_recall_at_1"] < 0.9, "random towers do not know colours"
    assert after["text_to_image_recall_at_1"] == after["image_to_text_recall_at_1"] == 1.0
    assert tuned["metrics"]["image_to_text_recall_at_1"] == 1.0 and tuned["trainable"] == tuned["total"]
    shown = zoo("eval", "models:/colour-clip/1", "--data", str(pairs["val"])).stdout
    assert "image->text R@1 1.000" in shown and "text->image R@5" in shown


def test_zero_shot_from_pytorch_and_from_the_onnx_towers_agree(pairs: dict[str, Path], tuned: dict, tmp_path: Path) -> None:
    photos = [str(pairs["photos"] / colour / "0.png") for colour in ("red", "green", "blue")]
    labels = ["--labels", "red, green, blue"]
    torch_answer = json.loads(zoo("predict", "models:/colour-clip/1", *photos, *labels, "--json").stdout)
    assert [result["label"] for result in torch_answer] == ["red", "green", "blue"]

    export = tmp_path / "clip-onnx"
    info = json.loads(zoo("export", "models:/colour-clip/1", "--out", str(export), "--json").stdout)
    assert info["graphs"] == ["image", "text"] and set(info["variants"]["fp32"]["files"]) == {"image", "text"}
    assert max(info["variants"]["fp32"]["max_abs_diff"].values()) < 1e-3
    onnx_answer = json.loads(zoo("predict", str(export), *photos, *labels, "--json").stdout)
    assert [result["label"] for result in onnx_answer] == ["red", "green", "blue"]
    for mine, theirs in zip(torch_answer, onnx_answer):
        assert abs(mine["score"] - theirs["score"]) < 1e-4

    assert_one_line_error(zoo("predict", str(export), photos[0], "--labels", "", check=False), "needs candidate labels", "--labels")


def test_freeze_trains_only_the_projections(pairs: dict[str, Path]) -> None:
    result = finetune("freeze", "1e-2", pairs)
    assert result["trainable"] == 2 * 32 * 16 + 1, "visual and text projections plus the logit scale (LiT-style)"
    assert result["metrics"]["image_to_text_recall_at_1"] >= 0.9


def test_lora_adapts_both_towers(pairs: dict[str, Path]) -> None:
    result = finetune("lora", "5e-3", pairs)
    assert result["trainable"] < 0.2 * result["total"]
    assert result["metrics"]["text_to_image_recall_at_1"] >= 0.9


def test_image_text_data_must_be_pairs(pairs: dict[str, Path]) -> None:
    result = zoo("finetune", "tiny-clip", "--data", str(pairs["photos"]), check=False)
    assert_one_line_error(result, "image-text data is a CSV", "image,text")
