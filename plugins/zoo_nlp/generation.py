"""Text generation in PyTorch and on an export's graphs, with the same decoding rules.

An exported generator is a decoder graph with its key-value cache as inputs and
outputs (`cached_decoders`). The loop here feeds the cache back step by step
through any `Runtime`, so it runs on whichever exporter wrote the graphs, with
numpy alone. PyTorch generates with
`model.generate`; validation demands that both pick the same greedy tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import DataError, ZooError

SETTINGS_FILE = "zoo-generation.json"
CHECK_PROMPTS = 4  # greedy generations compared with PyTorch when exporting
CHECK_TOKENS = 12


class GreedyMismatchError(ZooError):
    """An exported generator whose greedy tokens are not PyTorch's."""


@dataclass(frozen=True)
class Decoding:
    """How the next token is chosen: greedy unless `temperature` > 0 (then top-k/top-p sampling)."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    ignore_eos: bool = False  # benchmarks: always generate max_new_tokens

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise DataError(f"--max-new-tokens {self.max_new_tokens} generates nothing", "pass --max-new-tokens 1 or more (default 32)")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise DataError("--temperature must be >= 0, --top-p in (0, 1] and --top-k >= 0", "for example --temperature 0.8 --top-p 0.95")

    @property
    def sampling(self) -> bool:
        return self.temperature > 0


@dataclass(frozen=True)
class GenerationSettings:
    """What the loop needs to know about an exported generator, saved beside its graphs."""

    kind: str  # "causal" or "seq2seq"
    layers: int
    heads: int
    head_dim: int
    eos_token_ids: list[int]
    pad_token_id: int
    decoder_start_token_id: int | None
    max_positions: int
    prefix: str = ""

    @classmethod
    def read(cls, folder: Path) -> GenerationSettings:
        return cls(**json.loads((folder / SETTINGS_FILE).read_text()))

    def save(self, folder: Path) -> None:
        (Path(folder) / SETTINGS_FILE).write_text(json.dumps(asdict(self), indent=2))

    def past_names(self) -> list[str]:
        return [f"past_{layer}_{part}" for layer in range(self.layers) for part in ("key", "value")]

    def present_names(self) -> list[str]:
        return [f"present_{layer}_{part}" for layer in range(self.layers) for part in ("key", "value")]

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, self.heads, 0, self.head_dim), dtype=np.float32) for name in self.past_names()}


def settings_of(model: Any, tokenizer: Any, prefix: str = "") -> GenerationSettings:
    """Cache shapes read off one real forward pass, so any decoder architecture describes itself."""
    import torch

    config = model.config
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    ids = torch.tensor([[tokenizer.pad_token_id or 0]])
    with torch.no_grad():
        if seq2seq:
            out = model(input_ids=ids, decoder_input_ids=ids, use_cache=True)
        else:
            out = model(input_ids=ids, use_cache=True)
    cache = output_cache(out)
    layers = cache.self_attention_cache.layers if seq2seq else cache.layers
    _, heads, _, head_dim = layers[0].keys.shape
    eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
    start = getattr(config, "decoder_start_token_id", None)
    positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or tokenizer.model_max_length
    return GenerationSettings(
        kind="seq2seq" if seq2seq else "causal",
        layers=len(layers),
        heads=int(heads),
        head_dim=int(head_dim),
        eos_token_ids=[int(eos)] if isinstance(eos, int) else [int(value) for value in (eos or [])],
        pad_token_id=int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
        decoder_start_token_id=None if start is None else int(start),
        max_positions=int(min(positions, 1_000_000)) if positions else 512,
        prefix=prefix,
    )


def output_cache(out: Any) -> Any:
    """The cache a forward pass returned (`cache` in transformers 5.2x, `past_key_values` before)."""
    return out["cache"] if "cache" in out else out["past_key_values"]


class Stream:
    """Token ids in, new text out: decodes the whole output each time, so multi-token characters come out whole."""

    def __init__(self, decode: Callable[[list[int]], str], on_text: Callable[[str], None] | None) -> None:
        self.decode, self.on_text, self.ids, self.text = decode, on_text, [], ""

    def push(self, token: int) -> None:
        self.ids.append(int(token))
        text = self.decode(self.ids)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the rest
            return
        new, self.text = text[len(self.text) :], text
        if new and self.on_text:
            self.on_text(new)


def torch_streamer(stream: Stream, skip: int) -> Any:
    """A transformers streamer feeding `stream`; the first `skip` pushes (the prompt) are not output."""
    from transformers.generation.streamers import BaseStreamer

    class Streamer(BaseStreamer):
        def __init__(self) -> None:
            self.skip = skip

        def put(self, value: Any) -> None:
            for token in value.reshape(-1).tolist():
                if self.skip > 0:
                    self.skip -= 1
                    continue
                stream.push(token)

        def end(self) -> None:
            pass

    return Streamer()


def choose(logits: np.ndarray, decoding: Decoding, rng: np.random.Generator) -> int:
    """The next token from one row of logits: argmax, or a sample under temperature, top-k and top-p."""
    if not decoding.sampling:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / decoding.temperature
    if decoding.top_k:
        cutoff = np.sort(scores)[-min(decoding.top_k, scores.size)]
        scores = np.where(scores < cutoff, -np.inf, scores)
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    if decoding.top_p < 1:
        order = np.argsort(-probabilities, kind="stable")
        keep = np.cumsum(probabilities[order]) - probabilities[order] < decoding.top_p
        trimmed = np.zeros_like(probabilities)
        trimmed[order[keep]] = probabilities[order[keep]]
        probabilities = trimmed / trimmed.sum()
    return int(rng.choice(probabilities.size, p=probabilities))


Run = Callable[[dict[str, np.ndarray], str], list[np.ndarray]]


def generate_on_graphs(run: Run, settings: GenerationSettings, prompt_ids: list[int], decoding: Decoding) -> Iterator[int]:
    """New token ids, one at a time, from the exported graphs (batch of one, cache fed back each step)."""
    rng = np.random.default_rng(decoding.seed)
    past = settings.empty_past(1)
    names = settings.present_names()
    if settings.kind == "causal":
        tokens = np.array([prompt_ids], dtype=np.int64)
        seen = 0
        for _ in range(decoding.max_new_tokens):
            length = seen + tokens.shape[1]
            inputs = {"input_ids": tokens, "attention_mask": np.ones((1, length), dtype=np.int64), "position_ids": np.arange(seen, length, dtype=np.int64)[None], **past}
            logits, *present = run(inputs, "decoder")
            past = {name.replace("present", "past"): value for name, value in zip(names, present)}
            token = choose(logits[0, -1], decoding, rng)
            yield token
            if token in settings.eos_token_ids and not decoding.ignore_eos:
                return
            seen, tokens = length, np.array([[token]], dtype=np.int64)
        return
    source = {"input_ids": np.array([prompt_ids], dtype=np.int64), "attention_mask": np.ones((1, len(prompt_ids)), dtype=np.int64)}
    [states] = run(source, "encoder")
    token = settings.decoder_start_token_id if settings.decoder_start_token_id is not None else settings.pad_token_id
    for _ in range(decoding.max_new_tokens):
        inputs = {"decoder_input_ids": np.array([[token]], dtype=np.int64), "encoder_hidden_states": states, "encoder_attention_mask": source["attention_mask"], **past}
        logits, *present = run(inputs, "decoder")
        past = {name.replace("present", "past"): value for name, value in zip(names, present)}
        token = choose(logits[0, -1], decoding, rng)
        yield token
        if token in settings.eos_token_ids and not decoding.ignore_eos:
            return


def generate_torch(model: Any, prompt_ids: list[int], decoding: Decoding, pad_token_id: int, streamer: Any = None) -> list[int]:
    """New token ids from `model.generate`, greedy or sampled, optionally streamed."""
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids], device=device)
    options: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens, "do_sample": decoding.sampling, "pad_token_id": pad_token_id}
    if decoding.ignore_eos:
        options["min_new_tokens"] = decoding.max_new_tokens
    if decoding.sampling:
        options.update(temperature=decoding.temperature, top_k=decoding.top_k or None, top_p=decoding.top_p)
        if decoding.seed is not None:
            torch.manual_seed(decoding.seed)
    else:
        options.update(temperature=None, top_k=None, top_p=None)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer, **options)
    new = out[0] if model.config.is_encoder_decoder else out[0, len(prompt_ids) :]
    tokens = new.tolist()
    if model.config.is_encoder_decoder and tokens and tokens[0] == model.config.decoder_start_token_id:
        tokens = tokens[1:]
    return tokens


def check_greedy(model: Any, settings: GenerationSettings, run: Run, prompts: list[list[int]], strict: bool, shown: str) -> float:
    """The share of prompts whose greedy tokens on the graphs equal PyTorch's; with `strict`, all must."""
    decoding = Decoding(max_new_tokens=CHECK_TOKENS)
    matched = 0
    for number, prompt in enumerate(prompts, start=1):
        want = generate_torch(model, prompt, decoding, settings.pad_token_id)
        got = list(generate_on_graphs(run, settings, prompt, decoding))
        if got == want:
            matched += 1
        elif strict:
            step = next((index for index, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise GreedyMismatchError(
                f"{shown}: greedy tokens differ from PyTorch's at step {step + 1} of test prompt {number} ({got[step:step + 3]} vs {want[step:step + 3]})",
                "the export is wrong; nothing was kept",
            )
    return matched / len(prompts)
