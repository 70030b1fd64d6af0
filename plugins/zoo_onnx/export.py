"""torch.onnx export, validation against PyTorch, and the optimised, int8 and fp16 variants."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import ExportedVariant, ExportReport, ExportSpec, TaskAdapter
from zoo_onnx.runtime import ExportError, run, session

FP32_TOLERANCE = 1e-3
FP16_TOLERANCE = 1e-2  # of the largest output: fp16 keeps about 3 significant digits
VALIDATION_SHAPES = ((1, 8), (4, 37), (32, 128))
TWO_GB = 2 * 1024**3


def export(model_dir: Path, adapter: TaskAdapter, out_dir: Path, options: dict[str, Any]) -> ExportReport:
    """Export, validate, make the variants asked for, and return the report."""
    opset = options["opset"]  # validated by OnnxOptions
    model, processor, labels = adapter.load_trained(model_dir)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # graphs onnxruntime's optimizer can fuse
    model.eval()
    graphs = adapter.export_graphs(model, processor)  # the whole model, or an adapter's towers (CLIP's image and text)
    files: dict[str, dict[str, str]] = {}
    diffs: dict[str, dict[str, float]] = {}
    for name, module, spec in graphs:
        for variant, file, diff in _variants(name, module, spec, out_dir, opset, options):
            files.setdefault(variant, {})[name] = file
            diffs.setdefault(variant, {}).update(diff)
    details: dict[str, Any] = {}
    if adapter.generates:  # the tokens must be PyTorch's, not just the logits
        details["greedy_match"] = {variant: _check_tokens(adapter, model, processor, out_dir, graph_files, variant) for variant, graph_files in files.items()}
    processor.save_pretrained(out_dir)
    text = next((spec for _, _, spec in graphs if "input_ids" in spec.input_names), graphs[0][2])
    return ExportReport(
        variants={variant: ExportedVariant(files[variant], diffs[variant]) for variant in files},
        labels=labels,
        max_length=text.max_length,
        graphs=tuple(name for name, _, _ in graphs),
        details={
            "opset": opset,
            "inputs": [name for _, _, spec in graphs for name in spec.input_names],
            "outputs": [name for _, _, spec in graphs for name in spec.output_names],
            **details,
        },
    )


def _check_tokens(adapter: TaskAdapter, model: Any, processor: Any, out_dir: Path, graph_files: dict[str, str], variant: str) -> float:
    """Greedy generation on this variant's graphs against PyTorch's: fp32 and fused graphs must match
    exactly; quantised ones report the share of prompts that match."""
    sessions = {graph: session(out_dir / file, provider="cpu") for graph, file in graph_files.items()}
    strict = variant in ("fp32", "optimized")
    result = adapter.check_graphs(model, processor, lambda inputs, graph: run(sessions[graph], inputs), strict, f"{variant} ({', '.join(graph_files.values())})")
    return float(result["greedy_match"])


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
        half = fused_fp16(graph, spec, out_dir / f"{name}.fp16.onnx")
        yield "fp16", half.name, validate(half, module, spec, tolerance=FP16_TOLERANCE, relative=True)


def _torch_export(model: Any, spec: ExportSpec, path: Path, opset: int) -> None:
    import torch

    model.eval()  # the exporter puts a module back in the mode it found it in: a fresh wrapper would train (dropout on)
    args, kwargs = call_arguments(model, spec, {name: torch.from_numpy(array) for name, array in spec.sample(2, min(16, spec.max_length), 0).items()})
    large = sum(parameter.numel() * parameter.element_size() for parameter in model.parameters()) > TWO_GB
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings; validation is what tells
            torch.onnx.export(
                model,
                args,
                str(path),
                kwargs=kwargs,
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


def call_arguments(model: Any, spec: ExportSpec, inputs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Inputs by name where `forward` names them all (a Hugging Face model); else in input order (a
    module taking a variable number of inputs, such as a decoder's cache, as `*past`)."""
    import inspect

    parameters = inspect.signature(model.forward).parameters
    if all(name in parameters for name in inputs):
        return (), inputs
    return tuple(inputs[name] for name in spec.input_names), {}


def validate(path: Path, model: Any, spec: ExportSpec, tolerance: float | None = FP32_TOLERANCE, relative: bool = False) -> dict[str, float]:
    """ONNX Runtime against PyTorch on fresh inputs of several shapes; max abs diff per output.

    With a tolerance (times the largest PyTorch output, at least 1, when `relative`),
    any output beyond it fails the export with the whole table; NaN or infinite
    outputs always do.
    """
    import torch

    runtime = session(path, provider="cpu")
    worst: dict[str, float] = {name: 0.0 for name in spec.output_names}
    scale = 1.0
    for seed, (batch, length) in enumerate(VALIDATION_SHAPES, start=1):
        inputs = spec.sample(batch, min(length, spec.max_length), seed)
        args, kwargs = call_arguments(model, spec, {name: torch.from_numpy(array) for name, array in inputs.items()})
        with torch.no_grad():
            expected = model(*args, **kwargs)
        expected = [output.float().numpy() for output in named_outputs(expected, spec.output_names)]
        actual = run(runtime, inputs)
        for name, want, got in zip(spec.output_names, expected, actual):
            got = got.astype(np.float32)
            if not np.isfinite(got).all():
                raise ExportError(f"{path.name} gives NaN or infinite {name} where PyTorch does not", "the export is wrong; nothing was kept")
            worst[name] = max(worst[name], float(np.max(np.abs(want - got))))
            scale = max(scale, float(np.max(np.abs(want))))
    allowed = None if tolerance is None else tolerance * (scale if relative else 1.0)
    if allowed is not None and any(diff > allowed for diff in worst.values()):
        table = ", ".join(f"{name}: {diff:.2e}" for name, diff in worst.items())
        raise ExportError(f"{path.name} does not match PyTorch (max abs diff {table}; tolerance {allowed:.2g})", "the export is wrong; nothing was kept")
    return worst


def named_outputs(outputs: Any, names: tuple[str, ...]) -> list[Any]:
    """A module's outputs in `names` order: a ModelOutput or dict by name, a tuple in order, or one tensor."""
    if isinstance(outputs, dict):  # transformers' ModelOutput is a dict too
        return [outputs[name] for name in names]
    return list(outputs[: len(names)]) if isinstance(outputs, (tuple, list)) else [outputs]


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
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process for static quantization does not apply to dynamic int8
    try:
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=True,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            # fused graphs use com.microsoft operators that ONNX shape inference cannot type
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    return target


def fused_fp16(graph: Path, spec: ExportSpec, target: Path) -> Path:
    """The GPU graph: fused by onnxruntime's transformer optimizer for CUDA (Attention,
    SkipLayerNormalization, BiasGelu), then fp16 inside with fp32 inputs and outputs.

    Converting the unfused graph instead leaves attention as a dozen small fp16
    kernels, which loses to PyTorch fp16 at large batches.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    if spec.model_type:
        fused = optimize_model(str(graph), model_type=spec.model_type, num_heads=spec.num_heads, hidden_size=spec.hidden_size, opt_level=0, use_gpu=True)
    else:
        fused = optimize_model(str(graph), opt_level=0, use_gpu=True)
    fused.convert_float_to_float16(keep_io_types=True)
    fused.save_model_to_file(str(target))
    return target
