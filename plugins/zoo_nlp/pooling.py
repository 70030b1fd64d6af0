"""Mean-pooled sequence classifiers for sentence-embedding models.

Sentence-embedding checkpoints (all-MiniLM-L6-v2 and the other sentence-transformers)
were trained to mean-pool their token states; a [CLS] pooler on top of them starts
from features the model never learned to put there. The classifier keeps the
backbone under its usual prefix, so Hugging Face loads the pretrained weights,
saves and reloads the fine-tuned model, and PEFT and the ONNX exporter treat it
like any sequence classifier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers.modeling_outputs import SequenceClassifierOutput

from zoo_core import CARD_COPY

MEAN = "mean"


def pooling(model_dir: Path) -> str:
    """'mean' where the card, a fine-tuned config or a sentence-transformers checkpoint says so; else 'cls'."""
    card = model_dir / CARD_COPY
    if card.is_file():
        chosen = (json.loads(card.read_text()).get("preprocessing") or {}).get("pooling")
        if chosen:
            return chosen
    config = model_dir / "config.json"
    if config.is_file() and json.loads(config.read_text()).get("zoo_pooling") == MEAN:
        return MEAN
    sentence_pooling = model_dir / "1_Pooling" / "config.json"
    if sentence_pooling.is_file() and json.loads(sentence_pooling.read_text()).get("pooling_mode_mean_tokens"):
        return MEAN
    return "cls"


class MeanPooledClassifier(transformers.PreTrainedModel):
    """A linear classifier over the attention-masked mean of the backbone's token states."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        config.zoo_pooling = MEAN
        setattr(self, self.base_model_prefix, _backbone(config))
        self.dropout = torch.nn.Dropout(getattr(config, "hidden_dropout_prob", None) or 0.1)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, labels: Any = None, **kwargs: Any) -> SequenceClassifierOutput:
        backbone = getattr(self, self.base_model_prefix)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        states = backbone(**inputs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _backbone(config: Any) -> Any:
    """The encoder without its [CLS] pooler where the architecture lets us leave it out (BERT and kin)."""
    try:
        return transformers.AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return transformers.AutoModel.from_config(config)


def classifier_class(config: Any) -> type[MeanPooledClassifier]:
    """The mean-pooled classifier for this config's backbone, under that backbone's weight prefix."""
    backbone = transformers.AutoModel._model_mapping[type(config)]
    return type(f"MeanPooled{backbone.__name__}", (MeanPooledClassifier,), {"base_model_prefix": backbone.base_model_prefix, "config_class": type(config)})
