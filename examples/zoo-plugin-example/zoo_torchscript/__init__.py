"""An example exporter plugin: TorchScript archives, run by PyTorch's TorchScript runtime.

It shows the whole exporter contract: `export` traces the model, checks the
archive against the eager model and returns an `ExportReport`; `open` returns
the runtime that `zoo predict`, `zoo bench` and `zoo export --data` use.
Heavy imports (torch) live in `zoo_torchscript.archive`, imported only when used.
"""

from __future__ import annotations

from zoo_core import Exporter, hookimpl


def _export(model_dir, adapter, out_dir, options):
    from zoo_torchscript.archive import export

    return export(model_dir, adapter, out_dir, options)


def _open(export_dir, report, provider, variant, threads):
    from zoo_torchscript.archive import TorchScriptRuntime

    return TorchScriptRuntime(export_dir, report, provider, variant, threads)


@hookimpl
def zoo_exporters():
    yield Exporter(
        format="torchscript",
        summary="TorchScript archive (torch.jit.trace), checked against PyTorch eager; runs on CPU or CUDA",
        export=_export,
        open=_open,
    )
