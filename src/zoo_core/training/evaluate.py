"""`zoo eval`: a trained model's scores on held-out data (a classifier's accuracy and macro-F1, or the
task adapter's own metrics); `zoo export --data` compares its variants against these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.catalog import Catalog
from zoo_core.errors import DataError, RefError
from zoo_core.hub_data import local_data, shown
from zoo_core.plugins import Plugins
from zoo_core.refs import resolve, task_for
from zoo_core.runtime import EXPORT_INFO
from zoo_core.store import refused_pickle
from zoo_core.training.data import read_data
from zoo_core.training.trainer import classification_metrics
from zoo_core.types import Columns


def evaluate(
    ref: str,
    data: Path,
    columns: Columns,
    catalog: Catalog,
    plugins: Plugins,
    batch_size: int = 32,
    domain: str | None = None,
    allow_pickle: bool = False,
    report: Callable[[str], None] = lambda line: None,
    task: str | None = None,
) -> dict[str, Any]:
    """Accuracy and macro-F1 of a classifier, or the adapter's own metrics (retrieval recall), on held-out data."""
    if (Path(ref) / EXPORT_INFO).is_file():
        raise RefError(f"{ref} is an export; zoo eval scores models", "evaluate the model it came from (zoo eval REF --data FILE); zoo export REF --data FILE compares a classifier's variants")
    model = resolve(ref, catalog, plugins, allow_pickle)
    source, data = data, local_data(data)
    with refused_pickle(model.name):
        task, adapter = plugins.task_adapter(domain or model.domain, task or task_for(model, domain or model.domain, catalog, plugins), ref)
    adapter.configure({"max_length": (model.info or {}).get("max_length")})
    dataset = read_data(adapter, data, columns, report)  # bad data fails before the model loads
    with refused_pickle(model.name):
        network, processor, labels = adapter.load_trained(model.path)
    if not adapter.labelled:
        with plugins.guarded("task", f"{domain or model.domain}/{task}", "evaluate"):
            scores = adapter.evaluate(network, processor, dataset, labels)
        return {"model": ref, "data": shown(source), "examples": len(dataset), **scores}
    unseen = sorted(set(dataset["label"]) - set(labels))
    if unseen:
        raise DataError(f"{data.name} has labels the model never saw in training: {', '.join(unseen[:5])}", f"its labels are {', '.join(labels)}")
    max_length = (model.info or {}).get("max_length", 128)
    import torch
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(settings.zoo_home() / "cache" / "eval"),
        per_device_eval_batch_size=batch_size,
        report_to=[],
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,
    )
    trainer = Trainer(model=network, args=args, data_collator=adapter.collator(processor), compute_metrics=classification_metrics)
    prediction = trainer.predict(adapter.encode(dataset, processor, labels, max_length))
    return {"model": ref, "data": shown(source), "examples": len(dataset), "accuracy": prediction.metrics["test_accuracy"], "macro_f1": prediction.metrics["test_macro_f1"]}
