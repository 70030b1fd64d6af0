"""Extractive question answering: SQuAD-style data in, the answer as a span of the context out.

Contexts longer than the model's window are split into overlapping windows (a quarter of
the window overlaps), as transformers' run_qa.py does; the best span over all windows wins.
Scores are SQuAD's exact match and token F1, as fractions from 0 to 1 like every zoo score
(SQuAD's script prints them times 100). Predicting with an export tokenises with the
`tokenizers` library alone: no transformers, no torch.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import SPAN_EXTRACTOR, Answer, Columns, DataError, ExportReport, ExportSpec, RecipeError, Runtime, TaskAdapter, quiet_transformers, shown_path, trust_remote_code, warn_dropped
from zoo_nlp.tokenizer import load_tokenizer

N_BEST = 20  # start and end candidates per window, as in run_qa.py
MAX_ANSWER_TOKENS = 30
DEFAULT_MAX_LENGTH = 384  # a checkpoint zoo did not fine-tune: run_qa.py's window
BATCH = 32
ROW_SHAPE = 'each row needs "context", "question" and "answers": {"text": [...], "answer_start": [...]}'


def stride(max_length: int) -> int:
    """Tokens two neighbouring windows share, so an answer cut by one window is whole in the next."""
    return max_length // 4


def too_long(max_length: int, exc: Exception) -> DataError:
    """The tokenizers' error for a question that leaves a window no room for context, as one line."""
    return DataError(f"a question is too long for a {max_length}-token window ({str(exc).splitlines()[0][:160]})", f"shorten it: a window holds the question and at least {stride(max_length)} context tokens")


# --- data -------------------------------------------------------------------------------------------


def read_squad(path: Path) -> list[dict[str, Any]]:
    """Examples from flat rows (`datasets`' SQuAD layout, .jsonl or a .json list) or the original nested
    SQuAD JSON; an answer not found where its answer_start points is a `DataError` naming the row."""
    examples, unanswerable, total = [], 0, 0
    for where, record in _records(path):
        total += 1
        example = _example(record, where, path)
        if example["answers"]["text"]:
            examples.append(example)
        else:
            unanswerable += 1
    warn_dropped(path, unanswerable, total, "no answer: SQuAD 2.0 unanswerable questions are not trained or scored")
    if not examples:
        raise DataError(f"{path.name} has no answered questions", ROW_SHAPE)
    return examples


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, row) pairs: `where` is how an error names the row (line, row or data[i].paragraphs[j].qas[k])."""
    if not path.is_file():
        raise DataError(f"data file {shown_path(path)} does not exist", "give a SQuAD-style .json or .jsonl file")
    if path.suffix.lower() not in (".json", ".jsonl"):
        raise DataError(f"{path.name}: question answering reads SQuAD-style .json or .jsonl files", ROW_SHAPE)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name} is not UTF-8 ({exc.reason} at byte {exc.start})", "save it as UTF-8") from None
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield f"line {number}", _json(line, path, f"line {number} is not JSON")
        return
    document = _json(text, path, "is not JSON")
    rows = document.get("data") if isinstance(document, dict) else document  # {"data": [...]}: SQuAD's wrapper
    if not isinstance(rows, list):
        raise DataError(f"{path.name} is neither SQuAD JSON ({{\"data\": [{{\"paragraphs\": ...}}]}}) nor a list of rows", ROW_SHAPE)
    if rows and all(isinstance(item, dict) and "paragraphs" in item for item in rows):
        yield from _nested(rows)
    else:
        yield from ((f"row {number}", record) for number, record in enumerate(rows, start=1))


def _json(text: str, path: Path, problem: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name} {problem} ({exc.msg} at line {exc.lineno}, column {exc.colno})", "fix the JSON there") from None


def _nested(data: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The original SQuAD layout, flattened to one row per question."""
    for article, item in enumerate(data):
        for number, paragraph in enumerate(item.get("paragraphs") or []):
            for index, qa in enumerate(paragraph.get("qas") or []):
                where = f"data[{article}].paragraphs[{number}].qas[{index}]" + (f" (id {qa['id']})" if "id" in qa else "")
                yield where, {"context": paragraph.get("context"), **qa}


def _example(record: Any, where: str, path: Path) -> dict[str, Any]:
    """One checked example: text fields present, and every answer where its answer_start says it is."""
    if not isinstance(record, dict):
        raise DataError(f"{path.name}: {where} is not an object", ROW_SHAPE)
    for name in ("context", "question"):
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise DataError(f"{path.name}: {where} has no {name}", ROW_SHAPE)
    texts, starts = _answers(record.get("answers"), where, path)
    context = record["context"]
    for text, start in zip(texts, starts):
        if context[start : start + len(text)] != text:
            found = context.find(text)
            fix = f"set answer_start to {found}, where the context has it" if found >= 0 else "the answer text must be copied from the context exactly"
            raise DataError(f"{path.name}: {where}: answer {text!r} is not at answer_start {start} (the context there reads {context[start : start + len(text)]!r})", fix)
    return {"id": str(record.get("id", where)), "question": record["question"], "context": context, "answers": {"text": texts, "answer_start": starts}}


def _answers(value: Any, where: str, path: Path) -> tuple[list[str], list[int]]:
    """Answers in either layout: {"text": [...], "answer_start": [...]} or [{"text", "answer_start"}, ...]."""
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        value = {"text": [item.get("text") for item in value], "answer_start": [item.get("answer_start") for item in value]}
    if not isinstance(value, dict) or "text" not in value or "answer_start" not in value:
        raise DataError(f"{path.name}: {where} has no answers", ROW_SHAPE)
    texts, starts = value["text"], value["answer_start"]
    texts, starts = ([texts], [starts]) if isinstance(texts, str) else (texts, starts)
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        raise DataError(f"{path.name}: {where}: answers has {_count(texts)} texts and {_count(starts)} answer_starts", "give one answer_start per answer text")
    if not all(isinstance(text, str) and text for text in texts) or not all(isinstance(start, int) and start >= 0 for start in starts):
        raise DataError(f"{path.name}: {where}: answers must be non-empty texts with character offsets", ROW_SHAPE)
    return texts, starts


def _count(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1


def _inputs(inputs: list[Any]) -> list[dict[str, str]]:
    """Predict inputs: a question and a context each."""
    for item in inputs:
        if not isinstance(item, dict):
            raise DataError(f"question answering takes a question and a context, not the text {str(item)[:60]!r}", 'pass --question "Who?" --context "the passage", or --file with question and context columns')
        empty = [name for name in ("question", "context") if not (isinstance(item.get(name), str) and item[name].strip())]
        if empty:
            raise DataError(f"an input has no {' and no '.join(empty)} (its keys: {', '.join(map(str, item)) or 'none'})", 'pass --question "Who?" --context "the passage", or --file with question and context columns')
    return [{"question": item["question"], "context": item["context"]} for item in inputs]


# --- windows, shared by PyTorch and the export ------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One window of one example: its tokens, and each token's characters in the context (None: not context)."""

    example: int
    ids: list[int]
    type_ids: list[int]
    offsets: list[tuple[int, int] | None]
    cls: int


def window(example: int, ids: list[int], type_ids: list[int], offsets: list[tuple[int, int]], sequence_ids: list[int | None], cls_id: int | None) -> Window:
    context = [tuple(offset) if sequence == 1 else None for offset, sequence in zip(offsets, sequence_ids)]
    return Window(example, list(ids), list(type_ids), context, ids.index(cls_id) if cls_id in ids else 0)


def batches(windows: list[Window], pad_id: int, size: int = BATCH) -> Iterator[dict[str, np.ndarray]]:
    """Windows as padded numpy inputs, `size` at a time."""
    for first in range(0, len(windows), size):
        chunk = windows[first : first + size]
        width = max(len(item.ids) for item in chunk)
        ids = np.full((len(chunk), width), pad_id, dtype=np.int64)
        types = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, item in enumerate(chunk):
            ids[row, : len(item.ids)], types[row, : len(item.ids)], mask[row, : len(item.ids)] = item.ids, item.type_ids, 1
        yield {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    shifted = np.where(allowed, logits.astype(np.float64), -np.inf)
    exp = np.exp(shifted - shifted.max())
    return exp / exp.sum()


def best_span(item: Window, start_logits: np.ndarray, end_logits: np.ndarray) -> tuple[float, int, int] | None:
    """(score, start char, end char) of the window's best answer: the n-best starts and ends inside the
    context, end not before start, at most MAX_ANSWER_TOKENS long. The score is P(start) * P(end) over
    the context tokens and CLS, so a window that does not hold the answer (trained to point at CLS)
    scores low."""
    context = np.array([offset is not None for offset in item.offsets])
    allowed = context.copy()
    allowed[item.cls] = True
    length = len(item.offsets)
    p_start, p_end = _softmax(start_logits[:length], allowed), _softmax(end_logits[:length], allowed)
    starts = [int(i) for i in np.argsort(-p_start, kind="stable")[:N_BEST] if context[i]]
    ends = [int(i) for i in np.argsort(-p_end, kind="stable")[:N_BEST] if context[i]]
    spans = [(float(p_start[s] * p_end[e]), s, e) for s in starts for e in ends if s <= e < s + MAX_ANSWER_TOKENS]
    if not spans:
        return None
    score, first, last = max(spans)
    return score, item.offsets[first][0], item.offsets[last][1]


def answers(items: list[dict[str, str]], windows: list[Window], start_logits: list[np.ndarray], end_logits: list[np.ndarray]) -> list[dict[str, Any]]:
    """Each question's best span over all its windows, with its score and character offsets."""
    best: dict[int, tuple[float, int, int]] = {}
    for item, starts, ends in zip(windows, start_logits, end_logits):
        span = best_span(item, starts, ends)
        if span is not None and span[0] > best.get(item.example, (-1.0, 0, 0))[0]:
            best[item.example] = span
    results = []
    for index, item in enumerate(items):
        score, start, end = best.get(index, (0.0, 0, 0))
        results.append({"question": item["question"], "answer": item["context"][start:end], "start": start, "end": end, "score": score})
    return results


# --- SQuAD scores -----------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(char for char in text.lower() if char not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize(prediction).split(), normalize(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: list[str], golds: list[list[str]]) -> dict[str, float]:
    """SQuAD v1.1's exact_match and f1, each the best over the gold answers, averaged, in percent."""
    exact = [max(float(normalize(prediction) == normalize(gold)) for gold in options) for prediction, options in zip(predictions, golds)]
    f1 = [max(token_f1(prediction, gold) for gold in options) for prediction, options in zip(predictions, golds)]
    return {"exact_match": sum(exact) / len(exact), "f1": sum(f1) / len(f1)}


# --- the adapter ------------------------------------------------------------------------------------


class QuestionAnswering(TaskAdapter):
    """The `TaskAdapter` for question-answering: start and end logits over the context's tokens."""

    kind = SPAN_EXTRACTOR

    export_metric = "f1"  # what `zoo export --data` compares between PyTorch and each variant: SQuAD's F1

    def __init__(self) -> None:
        self.max_length = DEFAULT_MAX_LENGTH
        self.context: int | None = None  # the model's positions, once loaded: windows never outgrow them

    def configure(self, recipe: dict[str, Any]) -> None:
        self.max_length = int(recipe.get("max_length") or self.max_length)

    def window_length(self, max_length: int | None = None) -> int:
        """Tokens per window: `max_length` (default: the recipe's), never past the model's positions."""
        length = max_length or self.max_length
        return min(length, self.context) if self.context else length

    def read(self, path: Path, columns: Columns) -> Any:
        import datasets

        datasets.disable_progress_bars()  # windowing maps the data set; the engine reports progress its own way
        return datasets.Dataset.from_list(read_squad(path))

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        model, tokenizer, _ = self._load(model_dir, scratch)
        return model, tokenizer

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        model, tokenizer, new_head = self._load(model_dir, False)
        if new_head:  # predicting with a random head would be guessing
            raise DataError(f"{model_dir.name} has no question-answering head (its checkpoint holds the encoder alone)", "train one first: zoo finetune REF --task question-answering --data squad.json")
        return model, tokenizer, []

    def _load(self, model_dir: Path, scratch: bool) -> tuple[Any, Any, bool]:
        transformers = quiet_transformers()
        remote = {"trust_remote_code": trust_remote_code()}
        tokenizer = load_tokenizer(model_dir)
        if not tokenizer.is_fast:
            raise RecipeError(f"{model_dir.name} has no fast tokenizer (tokenizer.json)", "question answering needs the character offsets only fast tokenizers give")
        config = transformers.AutoConfig.from_pretrained(model_dir, **remote)
        self.context = getattr(config, "max_position_embeddings", None)
        auto = transformers.AutoModelForQuestionAnswering
        if scratch:
            return auto.from_config(config, **remote), tokenizer, True
        model, info = auto.from_pretrained(model_dir, config=config, output_loading_info=True, **remote)
        prefix = model.base_model_prefix + "."
        return model, tokenizer, any(not key.startswith(prefix) for key in info.get("missing_keys", ()))

    def _windows(self, tokenizer: Any, questions: list[str], contexts: list[str], max_length: int) -> Any:
        """run_qa.py's windows: the question whole, the context cut with overlap."""
        try:
            return tokenizer(
                [question.lstrip() for question in questions], contexts, truncation="only_second", max_length=max_length, stride=stride(max_length),
                return_overflowing_tokens=True, return_offsets_mapping=True,
            )
        except Exception as exc:  # the tokenizer's word for a question that leaves no room for context
            raise too_long(max_length, exc) from None

    def encode(self, dataset: Any, processor: Any, labels: list[str], max_length: int, train: bool = False) -> Any:
        """Windows with the answer's first and last token, or CLS where the window does not hold it all."""
        length = self.window_length(max_length)

        def features(batch: dict[str, list]) -> dict[str, list]:
            encoded = self._windows(processor, batch["question"], batch["context"], length)
            starts, ends = [], []
            for index, offsets in enumerate(encoded["offset_mapping"]):
                example = batch["answers"][encoded["overflow_to_sample_mapping"][index]]
                item = window(0, encoded["input_ids"][index], [0] * len(offsets), offsets, encoded.sequence_ids(index), processor.cls_token_id)
                start, end = answer_tokens(item, example["answer_start"][0], example["answer_start"][0] + len(example["text"][0]))
                starts.append(start)
                ends.append(end)
            encoded.pop("offset_mapping")
            encoded.pop("overflow_to_sample_mapping")
            return {**encoded, "start_positions": starts, "end_positions": ends}

        return dataset.map(features, batched=True, remove_columns=dataset.column_names)

    def collator(self, processor: Any) -> Any:
        return quiet_transformers().DataCollatorWithPadding(processor)

    def evaluate(self, model: Any, processor: Any, dataset: Any, labels: list[str]) -> dict[str, float]:
        items = [{"question": question, "context": context} for question, context in zip(dataset["question"], dataset["context"])]
        found = self._answer(model, processor, items, self.window_length())
        return squad_scores([result["answer"] for result in found], [gold["text"] for gold in dataset["answers"]])

    def _answer(self, model: Any, tokenizer: Any, items: list[dict[str, str]], max_length: int) -> list[dict[str, Any]]:
        """Answers from a PyTorch model, decoded by the same numpy code as an export's."""
        import torch

        encoded = self._windows(tokenizer, [item["question"] for item in items], [item["context"] for item in items], max_length)
        types = encoded.get("token_type_ids") or [[0] * len(ids) for ids in encoded["input_ids"]]
        windows = [
            window(example, ids, type_ids, offsets, encoded.sequence_ids(index), tokenizer.cls_token_id)
            for index, (example, ids, type_ids, offsets) in enumerate(zip(encoded["overflow_to_sample_mapping"], encoded["input_ids"], types, encoded["offset_mapping"]))
        ]
        device = next(model.parameters()).device
        names = set(tokenizer.model_input_names)
        model.eval()
        starts, ends = [], []
        with torch.no_grad():
            for feed in batches(windows, tokenizer.pad_token_id or 0):
                output = model(**{name: torch.from_numpy(value).to(device) for name, value in feed.items() if name in names})
                starts.extend(output.start_logits.float().cpu().numpy())
                ends.extend(output.end_logits.float().cpu().numpy())
        return answers(items, windows, starts, ends)

    def predict_model(self, model_dir: Path, inputs: list[Any], labels: list[str], top: int) -> list[Answer]:
        from zoo_core import MODEL_INFO

        items = _inputs(inputs)
        model, tokenizer, _ = self.load_trained(model_dir)
        info = json.loads((model_dir / MODEL_INFO).read_text()) if (model_dir / MODEL_INFO).is_file() else {}
        return [Answer(**row) for row in self._answer(model, tokenizer, items, self.window_length(info.get("max_length")))]

    def export_spec(self, model: Any, processor: Any) -> ExportSpec:
        from dataclasses import replace

        from zoo_nlp.text_classification import TextClassification

        spec = TextClassification().export_spec(model, processor)
        outputs = {name: {0: "batch", 1: "sequence"} for name in ("start_logits", "end_logits")}
        return replace(spec, output_names=tuple(outputs), dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in spec.input_names}, **outputs})

    def export_inputs(self, export_dir: Path, inputs: list[Any], max_length: int) -> dict[str, Any]:
        """The windows of `{question, context}` inputs as one padded batch, tokenised with `tokenizers` alone."""
        windows, pad_id = export_windows(export_dir, _inputs(inputs), max_length)
        return next(batches(windows, pad_id, size=len(windows)))

    def predict_export(self, runtime: Runtime, export_dir: Path, inputs: list[Any], labels: list[str], top: int) -> list[Answer]:
        from zoo_core import read_export

        return [Answer(**row) for row in export_answers(runtime, export_dir, _inputs(inputs), read_export(export_dir).report.max_length)]

    def score_export(self, runtime: Runtime, export_dir: Path, report: ExportReport, dataset: Any) -> dict[str, float]:
        """`evaluate`'s scores for an export: its answers, decoded as PyTorch's are."""
        items = [{"question": question, "context": context} for question, context in zip(dataset["question"], dataset["context"])]
        found = export_answers(runtime, export_dir, items, report.max_length)
        return squad_scores([result["answer"] for result in found], [gold["text"] for gold in dataset["answers"]])


def export_answers(runtime: Runtime, export_dir: Path, items: list[dict[str, str]], max_length: int) -> list[dict[str, Any]]:
    """Answers from an export's start and end logits, window by window."""
    windows, pad_id = export_windows(export_dir, items, max_length)
    starts, ends = [], []
    for feed in batches(windows, pad_id):
        start_logits, end_logits = runtime.run(feed)[:2]
        starts.extend(start_logits)
        ends.extend(end_logits)
    return answers(items, windows, starts, ends)


def answer_tokens(item: Window, start_char: int, end_char: int) -> tuple[int, int]:
    """The answer's first and last token in the window, or (CLS, CLS) where the window does not hold it all."""
    inside = [index for index, offset in enumerate(item.offsets) if offset is not None]
    if not inside or item.offsets[inside[0]][0] > start_char or item.offsets[inside[-1]][1] < end_char:
        return item.cls, item.cls
    first = next(index for index in inside if item.offsets[index][1] > start_char)
    last = next(index for index in reversed(inside) if item.offsets[index][0] < end_char)
    return first, last


def export_windows(export_dir: Path, items: list[dict[str, str]], max_length: int) -> tuple[list[Window], int]:
    """The same windows as the PyTorch path, from the export's tokenizer.json with the `tokenizers` library."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, stride=stride(max_length), strategy="only_second")
    settings = json.loads((export_dir / "tokenizer_config.json").read_text()) if (export_dir / "tokenizer_config.json").is_file() else {}
    cls_id = tokenizer.token_to_id(_token(settings.get("cls_token")) or "[CLS]")
    pad_id = tokenizer.token_to_id(_token(settings.get("pad_token")) or "[PAD]") or 0
    windows = []
    for index, item in enumerate(items):
        try:
            first = tokenizer.encode(item["question"].lstrip(), item["context"])
        except Exception as exc:
            raise too_long(max_length, exc) from None
        for encoding in (first, *first.overflowing):
            windows.append(window(index, encoding.ids, encoding.type_ids, encoding.offsets, encoding.sequence_ids, cls_id))
    return windows, pad_id


def _token(value: Any) -> str | None:
    """A special token as tokenizer_config.json stores it: a string, or an AddedToken dict."""
    return value["content"] if isinstance(value, dict) else value
