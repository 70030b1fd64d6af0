"""Text generation in PyTorch and on an export's graphs, with the same decoding rules.

An exported generator is a decoder graph that takes the key-value cache as flat
inputs (`past_N_key`, `past_N_value`) and returns it grown by the new tokens
(`present_N_*`); a text-to-text model adds an encoder graph. The loop here feeds
the cache back step by step through any `Runtime`, so it runs on whichever
exporter wrote the graphs, with numpy alone. PyTorch generates with
`model.generate`; validation demands that both pick the same greedy tokens.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core import DataError, ExportSpec, ZooError

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


def _cache_argument(model: Any) -> str:
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _causal_mask(attention_mask: Any, query_length: Any, dtype: Any) -> Any:
    """The additive 4-D mask (padding and causality) built from tensor shapes, so it traces with dynamic lengths.

    Handing the model a 4-D mask also keeps transformers from choosing a mask-free
    path from the shapes seen while tracing, which would be frozen into the graph.
    """
    import torch

    total = attention_mask.shape[1]
    keys = torch.arange(total, device=attention_mask.device)
    queries = torch.arange(query_length, device=attention_mask.device) + (total - query_length)
    allowed = (keys[None, :] <= queries[:, None])[None, None] & attention_mask[:, None, None, :].bool()
    return torch.zeros(allowed.shape, dtype=dtype, device=attention_mask.device).masked_fill(~allowed, torch.finfo(dtype).min)


def _pairs(past: tuple[Any, ...], settings: GenerationSettings) -> list[tuple[Any, Any]]:
    """The flat past inputs (key, value, key, value, ... in layer order) as the (key, value) per layer a cache is built from.

    They come positionally: the TorchScript exporter binds keyword inputs only to named parameters.
    """
    return [(past[2 * layer], past[2 * layer + 1]) for layer in range(settings.layers)]


def causal_decoder(model: Any, settings: GenerationSettings) -> Any:
    """input_ids, attention_mask, position_ids, past_* -> logits, present_*"""
    import torch
    from transformers import DynamicCache

    argument = _cache_argument(model)

    class CausalDecoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(ddp_cache_data=_pairs(past, settings), config=self.model.config)
            mask = _causal_mask(attention_mask, input_ids.shape[1], torch.float32)
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids, use_cache=True, **{argument: cache})
            present = [tensor for layer in output_cache(out).layers for tensor in (layer.keys, layer.values)]
            return {"logits": out["logits"], **dict(zip(settings.present_names(), present))}

    return CausalDecoder().eval()


def seq2seq_encoder(model: Any) -> Any:
    """input_ids, attention_mask -> encoder_hidden_states"""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return {"encoder_hidden_states": self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)[0]}

    return Encoder().eval()


def seq2seq_decoder(model: Any, settings: GenerationSettings) -> Any:
    """decoder_input_ids, encoder_hidden_states, encoder_attention_mask, past_* -> logits, present_*

    Only the decoder's self-attention is cached; cross-attention keys and values
    are recomputed from the encoder states each step (one graph, no first-step variant).
    """
    import torch
    from transformers import DynamicCache, EncoderDecoderCache

    argument = _cache_argument(model)

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask, *past):
            own = DynamicCache(ddp_cache_data=_pairs(past, settings), config=self.model.config)
            cache = EncoderDecoderCache(own, DynamicCache(config=self.model.config))
            out = self.model(
                encoder_outputs=(encoder_hidden_states,),
                attention_mask=encoder_attention_mask,
                decoder_input_ids=decoder_input_ids,
                use_cache=True,
                **{argument: cache},
            )
            present = [tensor for layer in output_cache(out).self_attention_cache.layers for tensor in (layer.keys, layer.values)]
            return {"logits": out["logits"], **dict(zip(settings.present_names(), present))}

    return Decoder().eval()


def export_graphs(model: Any, settings: GenerationSettings, vocab_size: int, low_id: int) -> list[tuple[str, Any, ExportSpec]]:
    """The graphs of a generator with their dynamic axes and random inputs of every shape the loop feeds."""
    past_axes = {name: {0: "batch", 2: "past"} for name in settings.past_names()}
    present_axes = {name: {0: "batch", 2: "total"} for name in settings.present_names()}

    def past(rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
        return {name: rng.standard_normal((batch, settings.heads, length, settings.head_dim), dtype=np.float32) for name in settings.past_names()}

    def ids(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        return rng.integers(low_id, vocab_size, size=(batch, length), dtype=np.int64)

    if settings.kind == "causal":

        def causal_sample(batch: int, length: int, seed: int) -> dict[str, Any]:
            rng = np.random.default_rng(seed)
            new = 1 + seed % 2 * (length // 2)  # a prompt chunk or a single next token
            cached = length - new
            mask = np.ones((batch, cached + new), dtype=np.int64)
            mask[0, : min(2, cached)] = 0  # a left-padded row
            positions = np.broadcast_to(np.arange(cached, cached + new), (batch, new)).copy()
            return {"input_ids": ids(rng, batch, new), "attention_mask": mask, "position_ids": positions, **past(rng, batch, cached)}

        spec = ExportSpec(
            input_names=("input_ids", "attention_mask", "position_ids", *settings.past_names()),
            output_names=("logits", *settings.present_names()),
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "position_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total"}, "logits": {0: "batch", 1: "sequence"}, **past_axes, **present_axes},
            sample=causal_sample,
            max_length=settings.max_positions,
        )
        return [("decoder", causal_decoder(model, settings), spec)]

    hidden = int(model.config.d_model if hasattr(model.config, "d_model") else model.config.hidden_size)

    def encoder_sample(batch: int, length: int, seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        mask = np.ones((batch, length), dtype=np.int64)
        mask[0, max(1, length // 2) :] = 0
        return {"input_ids": ids(rng, batch, length), "attention_mask": mask}

    def decoder_sample(batch: int, length: int, seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        source = max(2, length // 2)
        mask = np.ones((batch, source), dtype=np.int64)
        mask[0, source - 1 :] = 0
        new = 1 + seed % 2
        return {
            "decoder_input_ids": ids(rng, batch, new),
            "encoder_hidden_states": rng.standard_normal((batch, source, hidden), dtype=np.float32),
            "encoder_attention_mask": mask,
            **past(rng, batch, max(0, length - source)),
        }

    encoder_spec = ExportSpec(
        input_names=("input_ids", "attention_mask"),
        output_names=("encoder_hidden_states",),
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "encoder_hidden_states": {0: "batch", 1: "sequence"}},
        sample=encoder_sample,
        max_length=settings.max_positions,
    )
    decoder_spec = ExportSpec(
        input_names=("decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask", *settings.past_names()),
        output_names=("logits", *settings.present_names()),
        dynamic_axes={
            "decoder_input_ids": {0: "batch", 1: "sequence"},
            "encoder_hidden_states": {0: "batch", 1: "source"},
            "encoder_attention_mask": {0: "batch", 1: "source"},
            "logits": {0: "batch", 1: "sequence"},
            **past_axes,
            **present_axes,
        },
        sample=decoder_sample,
        max_length=settings.max_positions,
    )
    return [("encoder", seq2seq_encoder(model), encoder_spec), ("decoder", seq2seq_decoder(model, settings), decoder_spec)]


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
