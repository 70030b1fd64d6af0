"""Tracing a model to a TorchScript archive, checking it, and running it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_core import ExportedVariant, ExportReport, ExportSpec, TaskAdapter, ZooError

ARCHIVE = "model.pt"
TOLERANCE = 1e-4
CHECK_SHAPES = ((1, 8), (4, 37), (8, 64))


class TorchScriptError(ZooError):
    """A model that cannot be traced, or whose archive does not match it."""


class _Positional(torch.nn.Module):
    """The model with positional inputs and a tuple of outputs, which is what tracing needs."""

    def __init__(self, model: torch.nn.Module, spec: ExportSpec) -> None:
        super().__init__()
        self.model, self.input_names, self.output_names = model, spec.input_names, spec.output_names

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(**dict(zip(self.input_names, inputs)))
        return tuple(outputs[name] for name in self.output_names)


def export(model_dir: Path, adapter: TaskAdapter, out_dir: Path, options: dict[str, Any]) -> ExportReport:
    """Trace the fine-tuned model, check the archive on fresh shapes, save it with its preprocessor.

    The format declares no options, so zoo itself refuses --quantize, --optimize and --fp16 for it."""
    model, processor, labels = adapter.load_trained(model_dir)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # traceable everywhere; SDPA's mask handling is data-dependent
    model.eval()
    spec = adapter.export_spec(model, processor)
    wrapped = _Positional(model, spec)
    sample = spec.sample(2, min(16, spec.max_length), 0)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings; the check below is what tells
            traced = torch.jit.trace(wrapped, tuple(torch.from_numpy(sample[name]) for name in spec.input_names), strict=False, check_trace=False)
    except Exception as exc:
        raise TorchScriptError(f"{type(model).__name__} cannot be traced: {str(exc).splitlines()[0][:200]}", "export with --format onnx instead") from None
    traced.save(str(out_dir / ARCHIVE))
    diffs = _check(_load(out_dir / ARCHIVE, torch.device("cpu")), wrapped, spec)
    processor.save_pretrained(out_dir)
    return ExportReport(
        variants={"fp32": ExportedVariant({"model": ARCHIVE}, diffs)},
        labels=labels,
        max_length=spec.max_length,
        details={"torch": torch.__version__, "inputs": list(spec.input_names), "outputs": list(spec.output_names)},
    )


def _check(archive: Any, eager: torch.nn.Module, spec: ExportSpec) -> dict[str, float]:
    """Max abs diff per output between the archive and eager PyTorch; beyond the tolerance is an error."""
    worst = {name: 0.0 for name in spec.output_names}
    for seed, (batch, length) in enumerate(CHECK_SHAPES, start=1):
        inputs = tuple(torch.from_numpy(array) for array in spec.sample(batch, min(length, spec.max_length), seed).values())
        with torch.no_grad():
            for name, want, got in zip(spec.output_names, eager(*inputs), archive(*inputs)):
                worst[name] = max(worst[name], float((want - got).abs().max()))
    if any(diff > TOLERANCE for diff in worst.values()):
        table = ", ".join(f"{name}: {diff:.2e}" for name, diff in worst.items())
        raise TorchScriptError(f"the traced archive does not match PyTorch (max abs diff {table}; tolerance {TOLERANCE:g})", "export with --format onnx instead")
    return worst


def _load(path: Path, device: torch.device) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export, and still works
        return torch.jit.load(str(path), map_location=device)


class TorchScriptRuntime:
    """A TorchScript archive on the CPU or a CUDA GPU."""

    def __init__(self, export_dir: Path, report: ExportReport, provider: str | None, variant: str | None, threads: int | None) -> None:
        if variant not in (None, "fp32"):
            raise TorchScriptError(f"this export has no {variant} variant", "pass --variant fp32")
        if provider not in (None, "cpu", "cuda"):
            raise TorchScriptError(f"provider {provider} does not run TorchScript", "pass --provider cpu or --provider cuda")
        if provider == "cuda" and not torch.cuda.is_available():
            raise TorchScriptError("provider cuda is not available here", "pass --provider cpu")
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device("cuda" if provider != "cpu" and torch.cuda.is_available() else "cpu")
        self.module = _load(export_dir / report.variants["fp32"].files["model"], self.device)
        self.input_names = report.details["inputs"]
        self.variant, self.provider = "fp32", f"torch {self.device.type}"

    def _tensors(self, inputs: Mapping[str, Any]) -> list[torch.Tensor]:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise TorchScriptError(f"the archive needs inputs {', '.join(missing)} that these inputs do not provide", "give the kind of input the model was trained on")
        return [torch.from_numpy(np.ascontiguousarray(inputs[name])).to(self.device) for name in self.input_names]

    def run(self, inputs: Mapping[str, Any], graph: str = "model") -> list[np.ndarray]:
        with torch.inference_mode():
            return [output.float().cpu().numpy() for output in self.module(*self._tensors(inputs))]

    def prepare(self, inputs: Mapping[str, Any], static: bool = False) -> Callable[[], Any]:
        tensors = self._tensors(inputs)

        def once() -> None:
            with torch.inference_mode():
                self.module(*tensors)
            if self.device.type == "cuda":
                torch.cuda.synchronize()

        return once
