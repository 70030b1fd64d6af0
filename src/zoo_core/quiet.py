"""Libraries imported with their chatter off: zoo replaces heads on purpose, so transformers'
"newly initialized"/"mismatched" reports and its progress bars only distract the user."""

from __future__ import annotations

from typing import Any


def quiet_transformers() -> Any:
    """The `transformers` module, imported now (not at plugin import), with its logging at errors only."""
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    return transformers
