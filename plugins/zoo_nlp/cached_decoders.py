"""Generators as ONNX-exportable modules: the key-value cache as flat inputs and outputs.

A decoder graph takes the cache as `past_N_key`/`past_N_value` and returns it
grown by the new tokens (`present_N_*`); a text-to-text model adds an encoder
graph. Inside `forward` the flat tensors become the `DynamicCache` transformers
expects, so the TorchScript exporter traces the model's own attention code.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from zoo_core import ExportSpec
from zoo_nlp.generation import GenerationSettings, output_cache


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
