"""Token classification (named-entity recognition) for encoders with a fast tokenizer.

Data: JSON Lines (or CSV/parquet) with a `tokens` list and a `ner_tags` list per
row, tags as strings, or as integers named by the ClassLabel names a Hugging Face
dataset carries (`labels.txt` beside the file, one name per line in id order, or
the `dataset_info.json` that `datasets` writes); or CoNLL column files (word
first, tag last, blank lines between sentences, `-DOCSTART-` lines skipped).

Each word's tag is learnt and predicted on its first sub-token. Predictions are
decoded from numpy logits by one function for PyTorch and for ONNX exports, so
both print the same entities; the export path imports neither torch nor
transformers.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from zoo_core import TAGGER, Columns, DataError, Entities, ExportReport, ExportSpec, RecipeError, TaskAdapter, pick_column, quiet_transformers, read_problem, shown_path, trust_remote_code, warn_dropped
from zoo_nlp.tokenizer import load_tokenizer

TOKEN_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("ner_tags", "tags", "labels", "label")
CONLL_SUFFIXES = (".conll", ".iob", ".bio", ".txt")
IGNORED = -100  # the label id PyTorch's cross-entropy (and so the Trainer) skips
DEFAULT_MAX_LENGTH = 128
BATCH = 32


# --- reading data -----------------------------------------------------------------------------------------------


def read_conll(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences of a CoNLL column file: word in the first column, tag in the last."""
    if not path.is_file():
        raise DataError(f"data file {shown_path(path)} does not exist", "give a CoNLL file or JSONL with tokens and ner_tags")
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name} could not be read: {read_problem(path, exc)}", "save it as UTF-8") from None
    for number, line in enumerate(text.splitlines(), start=1):
        columns = line.split()
        if not columns or columns[0] == "-DOCSTART-":
            if words:
                sentences.append(words)
                tags.append(labels)
            words, labels = [], []
            continue
        if len(columns) < 2:
            raise DataError(f"{path.name} line {number} has a word and no tag: {line.strip()[:60]!r}", "write the word first and its tag last, separated by a space or tab")
        words.append(columns[0])
        labels.append(columns[-1])
    if words:
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def tag_names(path: Path, column: str) -> list[str] | None:
    """The names of integer tags: `labels.txt` beside the data, or the ClassLabel names in `dataset_info.json`."""
    listed = path.with_name("labels.txt")
    if listed.is_file():
        return [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]
    info = path.with_name("dataset_info.json")
    if info.is_file():
        feature = (json.loads(info.read_text(encoding="utf-8")).get("features") or {}).get(column) or {}
        names = (feature.get("feature") or {}).get("names")
        return list(names) if names else None
    return None


def named_tags(path: Path, column: str, rows: list[list[Any]]) -> list[list[str]]:
    """Tags as strings; integer tags are looked up in the data's tag names."""
    if not any(isinstance(tag, int) and not isinstance(tag, bool) for row in rows for tag in row):
        return [[str(tag) for tag in row] for row in rows]
    names = tag_names(path, column)
    if names is None:
        raise DataError(f"{path.name}: {column} holds numbers and no tag names", "write the names in id order to labels.txt beside the file (one per line), or write the tags as strings")
    for number, row in enumerate(rows, start=1):
        bad = next((tag for tag in row if not 0 <= int(tag) < len(names)), None)
        if bad is not None:
            raise DataError(f"{path.name} row {number}: tag {bad} is not one of the {len(names)} tag names", "fix the tag, or add its name to labels.txt")
    return [[names[int(tag)] for tag in row] for row in rows]


def read_table(path: Path, columns: Columns) -> tuple[list[list[str]], list[list[str]]]:
    """Token and tag lists from JSONL or parquet columns (a CSV cell cannot hold a list)."""
    from zoo_nlp.tables import load_table

    if path.suffix.lower() in (".csv", ".tsv"):
        raise DataError(f"{path.name}: token classification reads JSON Lines, parquet or CoNLL files, not CSV", 'write one {"tokens": [...], "ner_tags": [...]} object per line in a .jsonl file')

    table = load_table(path, "a tokens list and an ner_tags list per row")
    present = list(table.column_names)
    words = pick_column("tokens", columns.text, TOKEN_COLUMNS, present, path, "--text-col")
    tags = pick_column("tags", columns.label, TAG_COLUMNS, present, path, "--label-col")
    tokens, raw = table[words], table[tags]
    for number, (row_tokens, row_tags) in enumerate(zip(tokens, raw), start=1):
        if not isinstance(row_tokens, list) or not isinstance(row_tags, list):
            raise DataError(f"{path.name} row {number}: {words} and {tags} must be lists", 'write each row as {"tokens": ["Angela", "Merkel"], "ner_tags": ["B-PER", "I-PER"]}')
        if len(row_tokens) != len(row_tags):
            raise DataError(f"{path.name} row {number} has {len(row_tokens)} {words} and {len(row_tags)} {tags}", "give every token exactly one tag (O outside entities)")
    return [[str(token) for token in row] for row in tokens], named_tags(path, tags, raw)


# --- decoding -----------------------------------------------------------------------------------------------------


def split_tag(tag: str) -> tuple[str, str]:
    """(B or I, entity type), as transformers' pipeline reads tags: a tag with no B-/I- prefix continues its type."""
    if tag.startswith(("B-", "I-")):
        return tag[0], tag[2:]
    return "I", tag


def word_tags(logits: Any, word_ids: list[int | None], offsets: list[tuple[int, int]], labels: list[str]) -> dict[int, dict[str, Any]]:
    """One tagged word per pre-tokenized word in a window: its first sub-token's tag and probability, the span of its sub-tokens."""
    import numpy as np

    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = shifted / shifted.sum(-1, keepdims=True)
    words: dict[int, dict[str, Any]] = {}
    for position, word in enumerate(word_ids):
        if word is None:
            continue
        start, end = offsets[position]
        if word not in words:
            best = int(probabilities[position].argmax())
            words[word] = {"tag": labels[best], "score": float(probabilities[position, best]), "start": start, "end": end}
        words[word]["end"] = max(words[word]["end"], end)
    return words


def group_entities(words: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Adjacent words of one type merged into entities (a B- tag starts a new one), O dropped; scores averaged."""
    groups: list[list[dict[str, Any]]] = []
    for word in words:
        mark, kind = split_tag(word["tag"])
        if groups and mark != "B" and split_tag(groups[-1][-1]["tag"])[1] == kind:
            groups[-1].append(word)
        else:
            groups.append([word])
    entities = []
    for group in groups:
        kind = split_tag(group[0]["tag"])[1]
        if kind == "O":
            continue
        start, end = group[0]["start"], group[-1]["end"]
        score = sum(word["score"] for word in group) / len(group)
        entities.append({"entity_group": kind, "score": score, "word": text[start:end], "start": start, "end": end})
    return entities


def entities(logits: Any, windows: list[tuple[int, Any]], texts: list[str], labels: list[str]) -> list[dict[str, Any]]:
    """Per input, its entities from the logits of its windows (a long text is read in overlapping windows):
    each word keeps the tag of the first window that holds all of it."""
    import numpy as np

    logits = np.asarray(logits, dtype=np.float64)
    words: list[dict[int, dict[str, Any]]] = [{} for _ in texts]
    for (index, encoding), row in zip(windows, logits):
        for word, tagged in word_tags(row, encoding.word_ids, encoding.offsets, labels).items():
            if word not in words[index] or tagged["end"] > words[index][word]["end"]:  # the first window cut it short
                words[index][word] = tagged
    return [{"input": text, "entities": group_entities([tagged[word] for word in sorted(tagged)], text)} for text, tagged in zip(texts, words)]


def encode_texts(tokenizer: Any, texts: list[Any], max_length: int, pad_id: int) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    """Raw texts through a `tokenizers.Tokenizer`, a long one in windows of `max_length` tokens overlapping by a
    quarter: numpy model inputs, one row per window, and (text index, encoding) with word ids and offsets."""
    for text in texts:
        if not isinstance(text, str):
            raise DataError(f"a token-classification model tags texts, not {text!r}", "give one text per argument, or a .txt file with one text per line with --file")
    tokenizer.enable_truncation(max_length, stride=max_length // 4)
    tokenizer.no_padding()
    windows = [(index, window) for index, encoded in enumerate(tokenizer.encode_batch(texts)) for window in (encoded, *encoded.overflowing)]
    return padded([window for _, window in windows], pad_id), windows


def padded(encodings: list[Any], pad_id: int) -> dict[str, Any]:
    """`tokenizers` encodings as numpy model inputs, one row each, padded to the longest."""
    import numpy as np

    width = max(len(encoding.ids) for encoding in encodings)
    arrays = {name: np.full((len(encodings), width), pad_id if name == "input_ids" else 0, dtype=np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
    for row, encoding in enumerate(encodings):
        arrays["input_ids"][row, : len(encoding.ids)] = encoding.ids
        arrays["attention_mask"][row, : len(encoding.ids)] = encoding.attention_mask
        arrays["token_type_ids"][row, : len(encoding.ids)] = encoding.type_ids
    return arrays


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (seqeval's, as conlleval counts them)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    return {
        "precision": float(precision_score(gold, predicted, zero_division=0)),
        "recall": float(recall_score(gold, predicted, zero_division=0)),
        "f1": float(f1_score(gold, predicted, zero_division=0)),
    }


def export_pad_id(export_dir: Path, tokenizer: Any) -> int:
    """The padding token's id, from the tokenizer_config.json saved beside tokenizer.json."""
    config = export_dir / "tokenizer_config.json"
    pad = json.loads(config.read_text()).get("pad_token") if config.is_file() else None
    pad = pad.get("content") if isinstance(pad, dict) else pad
    return (tokenizer.token_to_id(pad) if pad else None) or 0


# --- the adapter --------------------------------------------------------------------------------------------------


class TokenClassification(TaskAdapter):
    """The `TaskAdapter` for token-classification: BIO tags per word, scored entity by entity with seqeval."""

    kind = TAGGER

    export_metric = "f1"  # what `zoo export --data` compares between PyTorch and each variant: entity F1

    def __init__(self) -> None:
        self.max_length = DEFAULT_MAX_LENGTH

    def configure(self, recipe: dict[str, Any]) -> None:
        self.max_length = int(recipe.get("max_length") or DEFAULT_MAX_LENGTH)

    def read(self, path: Path, columns: Columns) -> Any:
        import datasets

        datasets.disable_progress_bars()  # a CoNLL file never goes through load_table, which does this
        tokens, tags = read_conll(path) if path.suffix.lower() in CONLL_SUFFIXES else read_table(path, columns)
        kept = [index for index, words in enumerate(tokens) if words]
        warn_dropped(path, len(tokens) - len(kept), len(tokens), "no tokens")
        if not kept:
            raise DataError(f"{path.name} has no sentences with tokens", "give at least a few tagged sentences")
        return datasets.Dataset.from_dict({"tokens": [tokens[index] for index in kept], "ner_tags": [tags[index] for index in kept]})

    def labels_of(self, train: Any, val: Any) -> list[str]:
        """Every tag seen in training, sorted; a validation tag training never shows would be a head class
        nothing trains, so it is refused, as `zoo eval` refuses it."""
        tags = sorted({tag for row in train["ner_tags"] for tag in row})
        unseen = sorted({tag for row in val["ner_tags"] for tag in row} - set(tags))
        if unseen:
            raise DataError(f"validation tags never seen in training: {', '.join(unseen[:5])}", "add training sentences with them, or drop them from the validation data")
        return tags

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        transformers = quiet_transformers()
        label_ids = {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}
        tokenizer = self._tokenizer(model_dir)
        config = transformers.AutoConfig.from_pretrained(model_dir, **label_ids, trust_remote_code=trust_remote_code())
        tagger = transformers.AutoModelForTokenClassification
        if scratch:
            return tagger.from_config(config, trust_remote_code=trust_remote_code()), tokenizer
        model = tagger.from_pretrained(model_dir, config=config, ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code())
        return model, tokenizer

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        transformers = quiet_transformers()
        model = transformers.AutoModelForTokenClassification.from_pretrained(model_dir, trust_remote_code=trust_remote_code())
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        return model, self._tokenizer(model_dir), labels

    @staticmethod
    def _tokenizer(model_dir: Path) -> Any:
        """A fast tokenizer: only those map sub-tokens back to words (`word_ids`) and characters (offsets)."""
        tokenizer = load_tokenizer(model_dir)
        if tokenizer.is_fast and "ByteLevel" in str(tokenizer.backend_tokenizer.pre_tokenizer) and getattr(tokenizer, "add_prefix_space", None) is False:
            # RoBERTa and GPT-2 learnt words with their leading space ("Ġwas"); words given one by one need it added
            tokenizer = load_tokenizer(model_dir, add_prefix_space=True)
        if not tokenizer.is_fast:
            raise RecipeError(f"{model_dir.name} has no fast tokenizer (tokenizer.json), which token classification needs to map sub-words to words", "use a model that ships tokenizer.json")
        return tokenizer

    def encode(self, dataset: Any, processor: Any, labels: list[str], max_length: int, train: bool = False) -> Any:
        """Tokenise the words; each word's tag goes on its first sub-token, -100 on the rest and on special tokens."""
        label2id = {label: i for i, label in enumerate(labels)}

        def tokenize(batch: dict) -> dict:
            encoded = processor(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            encoded["labels"] = [aligned(encoded.word_ids(index), [label2id[tag] for tag in tags]) for index, tags in enumerate(batch["ner_tags"])]
            return encoded

        return dataset.map(tokenize, batched=True, remove_columns=dataset.column_names)

    def collator(self, processor: Any):
        return quiet_transformers().DataCollatorForTokenClassification(processor)

    def evaluate(self, model: Any, processor: Any, dataset: Any, labels: list[str]) -> dict[str, float]:
        """Entity-level precision, recall and F1 (seqeval) over the words' first sub-tokens."""
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        unseen = sorted({tag for row in dataset["ner_tags"] for tag in row} - set(names))
        if unseen:
            raise DataError(f"the data has tags the model never saw in training: {', '.join(unseen[:5])}", f"its tags are {', '.join(names)}")
        return entity_scores(*self._tag_pairs(model, processor, self.encode(dataset, processor, names, self.max_length), names))

    def _tag_pairs(self, model: Any, processor: Any, encoded: Any, names: list[str]) -> tuple[list[list[str]], list[list[str]]]:
        """Gold and predicted tags of every word the model saw (words cut by --max-length are left out of both)."""
        import torch

        collate = self.collator(processor)
        device = next(model.parameters()).device
        model.eval()
        gold: list[list[str]] = []
        predicted: list[list[str]] = []
        with torch.no_grad():
            for start in range(0, len(encoded), BATCH):
                batch = collate([encoded[index] for index in range(start, min(start + BATCH, len(encoded)))])
                targets = batch.pop("labels").numpy()
                logits = model(**{name: value.to(device) for name, value in batch.items()}).logits.float().cpu().numpy()
                for row_targets, row_logits in zip(targets, logits):
                    keep = row_targets != IGNORED
                    gold.append([names[index] for index in row_targets[keep]])
                    predicted.append([names[index] for index in row_logits[keep].argmax(-1)])
        return gold, predicted

    def predict_model(self, model_dir: Path, inputs: list[str], labels: list[str], top: int) -> list[Entities]:
        """Entities with character spans, from the PyTorch model (tokenised as the export path tokenises)."""
        import torch

        model, processor, names = self.load_trained(model_dir)
        model.eval()
        results = []
        for start in range(0, len(inputs), BATCH):
            chunk = inputs[start : start + BATCH]
            arrays, encodings = encode_texts(processor.backend_tokenizer, chunk, max_length(model_dir, model.config), processor.pad_token_id or 0)
            feed = {name: torch.from_numpy(value) for name, value in arrays.items() if name in processor.model_input_names}
            with torch.no_grad():
                logits = model(**feed).logits.float().numpy()
            results.extend(entities(logits, encodings, chunk, names))
        return [Entities(**row) for row in results]

    def export_spec(self, model: Any, processor: Any) -> ExportSpec:
        """The text classifier's inputs and samples; logits have a sequence axis too."""
        from zoo_nlp.text_classification import TextClassification

        spec = TextClassification().export_spec(model, processor)
        return replace(spec, dynamic_axes={**spec.dynamic_axes, "logits": {0: "batch", 1: "sequence"}})

    def export_inputs(self, export_dir: Path, inputs: list[str], max_length: int) -> dict[str, Any]:
        """Tokenise with the `tokenizers` library alone: no transformers, no torch."""
        return self._export_encode(export_dir, inputs, max_length)[0]

    def predict_export(self, runtime: Any, export_dir: Path, inputs: list[str], labels: list[str], top: int) -> list[Entities]:
        """Entities from an export's logits, decoded exactly as `predict_model` decodes PyTorch's."""
        from zoo_core import read_export

        report = read_export(export_dir).report
        results = []
        for start in range(0, len(inputs), BATCH):
            chunk = inputs[start : start + BATCH]
            arrays, encodings = self._export_encode(export_dir, chunk, report.max_length)
            results.extend(entities(runtime.run(arrays)[0], encodings, chunk, report.labels))
        return [Entities(**row) for row in results]

    def score_export(self, runtime: Any, export_dir: Path, report: ExportReport, dataset: Any) -> dict[str, float]:
        """`evaluate`'s scores for an export: the same words (cut at the export's length), tagged on their first sub-tokens."""
        import numpy as np
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        tokenizer.enable_truncation(report.max_length)
        tokenizer.no_padding()
        pad_id = export_pad_id(export_dir, tokenizer)
        gold: list[list[str]] = []
        predicted: list[list[str]] = []
        for start in range(0, len(dataset), BATCH):
            rows = dataset[start : start + BATCH]
            encodings = tokenizer.encode_batch(rows["tokens"], is_pretokenized=True)
            logits = np.asarray(runtime.run(padded(encodings, pad_id))[0])
            for encoding, row_logits, tags in zip(encodings, logits, rows["ner_tags"]):
                firsts = [position for position, label in enumerate(aligned(encoding.word_ids, list(range(len(tags))))) if label != IGNORED]
                gold.append([tags[encoding.word_ids[position]] for position in firsts])
                predicted.append([report.labels[index] for index in row_logits[firsts].argmax(-1)])
        return entity_scores(gold, predicted)

    @staticmethod
    def _export_encode(export_dir: Path, inputs: list[str], max_length: int) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        return encode_texts(tokenizer, inputs, max_length, export_pad_id(export_dir, tokenizer))


def aligned(word_ids: list[int | None], tags: list[int]) -> list[int]:
    """Token labels: a word's tag on its first sub-token, -100 on later sub-tokens and special tokens."""
    labels = []
    previous = None
    for word in word_ids:
        labels.append(IGNORED if word is None or word == previous else tags[word])
        previous = word
    return labels


def max_length(model_dir: Path, config: Any) -> int:
    """The window predictions read: the length the model was fine-tuned with, as its export does, never
    past its position embeddings (512 where the config does not say)."""
    positions = int(getattr(config, "max_position_embeddings", 512) or 512)
    info = model_dir / "zoo-model.json"
    trained = json.loads(info.read_text()).get("max_length") if info.is_file() else None
    return min(int(trained or positions), positions)
