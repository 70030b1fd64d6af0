"""Which parameters of a task model are its new head, so they can train at their own pace.

A head starts from random weights while the backbone starts from pretrained ones:
the head needs a learning rate one to two orders higher to learn in a short run.
Methods use the same split to decide what a frozen backbone leaves trainable.
"""

from __future__ import annotations

from typing import Any

from zoo_core.errors import RecipeError


def head_names(model: Any) -> set[str]:
    """Parameter names of the task head: what is not part of the pretrained backbone."""
    if hasattr(model, "visual_projection") and hasattr(model, "text_projection"):  # CLIP-style: the projections (LiT)
        return {name for name, _ in model.named_parameters() if name.split(".")[0] in ("visual_projection", "text_projection", "logit_scale")}
    timm_model = getattr(model, "timm_model", model)  # transformers' TimmWrapper keeps timm's head inside
    if hasattr(timm_model, "get_classifier"):
        ids = {id(parameter) for parameter in timm_model.get_classifier().parameters()}
        return {name for name, parameter in model.named_parameters() if id(parameter) in ids}
    prefix = getattr(model, "base_model_prefix", None)
    if prefix and hasattr(model, prefix):  # Hugging Face: the backbone lives under model.<prefix>
        return {name for name, _ in model.named_parameters() if not name.startswith(prefix + ".")}
    raise RecipeError(f"cannot tell the head of a {type(model).__name__} from its backbone", "use --method full")


def head_modules(model: Any) -> set[str]:
    """Dotted paths of the modules holding the head, or none where the model has no clear head."""
    try:
        names = head_names(model)
    except RecipeError:
        return set()
    return {name.rsplit(".", 1)[0] if "." in name else name for name in names}


def in_head(parameter_name: str, modules: set[str]) -> bool:
    """Whether a parameter belongs to one of the head modules, also once PEFT has wrapped the model."""
    dotted = f".{parameter_name}."
    return any(f".{module}." in dotted for module in modules)
