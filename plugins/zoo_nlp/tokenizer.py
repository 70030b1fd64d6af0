"""Loading a checkpoint's tokenizer, where a missing or unusable one is one line, not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core import RecipeError, trust_remote_code


def load_tokenizer(model_dir: Path, **options: Any) -> Any:
    """transformers' AutoTokenizer for `model_dir`, padding with its end-of-text token where it has no pad
    token; a folder whose tokenizer files are missing or need a library that is not installed
    (sentencepiece, tiktoken) is a `RecipeError` naming the folder."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code(), **options)
    except (ValueError, OSError, TypeError) as exc:  # transformers' words for "no backend tokenizer could be built"
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise RecipeError(f"{model_dir.name} has no tokenizer zoo can load ({reason})", "put the model's tokenizer.json (a fast tokenizer) in the folder, or pull the model again") from None
    if tokenizer.pad_token is None:  # GPT-2 and other decoders have none; batches need one
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
