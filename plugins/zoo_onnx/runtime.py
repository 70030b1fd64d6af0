"""ONNX Runtime sessions on the best provider present (TensorRT, CUDA, then CPU), and
the runtime `zoo predict`, `zoo bench` and `zoo export --data` open exports with.

On a GPU, inputs and outputs go through I/O binding: `prepare` puts fixed inputs
on the device once, so timing measures the graph, not the PCIe bus, and with
`static` shapes the CUDA provider captures the run as a CUDA graph and replays it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import ExportReport, ZooError

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
SHORT = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
# onnxruntime-gpu lists GPU providers even where they cannot load; these libraries tell.
NEEDS = {"TensorrtExecutionProvider": ("libcuda.so.1", "libnvinfer.so.10"), "CUDAExecutionProvider": ("libcuda.so.1",)}
# The fastest variant for each provider, best first.
FASTEST = {
    "CPUExecutionProvider": ("int8", "optimized", "fp32"),
    "CUDAExecutionProvider": ("fp16", "optimized", "fp32"),
    "TensorrtExecutionProvider": ("fp16", "optimized", "fp32"),
}
GPU = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


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
    if any(name in available for name in GPU) and hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()  # the CUDA and cuDNN libraries torch installed
    if wanted:
        name = SHORT.get(wanted.lower(), wanted)
        if name not in available:
            shown = ", ".join(short for short, full in SHORT.items() if full in available)
            raise ExportError(f"provider {wanted} is not available here", f"pass --provider {shown.split(', ')[0]} (available: {shown})")
        return [name, *(["CUDAExecutionProvider"] if name == "TensorrtExecutionProvider" else []), "CPUExecutionProvider"] if name != "CPUExecutionProvider" else [name]
    return [name for name in PREFERENCE if name in available]


def session(path: Path, provider: str | list[str] | None = None, threads: int | None = None, cuda_graph: bool = False) -> Any:
    """An inference session; a corrupt or unreadable graph is a one-line error."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    chosen = provider if isinstance(provider, list) else providers(provider)
    if cuda_graph:
        chosen = [(name, {"enable_cuda_graph": "1"}) if name == "CUDAExecutionProvider" else name for name in chosen if name != "TensorrtExecutionProvider"]
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as exc:
        if cuda_graph:
            raise ExportError(f"{path.name} cannot be replayed as a CUDA graph: {str(exc).splitlines()[0][:200]}", "time it without --cuda-graph") from None
        raise ExportError(f"{path.name} is not a usable ONNX graph: {str(exc).splitlines()[0][:200]}", "export the model again with zoo export") from None


def run(session: Any, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Feed only the inputs the graph declares (tokenizers produce extras)."""
    return session.run(None, _feed(session, inputs))


def _feed(session: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [item.name for item in session.get_inputs()]
    missing = [name for name in names if name not in inputs]
    if missing:
        raise ExportError(f"the graph needs inputs {', '.join(missing)} that these inputs do not provide", "give the kind of input the model was trained on")
    return {name: np.ascontiguousarray(inputs[name]) for name in names}


class OnnxRuntime:
    """One variant of an ONNX export, every graph of it in a session on one provider."""

    def __init__(self, export_dir: Path, report: ExportReport, provider: str | None, variant: str | None, threads: int | None = None) -> None:
        chosen = providers(provider)
        if variant is None:
            variant = next(name for name in (*FASTEST.get(chosen[0], ()), *report.variants) if name in report.variants)
        elif variant not in report.variants:
            raise ExportError(f"this export has no {variant} variant", f"pass --variant {' or '.join(report.variants)}")
        self.export_dir, self.variant, self.threads, self._chosen = export_dir, variant, threads, chosen
        self.files = report.variants[variant].files
        self.sessions = {graph: session(export_dir / file, chosen, threads) for graph, file in self.files.items()}
        self.provider = next(iter(self.sessions.values())).get_providers()[0]

    @property
    def on_gpu(self) -> bool:
        return self.provider in GPU

    def run(self, inputs: Mapping[str, Any], graph: str = "model") -> list[np.ndarray]:
        if graph not in self.sessions:
            raise ExportError(f"this export has no graph '{graph}'", f"its graphs are {', '.join(self.sessions)}")
        chosen = self.sessions[graph]
        if not self.on_gpu:
            return run(chosen, inputs)
        bound = _Bound(chosen, _feed(chosen, inputs))
        bound.once()
        return bound.outputs()

    def prepare(self, inputs: Mapping[str, Any], static: bool = False) -> Callable[[], Any]:
        [graph] = self.sessions  # bench times single-graph exports
        chosen = self.sessions[graph]
        feed = _feed(chosen, inputs)
        if not self.on_gpu:
            return lambda: chosen.run(None, feed)
        shapes = None
        if static and self.provider == "CUDAExecutionProvider":
            # CUDA graphs replay fixed addresses: outputs are allocated once, shaped by an ordinary run
            shapes = [array.shape for array in chosen.run(None, feed)]
            chosen = session(self.export_dir / self.files[graph], self._chosen, self.threads, cuda_graph=True)
        bound = _Bound(chosen, feed, shapes)
        bound.once()  # with a CUDA graph, the first runs capture it and later runs replay it
        return bound.once


class _Bound:
    """I/O binding: inputs copied to the device once, outputs left there (in buffers
    allocated once when `shapes` are given, as CUDA-graph replay needs)."""

    def __init__(self, chosen: Any, feed: dict[str, np.ndarray], shapes: list[tuple[int, ...]] | None = None, device: str = "cuda") -> None:
        import onnxruntime

        self.session = chosen
        self.binding = chosen.io_binding()
        self._keep = []  # the device buffers must outlive the binding
        for name, array in feed.items():
            value = onnxruntime.OrtValue.ortvalue_from_numpy(array, device, 0)
            self._keep.append(value)
            self.binding.bind_ortvalue_input(name, value)
        for number, output in enumerate(chosen.get_outputs()):
            if shapes is None:  # onnxruntime allocates on the device
                self.binding.bind_output(output.name, device, 0)
                continue
            dtype = np.float16 if output.type == "tensor(float16)" else np.float32
            value = onnxruntime.OrtValue.ortvalue_from_shape_and_type(shapes[number], dtype, device, 0)
            self._keep.append(value)
            self.binding.bind_ortvalue_output(output.name, value)

    def once(self) -> None:
        self.session.run_with_iobinding(self.binding)
        self.binding.synchronize_outputs()

    def outputs(self) -> list[np.ndarray]:
        return self.binding.copy_outputs_to_cpu()


def open_export(export_dir: Path, report: ExportReport, provider: str | None, variant: str | None, threads: int | None = None) -> OnnxRuntime:
    return OnnxRuntime(export_dir, report, provider, variant, threads)
