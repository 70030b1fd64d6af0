"""Text-to-text models (T5): source -> target pairs scored by ROUGE-L and sacreBLEU, and T5's span corruption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import Columns, DataError, pick_column, quiet_transformers, warn_dropped
from zoo_nlp.language_models import Generator, LanguageModel, TextProcessing, _kind, perplexity
from zoo_nlp.corpus import pack, read_corpus
from zoo_nlp.tables import filled, load_table

SOURCE_COLUMNS = ("source", "input", "text", "document", "article", "question", "prompt", "en")
TARGET_COLUMNS = ("target", "summary", "output", "translation", "answer", "highlights", "response", "de", "fr")
NOISE_DENSITY = 0.15  # T5's span corruption: 15% of tokens, in spans of 3 on average
MEAN_SPAN = 3.0
EVAL_TOKENS = 64  # new tokens per validation example when scoring generations
EVAL_SEED = 1234


class Text2Text(Generator, LanguageModel):
    """text2text-generation (and translation, summarization): pairs in, generated text scored against targets."""

    auto_class = "AutoModelForSeq2SeqLM"

    def _check(self, config: Any, model_dir: Path) -> None:
        if not getattr(config, "is_encoder_decoder", False):
            raise DataError(f"{model_dir.name} ({config.model_type}) is not a text-to-text (encoder-decoder) model", f"it is {_kind(config)}")

    def read(self, path: Path, columns: Columns) -> Any:
        table = load_table(path, "source and target columns, one pair per row")
        present = list(table.column_names)
        source = pick_column("source text", columns.text, SOURCE_COLUMNS, present, path, "--source-col")
        target = pick_column("target text", columns.target, tuple(name for name in TARGET_COLUMNS if name != source), present, path, "--target-col")
        if source == target:
            raise DataError(f"{path.name}: '{source}' cannot be both the source and the target text", f"name two columns of {', '.join(present)} with --source-col and --target-col")
        total = len(table)
        table = table.select_columns([source, target]).filter(lambda row: filled(row[source]) and filled(row[target]))
        warn_dropped(path, total - len(table), total, f"an empty {source} or {target}")
        if len(table) == 0:
            raise DataError(f"{path.name} has no rows with both a {source} and a {target}", "fill in the empty cells")
        return table.map(lambda row: {"text": str(row[source]), "target": str(row[target])}, remove_columns=[source, target])

    def encode(self, dataset: Any, processor: TextProcessing, labels: list[str], max_length: int, train: bool = False) -> Any:
        tokenizer = processor.tokenizer

        def tokenize(batch: dict) -> dict:
            encoded = tokenizer([processor.prefix + text for text in batch["text"]], truncation=True, max_length=self.block(max_length))
            encoded["labels"] = tokenizer(text_target=batch["target"], truncation=True, max_length=self.block(max_length))["input_ids"]
            return encoded

        return dataset.map(tokenize, batched=True, remove_columns=dataset.column_names)

    def collator(self, processor: TextProcessing) -> Any:
        return quiet_transformers().DataCollatorForSeq2Seq(processor.tokenizer, label_pad_token_id=-100)

    def evaluate(self, model: Any, processor: TextProcessing, dataset: Any, labels: list[str]) -> dict[str, float]:
        """ROUGE-L (F) and sacreBLEU of greedy generations against the targets, and the targets' perplexity."""
        import sacrebleu
        import torch
        from rouge_score import rouge_scorer

        tokenizer = processor.tokenizer
        model.eval()
        device = next(model.parameters()).device
        predictions = []
        for start in range(0, len(dataset), 16):
            texts = [processor.prefix + text for text in dataset["text"][start : start + 16]]
            encoded = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.block(self.max_length)).to(device)
            with torch.no_grad():
                out = model.generate(**encoded, max_new_tokens=EVAL_TOKENS, do_sample=False, temperature=None, top_k=None, top_p=None)
            predictions.extend(tokenizer.batch_decode(out, skip_special_tokens=True))
        targets = list(dataset["target"])
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        rouge = float(np.mean([scorer.score(target, prediction)["rougeL"].fmeasure for target, prediction in zip(targets, predictions)]))
        bleu = float(sacrebleu.corpus_bleu(predictions, [targets]).score)
        targets = perplexity(model, self.encode(dataset, processor, [], self.max_length), self.collator(processor), shifted=False)
        return {"rouge_l": rouge, "bleu": bleu, "perplexity": targets}


def noise_mask(length: int, rng: np.random.Generator) -> np.ndarray:
    """Which of `length` tokens to corrupt: about 15% of them in spans of about 3 (T5's random_spans_noise_mask)."""
    noise = min(max(1, round(length * NOISE_DENSITY)), length - 1)
    spans = max(1, min(round(noise / MEAN_SPAN), noise, length - noise))

    def segments(total: int) -> np.ndarray:
        cuts = np.sort(rng.choice(np.arange(1, total), spans - 1, replace=False)) if spans > 1 else np.array([], dtype=int)
        return np.diff(np.concatenate([[0], cuts, [total]]))

    mask = []
    for keep, drop in zip(segments(length - noise), segments(noise)):
        mask += [False] * int(keep) + [True] * int(drop)
    return np.array(mask)


class SpanCorruption(Text2Text):
    """span-corruption: T5's pretraining objective on a corpus (spans replaced by sentinels, the target restores them)."""

    def read(self, path: Path, columns: Columns) -> Any:
        return read_corpus(path, columns)

    def _sentinels(self, tokenizer: Any) -> list[int]:
        ids = tokenizer.convert_tokens_to_ids([f"<extra_id_{index}>" for index in range(100)])
        found = [index for index in ids if index is not None and index != tokenizer.unk_token_id]
        if not found:
            raise DataError("this tokenizer has no sentinel tokens (<extra_id_0> ...), which span corruption needs", "use a T5 tokenizer, or fine-tune on pairs with --task text2text-generation")
        return found

    def encode(self, dataset: Any, processor: TextProcessing, labels: list[str], max_length: int, train: bool = False) -> Any:
        tokenizer = processor.tokenizer
        self._sentinels(tokenizer)
        blocks = pack(dataset, tokenizer, self.block(max_length) - 1, None)  # room for the end-of-sequence token
        return blocks.remove_columns(["attention_mask"])

    def collator(self, processor: TextProcessing) -> Any:
        import torch

        tokenizer = processor.tokenizer
        sentinels = self._sentinels(tokenizer)
        eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id or 0
        specials = set(tokenizer.all_special_ids)
        random = {"rng": np.random.default_rng()}

        def corrupt(ids: list[int]) -> tuple[list[int], list[int]]:
            ids = [token for token in ids if token not in specials]
            if len(ids) < 2:
                return ids + [eos], [sentinels[0], eos]
            mask = noise_mask(len(ids), random["rng"])
            source, target, span = [], [], -1
            for index, (token, noisy) in enumerate(zip(ids, mask)):
                starts = noisy and (index == 0 or not mask[index - 1])
                if starts:
                    span = min(span + 1, len(sentinels) - 1)
                    source.append(sentinels[span])
                    target.append(sentinels[span])
                (target if noisy else source).append(token)
            return source + [eos], target + [eos]

        def collate(examples: list[dict]) -> dict:
            pairs = [corrupt(list(example["input_ids"])) for example in examples]
            width = max(len(source) for source, _ in pairs)
            target_width = max(len(target) for _, target in pairs)
            input_ids = torch.full((len(pairs), width), pad, dtype=torch.long)
            attention = torch.zeros((len(pairs), width), dtype=torch.long)
            labels = torch.full((len(pairs), target_width), -100, dtype=torch.long)
            for row, (source, target) in enumerate(pairs):
                input_ids[row, : len(source)] = torch.tensor(source)
                attention[row, : len(source)] = 1
                labels[row, : len(target)] = torch.tensor(target)
            return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}

        collate.reseed = lambda seed: random.update(rng=np.random.default_rng(seed))  # type: ignore[attr-defined]
        return collate

    def evaluate(self, model: Any, processor: TextProcessing, dataset: Any, labels: list[str]) -> dict[str, float]:
        """Held-out perplexity of the corrupted spans, on one fixed corruption."""
        collate = self.collator(processor)
        collate.reseed(EVAL_SEED)
        return {"perplexity": perplexity(model, self.encode(dataset, processor, labels, self.max_length), collate, shifted=False)}
