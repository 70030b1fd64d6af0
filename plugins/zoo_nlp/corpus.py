"""Unlabelled text for language modelling: read one document per line or a text column, then pack into blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core import Columns, DataError, pick_column, warn_dropped
from zoo_nlp.tables import filled, load_table

TEXT_COLUMNS = ("text", "document", "content", "sentence", "review", "snippet", "body", "abstract")


def read_corpus(path: Path, columns: Columns) -> Any:
    """A Dataset with one `text` per document: a .txt file's non-blank lines, or a table's text column."""
    import datasets

    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise DataError(f"corpus {path} does not exist", "give a .txt file (one document per line), or CSV/JSONL/parquet with --text-col")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"{path.name} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})", "save it as UTF-8") from None
        texts = [line.strip() for line in lines if line.strip()]
        dataset = datasets.Dataset.from_dict({"text": texts})
    else:
        table = load_table(path, "a text column with one document per row")
        column = pick_column("text", columns.text, TEXT_COLUMNS, list(table.column_names), path, "--text-col")
        total = len(table)
        dataset = table.select_columns([column]).filter(lambda row: filled(row[column]))
        warn_dropped(path, total - len(dataset), total, f"an empty {column}")
        dataset = dataset.rename_columns({column: "text"}) if column != "text" else dataset
        dataset = dataset.map(lambda row: {"text": str(row["text"])})
    if len(dataset) == 0:
        raise DataError(f"{path.name} has no text", "a corpus holds one document per line (.txt), or a text column (CSV, JSONL, parquet)")
    return dataset


def pack(dataset: Any, tokenizer: Any, block: int, separator: int | None) -> Any:
    """Documents tokenised, joined (with `separator` between them where the tokenizer adds none) and cut into
    blocks of `block` tokens; a corpus shorter than one block is one shorter block."""
    import datasets

    datasets.disable_progress_bars()

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(batch["text"], add_special_tokens=True)["input_ids"]
        if separator is not None:
            encoded = [ids + [separator] if not ids or ids[-1] != separator else ids for ids in encoded]
        return {"ids": encoded}

    ids = dataset.map(tokenize, batched=True, remove_columns=dataset.column_names)
    stream = [token for document in ids["ids"] for token in document]
    blocks = [stream[start : start + block] for start in range(0, max(len(stream) - block + 1, 1), block)] if len(stream) >= block else [stream]
    return datasets.Dataset.from_dict({"input_ids": blocks, "attention_mask": [[1] * len(item) for item in blocks]})
