"""The base class every task adapter subclasses: it declares its kind, and what a kind does not
need has a default here, so the engine calls methods and never probes an adapter with `hasattr`.

Kinds (`TaskAdapter.kind`):
- `classifier`: one label per row; zoo's engine scores accuracy and macro-F1, and `predict_export`
  is one softmax over the export's first output (a `Label` row per input).
- `tagger`, `span-extractor`, `retrieval`, `language-model`, `embedder`: trained with the model's own
  loss; they implement `evaluate` and their own `predict_model`/`predict_export` rows.
- `generator`: also `generate_model`/`generate_export` (streamed text), `score_choices` (prompting),
  `check_graphs` (greedy tokens against PyTorch) and `generation_engines` (`zoo bench`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from zoo_core.errors import RecipeError, RefError
from zoo_core.results import Result

if TYPE_CHECKING:
    from zoo_core.types import Columns, ExportReport, ExportSpec, Runtime

CLASSIFIER = "classifier"
TAGGER = "tagger"
SPAN_EXTRACTOR = "span-extractor"
GENERATOR = "generator"
LANGUAGE_MODEL = "language-model"
EMBEDDER = "embedder"
RETRIEVAL = "retrieval"


class TaskAdapter:
    """What the engine asks of a task: read data, build and load models, encode, evaluate, export, predict.

    Data comes back as a `datasets.Dataset` (classifiers: with a string `label` column); models come back
    with their preprocessor (tokenizer, image processor). The engine owns training (the Hugging Face
    Trainer), tracking and saving; the adapter owns everything that depends on the modality.
    """

    kind: ClassVar[str] = CLASSIFIER
    trains: ClassVar[bool] = True  # False: used as it is (a pretrained encoder's embeddings); zoo finetune refuses it
    export_metric: ClassVar[str | None] = None  # the `evaluate`/`score_export` key `zoo export --data` compares (classifiers: accuracy)

    @property
    def labelled(self) -> bool:
        """One label per row: the engine splits by class, scores accuracy and macro-F1 and plots a confusion matrix."""
        return self.kind == CLASSIFIER

    @property
    def generates(self) -> bool:
        return self.kind == GENERATOR

    def metric(self) -> str | None:
        """What `zoo export --data` compares between PyTorch and each variant."""
        return "accuracy" if self.labelled else self.export_metric

    # reading data
    def configure(self, settings: dict[str, Any]) -> None:
        """Task settings from the recipe and the task's options (a T5 `prefix`, `max_length`) before data is read."""

    def read(self, path: Path, columns: Columns) -> Any:
        """A data file as a Dataset with the model's inputs (classifiers: and a string `label` column)."""
        raise NotImplementedError

    def read_unlabeled(self, path: Path, columns: Columns) -> Any:
        """Data without labels (self-training pseudo-labels it)."""
        raise RecipeError(f"a {self.kind} task cannot read data without labels", "use --method full, freeze or lora for this task")

    def read_examples(self, path: Path, columns: Columns) -> Any:
        """Labelled examples (text, label) for prompting."""
        return self.read(path, columns)

    def labels_of(self, train: Any, val: Any) -> list[str]:
        """The labels the head is built for, where they are not one per row (a tagger's tags)."""
        return []

    # models
    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        """A pretrained (or, with `scratch`, randomly initialised) model with a new head for `labels`, and its preprocessor."""
        raise NotImplementedError

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        """A fine-tuned model, its preprocessor and its labels (in id order)."""
        raise NotImplementedError

    def encode(self, dataset: Any, processor: Any, labels: list[str], max_length: int, train: bool = False) -> Any:
        """Model inputs plus `labels`, ready for the Trainer (`train`: with augmentation, if any)."""
        raise NotImplementedError

    def collator(self, processor: Any) -> Callable[[list[dict]], dict]:
        """Batches encoded examples (padding them as the model needs)."""
        raise NotImplementedError

    def evaluate(self, model: Any, processor: Any, dataset: Any, labels: list[str]) -> dict[str, float]:
        """The task's metrics on `dataset` (every kind but classifiers, which the engine scores)."""
        raise NotImplementedError(f"a {self.kind} adapter implements evaluate")

    # export
    def export_spec(self, model: Any, processor: Any) -> ExportSpec:
        """Input and output names, dynamic axes and random inputs for exporting `model`."""
        raise NotImplementedError

    def export_graphs(self, model: Any, processor: Any) -> list[tuple[str, Any, ExportSpec]]:
        """The graphs an export holds, as (name, module, spec); one `model` graph unless overridden (towers, decoders)."""
        return [("model", model, self.export_spec(model, processor))]

    def export_inputs(self, export_dir: Path, inputs: list[Any], max_length: int) -> dict[str, Any]:
        """Raw user inputs as an export's numpy inputs, read with the preprocessing files in `export_dir`, without torch."""
        raise NotImplementedError(f"a {self.kind} adapter implements export_inputs")

    def check_graphs(self, model: Any, processor: Any, run: Any, strict: bool, shown: str) -> dict[str, float]:
        """Generators: compare the export's greedy tokens with PyTorch's (an exporter calls it)."""
        return {}

    # predicting
    def predict_model(self, model_dir: Path, inputs: list[Any], labels: list[str], top: int) -> list[Result]:
        """Answers straight from a model folder, one row per input."""
        raise RefError(f"a {self.kind} model answers from its export", "make one with zoo export REF and predict with the export folder")

    def predict_export(self, runtime: Runtime, export_dir: Path, inputs: list[Any], labels: list[str], top: int) -> list[Result]:
        """Answers from an export on its runtime, one row per input (classifiers are answered by zoo: one
        softmax over the export's first output, through `export_inputs`)."""
        raise NotImplementedError(f"a {self.kind} adapter implements predict_export")

    def score_export(self, runtime: Runtime, export_dir: Path, report: ExportReport, dataset: Any) -> dict[str, float]:
        """`zoo export --data`: the export's `export_metric` on `dataset` (classifiers: accuracy, by the engine)."""
        raise NotImplementedError(f"a {self.kind} adapter with an export_metric implements score_export")

    # generators
    def generate_model(self, model_dir: Path, prompt: str, options: dict[str, Any], on_text: Callable[[str], None] | None = None) -> Result:
        raise RefError(f"a {self.kind} model does not generate text", "zoo predict REF INPUT shows what it answers")

    def generate_export(self, runtime: Runtime, export_dir: Path, prompt: str, options: dict[str, Any], on_text: Callable[[str], None] | None = None) -> Result:
        raise RefError(f"a {self.kind} export does not generate text", "zoo predict EXPORT INPUT shows what it answers")

    def score_choices(self, model_dir: Path, contexts: list[str], choices: list[str]) -> list[list[float]]:
        raise RecipeError(f"a {self.kind} model cannot score answers to a prompt", "prompt a causal (GPT-2) or text-to-text (T5) model, or fine-tune this one with zoo finetune")

    def generation_engines(self, model: Any, processor: Any, runtimes: dict[str, Runtime], export_dir: Path, prompt_length: int, new_tokens: int) -> dict[str, Callable[[], int]]:
        """Generators: timed engines for `zoo bench` (PyTorch and each variant), each generating `new_tokens`."""
        return {}
