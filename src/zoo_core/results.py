"""What `predict` answers, one typed row per input: the CLI prints `lines()`, `--json`, serving and
the MLflow pyfunc send `to_json()`, so a plugin's task is shown without the core guessing its shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    """One input's answer."""

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def lines(self, top: int = 1) -> list[str]:
        """How `zoo predict` prints it (tab-separated, one record per line)."""
        raise NotImplementedError


@dataclass
class Label(Result):
    """A classifier's (or zero-shot, or fill-mask) answer: the best label, its score and the `top` best."""

    input: str
    label: str
    score: float
    top: list[dict[str, Any]] = field(default_factory=list)  # [{"label", "score"}], best first
    scores: dict[str, float] | None = None  # every label's score, where there is a fixed label set

    def lines(self, top: int = 1) -> list[str]:
        if top <= 1:
            return [f"{self.label}\t{self.score:.3f}\t{self.input}"]
        return [self.input, *(f"  {rank}. {guess['score']:.3f}  {guess['label']}" for rank, guess in enumerate(self.top, start=1))]


@dataclass
class Entities(Result):
    """A tagger's answer: entities with `entity_group`, `word`, `start`, `end` (character offsets) and `score`."""

    input: str
    entities: list[dict[str, Any]]

    def lines(self, top: int = 1) -> list[str]:
        return [self.input, *(f"  {entity['entity_group']}\t{entity['score']:.3f}\t{entity['word']}\t[{entity['start']}:{entity['end']}]" for entity in self.entities)]


@dataclass
class Answer(Result):
    """An extractive answer: the span of the context, its score and character offsets."""

    question: str
    answer: str
    score: float
    start: int
    end: int

    def lines(self, top: int = 1) -> list[str]:
        return [f"{self.answer}\t{self.score:.3f}\t[{self.start}:{self.end}]\t{self.question}"]


@dataclass
class Generated(Result):
    """Generated text (streamed while it is made, so `lines()` prints nothing more)."""

    input: str
    output: str
    tokens: int

    def lines(self, top: int = 1) -> list[str]:
        return []


@dataclass
class Vector(Result):
    """An embedding."""

    input: str
    vector: list[float]

    def lines(self, top: int = 1) -> list[str]:
        shown = ", ".join(f"{value:.4f}" for value in self.vector[:4])
        return [f"[{shown}{', ...' if len(self.vector) > 4 else ''}] ({len(self.vector)} dimensions)\t{self.input}"]
