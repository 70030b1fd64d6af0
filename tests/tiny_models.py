"""Tiny models built from configs, and data they can really learn, for fast training tests."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "delightful", "charming", "gripping"]
NEGATIVE = ["dull", "awful", "boring", "clumsy", "tedious", "bland", "messy", "lifeless"]
NEUTRAL = ["the", "film", "a", "story", "with", "and", "its", "cast", "plot", "of", "was", "this", "movie", "scenes", "ending", "is"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT with a word-level tokenizer over the sentiment vocabulary, saved as safetensors.

    Its random "pretrained" weights come from `seed`: an unlucky draw once left a test's fine-tune at chance.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL + NEUTRAL + POSITIVE + NEGATIVE + ["[extra]"])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    folder.mkdir(parents=True, exist_ok=True)
    import torch

    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def wordpiece_bert(folder: Path, texts: list[str], vocab_size: int, **config: Any) -> Path:
    """A BERT encoder (random weights, fixed seed: the untrained scores are stable) with a lowercasing
    WordPiece tokenizer trained here on `texts`; `config` sets BertConfig's sizes."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.get_vocab_size(), num_hidden_layers=2, **config)).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def sentiment_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """Sentences whose label is carried by one sentiment word among neutral ones."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choice(["positive", "negative"])
        words = rng.sample(NEUTRAL, 5) + [rng.choice(POSITIVE if label == "positive" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = ("text", "label")) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def tiny_timm(folder: Path) -> Path:
    """timm's `test_efficientnet` (~0.2M parameters) at 32x32, saved as a timm Hub folder."""
    import json

    import timm
    from timm.models._hub import save_for_hf

    model = timm.create_model("test_efficientnet", pretrained=False)
    save_for_hf(model, folder, safe_serialization=True)
    config = json.loads((folder / "config.json").read_text())
    config.pop("model_args", None)  # Hub repos have none; it would fight transformers' num_labels
    config["pretrained_cfg"].update(input_size=[3, 32, 32], crop_pct=1.0)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def tiny_vit(folder: Path) -> Path:
    """A 2-layer ViT on 32x32 images (transformers), with its image processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def colour_images(folder: Path, per_class: int, seed: int, odd_modes: bool = False) -> Path:
    """A folder of class folders: noisy 40x40 pictures whose class is their dominant colour.

    With `odd_modes`, some are saved RGBA or grayscale, as real data sets mix them.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            if odd_modes and index < 2:
                image = image.convert(("RGBA", "L")[index])
            image.save(folder / name / f"{index}.png")
    return folder


CAPTION_WORDS = ["a", "an", "photo", "picture", "image", "of", "colour", "square", "."] + list(COLOURS)


def tiny_clip(folder: Path) -> Path:
    """A 2-layer CLIP (32x32 images, word-level text over colour captions) with its tokenizer and image processor."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "<start>", "<end>"]
    vocab = {token: index for index, token in enumerate(special + CAPTION_WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="<start> $A <end>", special_tokens=[("<start>", 2), ("<end>", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", bos_token="<start>", eos_token="<end>")
    tower = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    text = {**tower, "vocab_size": len(vocab), "max_position_embeddings": 16, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
    config = CLIPConfig(text_config=text, vision_config={**tower, "image_size": 32, "patch_size": 8}, projection_dim=16)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # the same "pretrained" weights every run: before-fine-tuning recall is stable
    CLIPModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def colour_pairs(folder: Path, per_colour: int, seed: int) -> Path:
    """image,text pairs: colour pictures captioned with their colour, as a CSV beside the images."""
    images = colour_images(folder / "pictures", per_colour, seed)
    rows = [(str(path.relative_to(folder)), f"a photo of {path.parent.name}") for path in sorted(images.rglob("*.png"))]
    return write_csv(folder / "pairs.csv", rows, ("image", "text"))


def corpus_lines(count: int, seed: int) -> list[str]:
    """Domain text for language modelling: review-like sentences with a repeated structure a tiny model can learn."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        opinion = rng.choice(POSITIVE + NEGATIVE)
        lines.append(f"the {rng.choice(['film', 'movie', 'story'])} was {opinion} and the cast was {opinion} .")
    return lines


def _trained_tokenizer(lines: list[str], special: list[str], vocab_size: int = 700) -> Any:
    """A byte-level BPE tokenizer trained here on `lines` (no hub needed)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    words = POSITIVE + NEGATIVE + NEUTRAL + ["Review:", "Sentiment:", "positive", "negative", "good", "bad"]
    tokenizer.train_from_iterator(lines + words + [" " + word for word in words], trainer)
    return tokenizer


def tiny_gpt2(folder: Path) -> Path:
    """A 2-layer GPT-2 with a BPE tokenizer trained locally on the review corpus (random weights)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tokenizer = _trained_tokenizer(corpus_lines(200, 0), ["<|endoftext|>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    config = GPT2Config(vocab_size=tokenizer.get_vocab_size(), n_embd=32, n_layer=2, n_head=2, n_positions=128, bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def tiny_t5(folder: Path) -> Path:
    """A 2-layer T5 with a BPE tokenizer trained locally, with T5's pad/eos/unk and 20 sentinel tokens."""
    import torch
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    sentinels = [f"<extra_id_{index}>" for index in range(20)]
    tokenizer = _trained_tokenizer(corpus_lines(200, 0) + [f"{word} {word}" for word in POSITIVE + NEGATIVE], ["<pad>", "</s>", "<unk>", *sentinels])
    from tokenizers import processors

    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", additional_special_tokens=sentinels)
    config = T5Config(vocab_size=tokenizer.get_vocab_size(), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
