"""Language models: continued pretraining (masked and causal), fill-mask, and generation.

These adapters learn from unlabelled text: `labelled` is False, the model's own
loss trains them, and `evaluate` reports held-out perplexity (for masked models,
on one fixed masking of the held-out blocks, so before and after compare).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import GENERATOR, LANGUAGE_MODEL, Columns, DataError, ExportSpec, Generated, Label, Runtime, TaskAdapter, quiet_transformers, trust_remote_code
from zoo_nlp import generation
from zoo_nlp.corpus import pack, read_corpus
from zoo_nlp.generation import Decoding, GenerationSettings
from zoo_nlp.tokenizer import load_tokenizer

TEXT_SETTINGS = "zoo-text.json"
MASK_SPELLINGS = ("[MASK]", "<mask>")
EVAL_SEED = 1234  # the masking perplexity is measured on, the same before and after
BATCH = 16


def objective(model_dir: Path) -> str:
    """The objective a checkpoint was pretrained with, from its config: span (encoder-decoder), mlm or clm."""
    transformers = quiet_transformers()
    return objective_of(transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code()))


def objective_of(config: Any) -> str:
    """span for encoder-decoders, clm for decoders (an LM head, or a causal-only model type), else mlm."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        return "span"
    architectures = " ".join(config.architectures or [])
    if "CausalLM" in architectures or "LMHead" in architectures or (config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and "MaskedLM" not in architectures and not _is_encoder(config)):
        return "clm"
    return "mlm"


def _kind(config: Any) -> str:
    """What a config is, in the words of the fix: the objective and task it does fit."""
    if getattr(config, "is_encoder_decoder", False):
        return "a text-to-text model: adapt it with the span objective, fine-tune it for text2text-generation"
    if _is_encoder(config) and not getattr(config, "is_decoder", False):
        return "an encoder: adapt it with the mlm objective, fine-tune it for fill-mask or text-classification"
    return "a decoder: adapt it with the clm objective, fine-tune it for text-generation"


def _is_encoder(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES


class TextProcessing:
    """A tokenizer plus the prefix put before every input (T5's "summarize: "), saved together."""

    def __init__(self, tokenizer: Any, prefix: str = "") -> None:
        self.tokenizer, self.prefix = tokenizer, prefix
        self.generation: GenerationSettings | None = None  # set when a generator is exported

    def save_pretrained(self, folder: Path) -> None:
        self.tokenizer.save_pretrained(folder)
        (Path(folder) / TEXT_SETTINGS).write_text(json.dumps({"prefix": self.prefix}, indent=2))
        if self.generation is not None:
            self.generation.save(Path(folder))

    @staticmethod
    def prefix_of(folder: Path) -> str:
        file = Path(folder) / TEXT_SETTINGS
        return json.loads(file.read_text()).get("prefix", "") if file.is_file() else ""


def _causal_collator(pad: int) -> Callable[[list[dict]], dict]:
    """Blocks padded to the longest, every real token a target. Unlike transformers' collator it keeps
    the end-of-text tokens as targets where pad and eos are one token (GPT-2), so a fine-tuned model learns to stop."""
    import torch

    def collate(examples: list[dict]) -> dict:
        width = max(len(example["input_ids"]) for example in examples)
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, example in enumerate(examples):
            ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
            mask[row, : len(example["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}

    return collate


class LanguageModel(TaskAdapter):
    """What masked and causal language models share: corpus data, packed blocks, perplexity."""

    kind = LANGUAGE_MODEL

    auto_class = "AutoModelForCausalLM"
    mlm = False

    def __init__(self) -> None:
        self.mlm_probability, self.max_length, self.prefix = 0.15, 128, ""
        self.context: int | None = None  # the model's, once loaded: blocks never outgrow it

    def block(self, max_length: int) -> int:
        """Tokens per example: `max_length`, but never past the model's context."""
        return min(max_length, self.context or max_length)

    def configure(self, recipe: dict[str, Any]) -> None:
        self.mlm_probability = float(recipe.get("mlm_probability") or self.mlm_probability)
        self.max_length = int(recipe.get("max_length") or self.max_length)
        self.prefix = recipe.get("prefix") or self.prefix

    def read(self, path: Path, columns: Columns) -> Any:
        return read_corpus(path, columns)

    def _model_class(self) -> Any:
        return getattr(quiet_transformers(), self.auto_class)

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        transformers = quiet_transformers()
        remote = {"trust_remote_code": trust_remote_code()}
        tokenizer = load_tokenizer(model_dir)
        config = transformers.AutoConfig.from_pretrained(model_dir, **remote)
        self._check(config, model_dir)
        self.context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        if scratch:
            model = self._model_class().from_config(config, **remote)
        else:
            model, info = self._model_class().from_pretrained(model_dir, output_loading_info=True, **remote)
            # a pretrained head trains like the rest of the model; only a head the checkpoint lacked is new
            model.zoo_new_head = any(key for key in info.get("missing_keys", ()) if not key.startswith(model.base_model_prefix + "."))
        from zoo_nlp import pooling  # imports torch: not at module level, which predicting from an export also reads

        if pooling.pooling(model_dir) == pooling.MEAN:  # an adapted sentence encoder is still classified by its mean
            model.config.zoo_pooling = pooling.MEAN
        return model, TextProcessing(tokenizer, self.prefix or TextProcessing.prefix_of(model_dir))

    def _check(self, config: Any, model_dir: Path) -> None:
        """Refuse a model the objective does not fit, in one line."""

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        model, processor = self.load(model_dir, [], False)
        return model, processor, []

    def encode(self, dataset: Any, processor: TextProcessing, labels: list[str], max_length: int, train: bool = False) -> Any:
        tokenizer = processor.tokenizer
        separator = None if self.mlm else tokenizer.eos_token_id
        return pack(dataset, tokenizer, self.block(max_length), separator)

    def collator(self, processor: TextProcessing) -> Any:
        if self.mlm:
            return quiet_transformers().DataCollatorForLanguageModeling(processor.tokenizer, mlm=True, mlm_probability=self.mlm_probability)
        return _causal_collator(processor.tokenizer.pad_token_id or 0)

    def evaluate(self, model: Any, processor: TextProcessing, dataset: Any, labels: list[str]) -> dict[str, float]:
        """Held-out perplexity: exp of the mean loss per predicted token over packed blocks."""
        import torch

        generator_state = torch.random.get_rng_state()
        torch.manual_seed(EVAL_SEED)  # masked LMs: the same masking before and after training
        try:
            return {"perplexity": perplexity(model, self.encode(dataset, processor, labels, self.max_length), self.collator(processor), shifted=not self.mlm)}
        finally:
            torch.random.set_rng_state(generator_state)


def perplexity(model: Any, examples: Any, collate: Callable[[list[dict]], dict], shifted: bool) -> float:
    """exp of the model's mean loss per target token over `examples`, batched by `collate` (`shifted`: a
    causal model predicts each label from the tokens before it, so the first label is no target)."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), BATCH):
            batch = collate([examples[index] for index in range(start, min(start + BATCH, len(examples)))])
            batch = {name: value.to(device) for name, value in batch.items()}
            targets = int((batch["labels"][:, 1:] if shifted else batch["labels"]).ne(-100).sum())
            if targets:
                total, count = total + float(model(**batch).loss) * targets, count + targets
    return math.exp(min(total / max(count, 1), 50.0))


def _has_head(model: Any, model_dir: Path, kind: str) -> None:
    """Predicting with a head the checkpoint lacked would be guessing with random weights: refuse it."""
    if getattr(model, "zoo_new_head", False):
        raise DataError(f"{model_dir.name} has no {kind} head (its checkpoint holds the encoder alone)", "train one first: zoo adapt does, on a corpus of your text")


class MaskedLM(LanguageModel):
    """fill-mask: masked-language-model pretraining on a corpus, and top-k words for a [MASK]."""

    auto_class = "AutoModelForMaskedLM"
    mlm = True

    def _check(self, config: Any, model_dir: Path) -> None:
        if not _is_encoder(config) or getattr(config, "is_encoder_decoder", False):
            raise DataError(f"{model_dir.name} ({config.model_type}) has no masked-language-model form", f"it is {_kind(config)}")

    def collator(self, processor: TextProcessing) -> Any:
        if processor.tokenizer.mask_token is None:
            raise DataError("this tokenizer has no mask token, so masked language modelling cannot train it", "use --objective clm")
        return super().collator(processor)

    def _masked(self, tokenizer: Any, text: str) -> str:
        mask = tokenizer.mask_token
        for spelling in MASK_SPELLINGS:
            text = text.replace(spelling, mask)
        if mask not in text:
            raise DataError(f"no mask in {text!r}", f"write {' or '.join(dict.fromkeys((mask, '[MASK]')))} where the missing word goes")
        return text

    def predict_model(self, model_dir: Path, inputs: list[str], labels: list[str], top: int) -> list[dict[str, Any]]:
        import torch

        model, processor = self.load(model_dir, [], False)
        _has_head(model, model_dir, "masked-language-model")
        tokenizer = processor.tokenizer
        model.eval()
        results = []
        for text in inputs:
            encoded = tokenizer(self._masked(tokenizer, text), return_tensors="pt", truncation=True)
            with torch.no_grad():
                logits = model(**encoded).logits[0].numpy()
            results.append(self._fill(text, encoded["input_ids"][0].tolist(), logits, tokenizer.mask_token_id, tokenizer.decode, top))
        return results

    def predict_export(self, runtime: Runtime, export_dir: Path, inputs: list[str], labels: list[str], top: int) -> list[dict[str, Any]]:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        settings = json.loads((export_dir / "tokenizer_config.json").read_text())
        mask = settings.get("mask_token") or "[MASK]"
        mask = mask["content"] if isinstance(mask, dict) else mask
        mask_id = tokenizer.token_to_id(mask)
        results = []
        for text in inputs:
            text_in = text
            for spelling in MASK_SPELLINGS:
                text_in = text_in.replace(spelling, mask)
            if mask not in text_in:
                raise DataError(f"no mask in {text!r}", f"write {' or '.join(dict.fromkeys((mask, '[MASK]')))} where the missing word goes")
            encoded = tokenizer.encode(text_in)
            ids = np.array([encoded.ids], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            logits = runtime.run(feed)[0][0]
            results.append(self._fill(text, encoded.ids, logits, mask_id, lambda tokens: tokenizer.decode(tokens), top))
        return results

    @staticmethod
    def _fill(text: str, ids: list[int], logits: np.ndarray, mask_id: int, decode: Callable[[list[int]], str], top: int) -> Label:
        """The `top` tokens for the first mask, with their probabilities."""
        from zoo_core import softmax

        position = ids.index(mask_id)
        probabilities = softmax(logits[position])
        order = np.argsort(-probabilities, kind="stable")[: max(top, 1)]
        guesses = [{"label": decode([int(index)]).strip(), "score": float(probabilities[index])} for index in order]
        return Label(input=text, label=guesses[0]["label"], score=guesses[0]["score"], top=guesses)

    def export_spec(self, model: Any, processor: TextProcessing) -> ExportSpec:
        from zoo_nlp.text_classification import TextClassification

        spec = TextClassification().export_spec(model, processor.tokenizer)
        return ExportSpec(spec.input_names, ("logits",), {**{name: {0: "batch", 1: "sequence"} for name in spec.input_names}, "logits": {0: "batch", 1: "sequence"}}, spec.sample, spec.max_length)


class Generator:
    """Generation for causal and text-to-text models, in PyTorch and on exported graphs."""

    kind = GENERATOR

    def _prompt_ids(self, tokenizer_encode: Callable[[str], list[int]], prompt: str, prefix: str, decoding: Decoding, limit: int, causal: bool) -> list[int]:
        decoding.check()
        ids = tokenizer_encode(prefix + prompt)
        needed = len(ids) + (decoding.max_new_tokens if causal else 0)
        if not ids:
            raise DataError("the prompt is empty", "give some text to continue")
        if needed > limit:
            advice = f"shorten the prompt or lower --max-new-tokens (now {decoding.max_new_tokens})" if causal else "shorten the input"
            raise DataError(f"the prompt is {len(ids)} tokens{f' plus {decoding.max_new_tokens} new ones' if causal else ''}; this model's context holds {limit}", advice)
        return ids

    def generate_model(self, model_dir: Path, prompt: str, options: dict[str, Any], on_text: Callable[[str], None] | None = None) -> dict[str, Any]:
        decoding = Decoding(**options)
        model, processor = self.load(model_dir, [], False)
        _has_head(model, model_dir, "language-model")
        model.eval()
        tokenizer = processor.tokenizer
        causal = not model.config.is_encoder_decoder
        settings = generation.settings_of(model, tokenizer, processor.prefix)
        ids = self._prompt_ids(lambda text: tokenizer(text)["input_ids"], prompt, processor.prefix, decoding, settings.max_positions, causal)
        stream = generation.Stream(lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True), on_text)
        streamer = generation.torch_streamer(stream, skip=len(ids) if causal else 1)
        tokens = generation.generate_torch(model, ids, decoding, settings.pad_token_id, streamer)
        return Generated(input=prompt, output=tokenizer.decode(tokens, skip_special_tokens=True), tokens=len(tokens))

    def generate_export(self, runtime: Runtime, export_dir: Path, prompt: str, options: dict[str, Any], on_text: Callable[[str], None] | None = None) -> dict[str, Any]:
        from tokenizers import Tokenizer

        decoding = Decoding(**options)
        settings = GenerationSettings.read(export_dir)
        tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        ids = self._prompt_ids(lambda text: tokenizer.encode(text).ids, prompt, settings.prefix, decoding, settings.max_positions, settings.kind == "causal")
        stream = generation.Stream(lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True), on_text)
        tokens = []
        for token in generation.generate_on_graphs(lambda inputs, graph: runtime.run(inputs, graph), settings, ids, decoding):
            tokens.append(token)
            stream.push(token)
        return Generated(input=prompt, output=tokenizer.decode(tokens, skip_special_tokens=True), tokens=len(tokens))

    def read_examples(self, path: Path, columns: Columns) -> Any:
        """Labelled examples (text, label) for prompting, read like a classifier's data."""
        from zoo_nlp.text_classification import TextClassification

        return TextClassification().read(path, columns)

    def score_choices(self, model_dir: Path, contexts: list[str], choices: list[str]) -> list[list[float]]:
        """Log-likelihood of each choice as the continuation of each context (summed over its tokens)."""
        from zoo_nlp.prompting import score_choices

        model, processor = self.load(model_dir, [], False)
        _has_head(model, model_dir, "language-model")
        return score_choices(model, processor.tokenizer, contexts, choices)

    def generation_engines(self, model: Any, processor: TextProcessing, runtimes: dict[str, Runtime], export_dir: Path, prompt_length: int, new_tokens: int) -> dict[str, Callable[[], int]]:
        """Functions that each generate `new_tokens` greedy tokens after one fixed prompt: PyTorch's
        `generate` and the loop on each runtime, for `zoo bench`."""
        settings = GenerationSettings.read(export_dir)
        rng = np.random.default_rng(0)
        low = max(processor.tokenizer.all_special_ids, default=-1) + 1
        if settings.kind == "causal" and prompt_length + new_tokens > settings.max_positions:
            raise DataError(f"a {prompt_length}-token prompt and {new_tokens} new tokens do not fit this model's context of {settings.max_positions}", f"pass --length {max(1, settings.max_positions - new_tokens)} or less, or fewer --new-tokens")
        prompt = rng.integers(low, int(model.config.vocab_size), size=prompt_length).tolist()
        decoding = Decoding(max_new_tokens=new_tokens, ignore_eos=True)
        engines: dict[str, Callable[[], int]] = {"pytorch eager": lambda: len(generation.generate_torch(model, prompt, decoding, settings.pad_token_id))}
        for name, runtime in runtimes.items():
            engines[name] = lambda runtime=runtime: sum(1 for _ in generation.generate_on_graphs(lambda inputs, graph: runtime.run(inputs, graph), settings, prompt, decoding))
        return engines

    def export_graphs(self, model: Any, processor: TextProcessing) -> list[tuple[str, Any, ExportSpec]]:
        from zoo_nlp import cached_decoders

        tokenizer = processor.tokenizer
        processor.generation = generation.settings_of(model, tokenizer, processor.prefix)
        low = max(tokenizer.all_special_ids, default=-1) + 1
        vocab = int(model.config.vocab_size)
        return cached_decoders.export_graphs(model, processor.generation, vocab, low if low < vocab else 0)

    def export_spec(self, model: Any, processor: TextProcessing) -> ExportSpec:
        return self.export_graphs(model, processor)[-1][2]

    def check_graphs(self, model: Any, processor: TextProcessing, run: generation.Run, strict: bool, shown: str) -> dict[str, float]:
        """Greedy tokens on the graphs against PyTorch's, for prompts of several lengths."""
        settings = processor.generation or generation.settings_of(model, processor.tokenizer, processor.prefix)
        rng = np.random.default_rng(7)
        low = max(processor.tokenizer.all_special_ids, default=-1) + 1
        vocab = int(model.config.vocab_size)
        prompts = [rng.integers(low if low < vocab else 0, vocab, size=length).tolist() for length in (1, 3, 8, 17)[: generation.CHECK_PROMPTS]]
        return {"greedy_match": generation.check_greedy(model, settings, run, prompts, strict, shown)}


class CausalLM(Generator, LanguageModel):
    """text-generation: causal-LM fine-tuning or continued pretraining on a corpus; generation."""

    auto_class = "AutoModelForCausalLM"

    def _check(self, config: Any, model_dir: Path) -> None:
        if getattr(config, "is_encoder_decoder", False) or objective_of(config) != "clm":
            raise DataError(f"{model_dir.name} ({config.model_type}) cannot generate left to right", f"it is {_kind(config)}")
