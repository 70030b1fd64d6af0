"""The methods' work on a torch model: which parameters train, and LoRA through PEFT."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from zoo_core import RecipeError, head_names

# PEFT's task types by zoo task; tasks PEFT has no type for keep their head via modules_to_save.
PEFT_TASK_TYPES = {
    "text-classification": "SEQ_CLS",
    "token-classification": "TOKEN_CLS",
    "text-generation": "CAUSAL_LM",
    "question-answering": "QUESTION_ANS",
    **dict.fromkeys(("text2text-generation", "translation", "summarization", "span-corruption"), "SEQ_2_SEQ_LM"),
}
# Attention projections by their usual names, for models PEFT has no default for (ViT, CLIP, timm),
# and the 1x1 convolutions of timm's EfficientNet and MobileNet blocks (LoRA on a 1x1 conv is LoRA on a linear map).
LORA_CANDIDATES = (("q_proj", "v_proj"), ("query", "value"), ("qkv",), ("conv_pw", "conv_pwl"))


def layer_stack(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The backbone's sequence of blocks: its longest ModuleList (encoder.layer, h), or timm's blocks/stages."""
    stacks = [module for module in model.modules() if isinstance(module, torch.nn.ModuleList)]
    stacks = stacks or [module for name, module in model.named_modules() if name.rsplit(".", 1)[-1] in ("blocks", "stages", "layers")]
    if not stacks:
        raise RecipeError(f"{type(model).__name__} has no stack of layers to unfreeze", "drop unfreeze_last")
    return max(stacks, key=len)


def train_everything(model: torch.nn.Module, options: dict[str, Any]) -> torch.nn.Module:
    for parameter in model.parameters():
        parameter.requires_grad = True
    return model


def train_head_only(model: torch.nn.Module, options: dict[str, Any]) -> torch.nn.Module:
    heads = head_names(model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name in heads
    # a language model's output layer is often its input embeddings (GPT-2, BERT's decoder): with no head
    # of its own, the top layer is what trains
    unfreeze = options["unfreeze_last"] if options.get("unfreeze_last") is not None else (0 if heads else 1)
    if unfreeze:
        stack = layer_stack(model)
        if unfreeze > len(stack):
            raise RecipeError(f"unfreeze_last {unfreeze} is more than the model's {len(stack)} layers", f"use a number from 1 to {len(stack)}")
        for layer in list(stack)[-unfreeze:]:
            for parameter in layer.parameters():
                parameter.requires_grad = True
    return model


def add_lora(model: torch.nn.Module, options: dict[str, Any]) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = options.get("target_modules")
    if not targets and model_type not in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        targets = next((list(names) for names in LORA_CANDIDATES if set(names) <= present), None)
    if not targets and model_type not in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        raise RecipeError(f"no default LoRA target modules for a {model_type or type(model).__name__} model", "name them with --target-modules, e.g. query,value")
    task_type = PEFT_TASK_TYPES.get(options.get("task", ""))
    config = LoraConfig(
        r=options["rank"],
        lora_alpha=options["alpha"],
        lora_dropout=options["dropout"],
        target_modules=targets or None,
        task_type=task_type,
        modules_to_save=None if task_type else sorted({name.rsplit(".", 1)[0] for name in head_names(model) if "." in name}),
    )
    try:
        with warnings.catch_warnings():  # PEFT reads transformers' deprecated is_gradient_checkpointing: nothing a user can act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, config)
    except ValueError as exc:  # PEFT's word for target modules the model does not have
        raise RecipeError(f"LoRA cannot adapt this model: {str(exc).splitlines()[0][:200]}", "name existing modules with --target-modules, e.g. query,value") from None
