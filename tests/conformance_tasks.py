"""Each task zoo ships, with a tiny model and data it can train on, for the conformance suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tiny_models import corpus_lines, colour_images, colour_pairs, sentiment_rows, tiny_bert, tiny_clip, tiny_gpt2, tiny_t5, tiny_vit, write_csv
from tiny_ner import sentences, tiny_ner_bert
from tiny_ner import write_jsonl as write_ner
from tiny_qa import qa_rows, tiny_qa_bert
from tiny_qa import write_jsonl as write_qa


@dataclass
class Case:
    """How to run one task: its tiny model and data (built under a folder), and what to predict."""

    build: Callable[[Path], tuple[Path, Path]]  # folder -> (model folder, training data)
    inputs: Callable[[Path], list[str]] = lambda folder: ["a gripping film", "a dull mess"]
    predict_args: tuple[str, ...] = ()
    finetune_args: tuple[str, ...] = ()
    labels: tuple[str, ...] = field(default_factory=tuple)


def _text(folder: Path) -> tuple[Path, Path]:
    return tiny_bert(folder / "bert"), write_csv(folder / "train.csv", sentiment_rows(60, 1))


def _ner(folder: Path) -> tuple[Path, Path]:
    return tiny_ner_bert(folder / "bert"), write_ner(folder / "train.jsonl", sentences(60, 1))


def _qa(folder: Path) -> tuple[Path, Path]:
    return tiny_qa_bert(folder / "bert"), write_qa(folder / "train.jsonl", qa_rows(40, 1))


def _corpus(model: Callable[[Path], Path]) -> Callable[[Path], tuple[Path, Path]]:
    def build(folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        corpus = folder / "corpus.txt"
        corpus.write_text("\n".join(corpus_lines(60, 1)) + "\n")
        return model(folder / "model"), corpus

    return build


def _pairs(folder: Path) -> tuple[Path, Path]:
    pairs = [(line, line.split(" was ")[1].split(" ")[0]) for line in corpus_lines(60, 1)]
    return tiny_t5(folder / "t5"), write_csv(folder / "pairs.csv", pairs, ("source", "target"))


def _images(folder: Path) -> tuple[Path, Path]:
    return tiny_vit(folder / "vit"), colour_images(folder / "train", 8, 1)


def _image_text(folder: Path) -> tuple[Path, Path]:
    return tiny_clip(folder / "clip"), colour_pairs(folder / "train", 6, 1)


def _photos(folder: Path) -> list[str]:
    return [str(path) for path in sorted(colour_images(folder / "photos", 1, 9).rglob("*.png"))[:2]]


QUESTION = ("--question", "Who directed the film?", "--context", "The film was directed by Ana Lopez in Lisbon.")

CASES: dict[str, Case] = {
    "nlp/text-classification": Case(_text),
    "nlp/token-classification": Case(_ner, inputs=lambda folder: ["Ana Lopez visited Lisbon"]),
    "nlp/question-answering": Case(_qa, inputs=lambda folder: [], predict_args=QUESTION),
    "nlp/fill-mask": Case(_corpus(tiny_bert), inputs=lambda folder: ["the film was [MASK] ."]),
    "nlp/text-generation": Case(_corpus(tiny_gpt2), inputs=lambda folder: ["the film was"], predict_args=("--max-new-tokens", "4")),
    "nlp/text2text-generation": Case(_pairs, inputs=lambda folder: ["the film was great ."], predict_args=("--max-new-tokens", "4")),
    "nlp/translation": Case(_pairs, inputs=lambda folder: ["the film was great ."], predict_args=("--max-new-tokens", "4")),
    "nlp/summarization": Case(_pairs, inputs=lambda folder: ["the film was great ."], predict_args=("--max-new-tokens", "4")),
    "nlp/span-corruption": Case(_corpus(tiny_t5), inputs=lambda folder: ["the film was great ."], predict_args=("--max-new-tokens", "4")),
    "cv/image-classification": Case(_images, inputs=_photos),
    "multimodal/image-text-retrieval": Case(_image_text, inputs=_photos, predict_args=("--labels", "red,green")),
    "multimodal/zero-shot-image-classification": Case(_image_text, inputs=_photos, predict_args=("--labels", "red,green")),
}


def run_case(name: str, workdir: Path) -> None:
    """The conformance suite on one of zoo's own tasks."""
    from zoo_core.testing import check_task

    case = CASES[name]
    domain, task = name.split("/")
    model, data = case.build(workdir / "inputs")
    check_task(domain, task, model, case.inputs(workdir / "inputs"), workdir, data=data, predict_args=case.predict_args, finetune_args=case.finetune_args)
