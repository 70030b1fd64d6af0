"""torch.onnx export, validation against PyTorch, and the optimised, int8 and fp16 variants."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.types import ExportSpec, TaskAdapter
from zoo_onnx.runtime import ExportError, run, session

FP32_TOLERANCE = 1e-3
VALIDATION_SHAPES = ((1, 8), (4, 37), (32, 128))
MIN_OPSET, MAX_OPSET = 14, 20
TWO_GB = 2 * 1024**3


def export(model_dir: Path, adapter: TaskAdapter, out_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Export, validate, make the variants asked for, and return the report."""
    opset = int(options.get("opset") or 17)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"opset {opset} is not supported", f"use an opset from {MIN_OPSET} to {MAX_OPSET} (default 17)")
    if options.get("quantize") not in (None, "int8"):
        raise ExportError(f"--quantize {options['quantize']} is not supported", "use --quantize int8 (or --fp16 for GPUs)")
    model, processor, labels = adapter.load_trained(model_dir)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # graphs onnxruntime's optimizer can fuse
    model.eval()
    graphs = graphs_of(adapter, model, processor)
    variants: dict[str, dict[str, Any]] = {}
    for name, module, spec in graphs:
        for variant, file, diff in _variants(name, module, spec, out_dir, opset, options):
            entry = variants.setdefault(variant, {"max_abs_diff": {}})
            if len(graphs) == 1:
                entry["file"] = file
            else:
                entry.setdefault("files", {})[name] = file
            entry["max_abs_diff"].update(diff)
    processor.save_pretrained(out_dir)
    text = next((spec for _, _, spec in graphs if "input_ids" in spec.input_names), graphs[0][2])
    return {
        "opset": opset,
        "labels": labels,
        "graphs": [name for name, _, _ in graphs],
        "inputs": [name for _, _, spec in graphs for name in spec.input_names],
        "outputs": [name for _, _, spec in graphs for name in spec.output_names],
        "max_length": text.max_length,
        "variants": variants,
    }


def graphs_of(adapter: TaskAdapter, model: Any, processor: Any) -> list[tuple[str, Any, ExportSpec]]:
    """One graph per exported module: the whole model, or an adapter's towers (CLIP's image and text)."""
    if hasattr(adapter, "export_graphs"):
        return adapter.export_graphs(model, processor)
    return [("model", model, adapter.export_spec(model, processor))]


def _variants(name: str, module: Any, spec: ExportSpec, out_dir: Path, opset: int, options: dict[str, Any]):
    """Export one graph, validate it, and make the variants asked for: (variant, file, max abs diffs)."""
    graph = out_dir / f"{name}.onnx"
    _torch_export(module, spec, graph, opset)
    yield "fp32", graph.name, validate(graph, module, spec)
    source = graph
    if options.get("optimize"):
        source = optimize(graph, spec)
        yield "optimized", source.name, validate(source, module, spec)
    if options.get("quantize"):
        quantized = quantize_int8(source, out_dir / f"{name}.int8.onnx")
        yield "int8", quantized.name, validate(quantized, module, spec, tolerance=None)
    if options.get("fp16"):
        half = to_fp16(graph, out_dir / f"{name}.fp16.onnx")
        yield "fp16", half.name, validate(half, module, spec, tolerance=None)


def _torch_export(model: Any, spec: ExportSpec, path: Path, opset: int) -> None:
    import torch

    sample = {name: torch.from_numpy(array) for name, array in spec.sample(2, min(16, spec.max_length), 0).items()}
    large = sum(parameter.numel() * parameter.element_size() for parameter in model.parameters()) > TWO_GB
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings; validation is what tells
            torch.onnx.export(
                model,
                (),
                str(path),
                kwargs=sample,
                input_names=list(spec.input_names),
                output_names=list(spec.output_names),
                dynamic_axes=spec.dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,  # the TorchScript exporter: graphs the transformer optimizer fuses
                external_data=large,
            )
    except Exception as exc:  # torch names the operator it could not export
        message = str(exc).splitlines()[0][:240]
        raise ExportError(f"{type(model).__name__} cannot be exported to ONNX opset {opset}: {message}", "try another --opset, or report the operator") from None


def validate(path: Path, model: Any, spec: ExportSpec, tolerance: float | None = FP32_TOLERANCE) -> dict[str, float]:
    """ONNX Runtime against PyTorch on fresh inputs of several shapes; max abs diff per output.

    With a tolerance, any output beyond it fails the export with the whole table.
    """
    import torch

    runtime = session(path, provider="cpu")
    worst: dict[str, float] = {name: 0.0 for name in spec.output_names}
    for seed, (batch, length) in enumerate(VALIDATION_SHAPES, start=1):
        inputs = spec.sample(batch, min(length, spec.max_length), seed)
        with torch.no_grad():
            expected = model(**{name: torch.from_numpy(array) for name, array in inputs.items()})
        expected = [expected[name].float().numpy() for name in spec.output_names]
        actual = run(runtime, inputs)
        for name, want, got in zip(spec.output_names, expected, actual):
            worst[name] = max(worst[name], float(np.max(np.abs(want - got.astype(np.float32)))))
    if tolerance is not None and any(diff > tolerance for diff in worst.values()):
        table = ", ".join(f"{name}: {diff:.2e}" for name, diff in worst.items())
        raise ExportError(f"{path.name} does not match PyTorch (max abs diff {table}; tolerance {tolerance:g})", "the export is wrong; nothing was kept")
    return worst


def optimize(graph: Path, spec: ExportSpec) -> Path:
    """onnxruntime's transformer optimizer: fused attention, LayerNorm and GELU."""
    from onnxruntime.transformers.optimizer import optimize_model

    target = graph.with_name(graph.stem + ".optimized.onnx")
    if spec.model_type:
        optimized = optimize_model(str(graph), model_type=spec.model_type, num_heads=spec.num_heads, hidden_size=spec.hidden_size, opt_level=1)
    else:
        optimized = optimize_model(str(graph), opt_level=1, only_onnxruntime=True)
    optimized.save_model_to_file(str(target))
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 weights, per channel: per-tensor scales cost MiniLM-class models accuracy."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        reduce_range=False,
        weight_type=QuantType.QInt8,
        # fused graphs use com.microsoft operators that ONNX shape inference cannot type
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return target


def to_fp16(graph: Path, target: Path) -> Path:
    """fp16 weights and compute for GPUs; inputs and outputs stay as they were."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(graph)), keep_io_types=True), str(target))
    return target


def latency(path: Path, inputs: dict[str, np.ndarray], runs: int, provider: str | None = None, threads: int | None = None) -> list[float]:
    """Seconds per run of one graph on fixed inputs, after a warm-up."""
    runtime = session(path, provider=provider, threads=threads)
    run(runtime, inputs)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        run(runtime, inputs)
        timings.append(time.perf_counter() - start)
    return timings
