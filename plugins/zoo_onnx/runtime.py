"""ONNX Runtime sessions on the best provider present: TensorRT, CUDA, then CPU."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.errors import ZooError

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
# onnxruntime-gpu lists GPU providers even where they cannot load; these libraries tell.
NEEDS = {"TensorrtExecutionProvider": ("libcuda.so.1", "libnvinfer.so.10"), "CUDAExecutionProvider": ("libcuda.so.1",)}


class ExportError(ZooError):
    """An export that cannot be made, or that does not match its PyTorch model."""


def _loadable(library: str) -> bool:
    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def providers(wanted: str | None = None) -> list[str]:
    """Providers that can run here, best first; `wanted` (cpu, cuda, tensorrt) pins one."""
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    available = [name for name in onnxruntime.get_available_providers() if all(_loadable(lib) for lib in NEEDS.get(name, ()))]
    if "CUDAExecutionProvider" in available and hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()  # the CUDA and cuDNN libraries torch installed
    if wanted:
        name = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}.get(wanted.lower(), wanted)
        if name not in available:
            raise ExportError(f"provider {wanted} is not available here", f"available: {', '.join(available)}")
        return [name, "CPUExecutionProvider"] if name != "CPUExecutionProvider" else [name]
    return [name for name in PREFERENCE if name in available]


def session(path: Path, provider: str | None = None, threads: int | None = None) -> Any:
    """An inference session; a corrupt or unreadable graph is a one-line error."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers(provider))
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"{path.name} is not a usable ONNX graph: {str(exc).splitlines()[0][:200]}", "export the model again with zoo export") from None


def run(session: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Feed only the inputs the graph declares (tokenizers produce extras)."""
    names = [item.name for item in session.get_inputs()]
    missing = [name for name in names if name not in inputs]
    if missing:
        raise ExportError(f"the graph needs inputs {', '.join(missing)} that these inputs do not provide", "give the kind of input the model was trained on")
    return session.run(None, {name: inputs[name] for name in names})
