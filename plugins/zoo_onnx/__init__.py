"""The ONNX exporter: validated against PyTorch, optimised, quantised, and run on ONNX Runtime."""

from zoo_core import Exporter, hookimpl


def _export(model_dir, adapter, out_dir, options):
    from zoo_onnx.export import export

    return export(model_dir, adapter, out_dir, options)


def _open(export_dir, report, provider, variant, threads):
    from zoo_onnx.runtime import open_export

    return open_export(export_dir, report, provider, variant, threads)


def _options():
    from zoo_onnx.options import OnnxOptions

    return OnnxOptions


def _log_model(export_dir, report):
    """A single-graph export is also an ONNX model MLflow can serve (its fp32 graph)."""
    if len(report.graphs) != 1:
        return None
    import mlflow
    import onnx

    [file] = report.variants["fp32"].files.values()
    return mlflow.onnx.log_model(onnx.load(str(export_dir / file)), name="onnx").model_uri


@hookimpl
def zoo_exporters():
    yield Exporter(
        format="onnx",
        summary="ONNX Runtime graph checked against PyTorch; fused (--optimize), int8 (--quantize int8), fused fp16 for GPUs (--fp16)",
        export=_export,
        open=_open,
        log_model=_log_model,
        options=_options,
    )
