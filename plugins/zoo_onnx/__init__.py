"""The ONNX exporter: validated against PyTorch, optimised, quantised."""

from zoo_core import Exporter, hookimpl


def _export(model_dir, adapter, out_dir, options):
    from zoo_onnx.export import export

    return export(model_dir, adapter, out_dir, options)


@hookimpl
def zoo_exporters():
    yield Exporter(
        format="onnx",
        summary="ONNX Runtime graph checked against PyTorch; fused (--optimize), int8 (--quantize int8), fp16 (--fp16)",
        export=_export,
    )
