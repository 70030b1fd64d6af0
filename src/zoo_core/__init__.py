"""zoo: a plugin-based model-zoo manager for people who adapt pretrained models."""

import pluggy

from zoo_core.types import Domain, Exporter, Method, Source

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("zoo")

__all__ = ["Domain", "Exporter", "Method", "Source", "__version__", "hookimpl"]
