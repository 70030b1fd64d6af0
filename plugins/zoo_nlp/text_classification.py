"""Text classification (single texts and text pairs) for any encoder or decoder.

Imported only when a command trains, evaluates, exports or predicts; each method
imports what it needs, so predicting with an ONNX export never loads torch.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from zoo_core import CLASSIFIER, Columns, DataError, ExportSpec, TaskAdapter, pick_column, quiet_transformers, trust_remote_code, warn_dropped
from zoo_nlp.tables import filled, load_table
from zoo_nlp.tokenizer import load_tokenizer

TEXT_COLUMNS = ("text", "sentence", "sentence1", "review", "content", "document", "premise", "question", "snippet")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis")
LABEL_COLUMNS = ("label", "labels", "category", "class", "sentiment", "target", "y")


def _pick(kind: str, wanted: str | None, candidates: tuple[str, ...], present: list[str], path: Path, required: bool = True) -> str | None:
    return pick_column(kind, wanted, candidates, present, path, "--label-col" if kind == "label" else "--text-col", required)


def _classifier(model_dir: Path, config: Any) -> Any:
    """What builds the classifier: mean pooling where the model was trained for it, else the architecture's own head."""
    from zoo_nlp import pooling

    if pooling.pooling(model_dir) == pooling.MEAN:
        return pooling.classifier_class(config)
    return quiet_transformers().AutoModelForSequenceClassification


class TextClassification(TaskAdapter):
    """The `TaskAdapter` for text-classification."""

    kind = CLASSIFIER


    def read(self, path: Path, columns: Columns) -> Any:
        import datasets

        dataset = load_table(path, "a header and at least two rows per class")
        present = list(dataset.column_names)
        text = _pick("text", columns.text, TEXT_COLUMNS, present, path)
        pair = _pick("text pair", columns.text_pair, PAIR_COLUMNS, present, path, required=False)
        label = _pick("label", columns.label, LABEL_COLUMNS, present, path)
        keep = [name for name in (text, pair, label) if name]
        total = len(dataset)
        dataset = dataset.select_columns(keep).filter(lambda row: all(filled(row[name]) for name in keep))
        warn_dropped(path, total - len(dataset), total, f"an empty or NaN {' or '.join(keep)}")
        if len(dataset) == 0:
            raise DataError(f"{path.name} has no rows with both a text and a label", "fill in the empty cells")
        renames = {text: "text", label: "label", **({pair: "text_pair"} if pair else {})}
        dataset = dataset.rename_columns({old: new for old, new in renames.items() if old != new})
        return dataset.map(lambda row: {"label": str(row["label"])}).cast_column("label", datasets.Value("string"))

    def read_unlabeled(self, path: Path, columns: Columns) -> Any:
        """Texts (and pairs) without labels, for self-training; a label column there is ignored, and said so."""
        import warnings

        from zoo_core import DataWarning

        dataset = load_table(path, "a header and one text per row")
        present = list(dataset.column_names)
        # --text-col names --data's column; raw data may call it something usual instead
        label = _pick("label", columns.label if columns.label in present else None, LABEL_COLUMNS, present, path, required=False)
        others = [name for name in present if name != label]
        only = others[0] if len(others) == 1 else None  # a file of texts alone, whatever its header says
        text = _pick("text", columns.text if columns.text in present else only, TEXT_COLUMNS, present, path)
        pair = _pick("text pair", columns.text_pair if columns.text_pair in present else None, PAIR_COLUMNS, present, path, required=False)
        if label:
            warnings.warn(DataWarning(f"{path.name}: its '{label}' column is ignored: self-training labels this data itself"), stacklevel=2)
        keep = [name for name in (text, pair) if name]
        total = len(dataset)
        dataset = dataset.select_columns(keep).filter(lambda row: all(filled(row[name]) for name in keep))
        warn_dropped(path, total - len(dataset), total, f"an empty {' or '.join(keep)}")
        if len(dataset) == 0:
            raise DataError(f"{path.name} has no rows with text", "fill in the empty cells")
        return dataset.rename_columns({old: new for old, new in {text: "text", **({pair: "text_pair"} if pair else {})}.items() if old != new})

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        transformers = quiet_transformers()
        label_ids = {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}
        tokenizer = load_tokenizer(model_dir)
        config = transformers.AutoConfig.from_pretrained(model_dir, **label_ids, trust_remote_code=trust_remote_code())
        classifier = _classifier(model_dir, config)
        if scratch:
            model = classifier.from_config(config) if hasattr(classifier, "from_config") else classifier(config)
        else:
            model = classifier.from_pretrained(model_dir, config=config, ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code())
        model.config.pad_token_id = tokenizer.pad_token_id
        return model, tokenizer

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        transformers = quiet_transformers()
        config = transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code())
        model = _classifier(model_dir, config).from_pretrained(model_dir, config=config, trust_remote_code=trust_remote_code())
        tokenizer = load_tokenizer(model_dir)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        return model, tokenizer, labels

    def encode(self, dataset: Any, processor: Any, labels: list[str], max_length: int, train: bool = False) -> Any:
        label2id = {label: i for i, label in enumerate(labels)}
        has_pair = "text_pair" in dataset.column_names

        def tokenize(batch: dict) -> dict:
            encoded = processor(batch["text"], batch["text_pair"] if has_pair else None, truncation=True, max_length=max_length)
            encoded["labels"] = [label2id[label] for label in batch["label"]]
            return encoded

        return dataset.map(tokenize, batched=True, remove_columns=dataset.column_names)

    def collator(self, processor: Any):
        return quiet_transformers().DataCollatorWithPadding(processor)

    def export_spec(self, model: Any, processor: Any) -> ExportSpec:
        import numpy as np

        config = model.config
        names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in processor.model_input_names else [])
        pad = processor.pad_token_id or 0
        low = max(processor.all_special_ids, default=-1) + 1  # ordinary tokens only
        low = low if low < config.vocab_size else 0

        def sample(batch: int, length: int, seed: int) -> dict[str, Any]:
            rng = np.random.default_rng(seed)
            ids = rng.integers(low, config.vocab_size, size=(batch, length), dtype=np.int64)
            mask = np.ones((batch, length), dtype=np.int64)
            for row, used in enumerate(rng.integers(1, length + 1, size=batch)):
                ids[row, used:], mask[row, used:] = pad, 0  # some rows padded, as in a real batch
            inputs = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                inputs["token_type_ids"] = np.zeros((batch, length), dtype=np.int64)
            return inputs

        axes = {name: {0: "batch", 1: "sequence"} for name in names}
        return ExportSpec(
            input_names=tuple(names),
            output_names=("logits",),
            dynamic_axes={**axes, "logits": {0: "batch"}},
            sample=sample,
            max_length=int(getattr(config, "max_position_embeddings", 512) or 512),
            model_type=config.model_type if config.model_type in ("bert", "roberta", "distilbert", "electra", "gpt2") else None,
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
        )

    def export_inputs(self, export_dir: Path, inputs: list[str], max_length: int) -> dict[str, Any]:
        """Tokenise with the `tokenizers` library alone: no transformers, no torch."""
        import numpy as np

        file = export_dir / "tokenizer.json"
        encoded = _export_tokenizer(str(file), file.stat().st_mtime_ns, max_length).encode_batch(inputs)
        return {
            "input_ids": np.array([item.ids for item in encoded], dtype=np.int64),
            "attention_mask": np.array([item.attention_mask for item in encoded], dtype=np.int64),
            "token_type_ids": np.array([item.type_ids for item in encoded], dtype=np.int64),
        }


@functools.lru_cache(maxsize=8)
def _export_tokenizer(file: str, mtime_ns: int, max_length: int) -> Any:
    """An export's tokenizer, parsed once per file version: parsing a real tokenizer.json takes tens of
    milliseconds, which `zoo serve` would otherwise pay on every batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(file)
    tokenizer.enable_truncation(max_length)
    pad = tokenizer.padding or {}
    tokenizer.enable_padding(pad_id=pad.get("pad_id", 0), pad_token=pad.get("pad_token", "[PAD]"))
    return tokenizer
