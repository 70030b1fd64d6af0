"""The descriptors plugins yield from their hooks.

They are frozen dataclasses holding names and callables, so a plugin module
stays cheap to import: heavy libraries are imported inside the callables, when
a command actually runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol


# The task `zoo adapt` trains for each pretraining objective a domain names.
OBJECTIVE_TASKS = {"mlm": "fill-mask", "clm": "text-generation", "span": "span-corruption"}


@dataclass(frozen=True)
class Source:
    """Where models come from: one URI scheme (`hf`, `https`, `file`, `pypi`, ...).

    `fetch(uri, dest, revision)` downloads what `uri` names into the folder `dest`
    and returns the revision it resolved (or None when the source has none).
    `dest` keeps what an interrupted attempt left, so a source that can resume
    should. Failures raise `zoo_core.errors.SourceError`; zoo then verifies the
    files, writes the manifest and moves the folder into the store.
    """

    scheme: str
    summary: str
    fetch: Callable[[str, Path, str | None], str | None]


@dataclass(frozen=True)
class Domain:
    """A family of models and data (nlp, cv, multimodal) and the tasks it serves.

    `adapter(task)` returns the `TaskAdapter` that trains and evaluates `task`;
    it is only called by commands that need it, so it may import torch.
    `objective(model_dir)`, for domains whose models learn from unlabelled data,
    names the pretraining objective the model was built with (`mlm`, `clm`,
    `span`); `zoo adapt` then trains the task `OBJECTIVE_TASKS[objective]`
    (fill-mask, text-generation, span-corruption), which the domain must list.
    `task_of(model_dir)` names the task a checkpoint's own head performs (a
    masked-LM head fills masks), for folders with no card and no zoo-model.json;
    None where it has no head zoo could use.
    """

    name: str
    summary: str
    tasks: tuple[str, ...]
    adapter: Callable[[str], TaskAdapter] | None = None
    objective: Callable[[Path], str] | None = None
    task_of: Callable[[Path], str | None] | None = None


@dataclass(frozen=True)
class ExportSpec:
    """What an exporter needs from a domain: graph names, dynamic axes and fresh inputs.

    `sample(batch, length, seed)` returns valid random inputs as numpy arrays keyed
    by input name. `model_type`, `num_heads` and `hidden_size` let onnxruntime's
    transformer optimizer fuse attention (None/0 when it does not apply).
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    sample: Callable[[int, int, int], dict[str, Any]]
    max_length: int
    model_type: str | None = None
    num_heads: int = 0
    hidden_size: int = 0


@dataclass(frozen=True)
class Columns:
    """Which columns of a data file hold the inputs and the label or target text (None: detect)."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None
    target: str | None = None


class TaskAdapter(Protocol):
    """What the fine-tuning engine asks of a domain for one task.

    Data comes back as a `datasets.Dataset` with string labels in a `label`
    column; models come back with their preprocessor (tokenizer, image
    processor). The engine owns training (the Hugging Face Trainer), tracking and
    saving; the adapter owns everything that depends on the modality.

    `labelled` adapters are classifiers: their data has a `label` column and the
    engine scores them by accuracy and macro-F1. Pair tasks (image-text) set it
    False: the model's own loss trains them, and they add
    `evaluate(model, processor, dataset, labels) -> metrics`. Optional extras:
    `export_graphs(model, processor)` for models exported as several graphs,
    `predict_model(...)` and `predict_export(...)` for predictions that are not
    one softmax over the model's own labels (zero-shot, fill-mask),
    `configure(recipe)` to read task settings from the recipe (a T5 `prefix`,
    `mlm_probability`, `max_length`) before reading data. Generators add
    `generate_model(model_dir, prompt, decoding, on_text)` and
    `generate_export(runtime, export_dir, prompt, decoding, on_text)`, which stream
    text pieces to `on_text`, `check_graphs(model, processor, run, strict, shown)`,
    which an exporter calls to compare generated tokens with PyTorch's, and
    `score_choices(model_dir, contexts, choices)` for prompting. Unlabelled tasks whose
    labels are not one per row (a tagger's tags) add `labels_of(train, val)`, the
    label list the model's head is built for; with `score_export(runtime, export_dir,
    report, dataset)` and `export_metric` (the key compared), `zoo export --data` scores
    their exports as `evaluate` scores the model. `predict_model`/`predict_export` return
    one dict per input: `label`/`score`/`top` (classifiers), `entities` (taggers: dicts
    with `entity_group`, `word`, `start`, `end`, `score`) or `answer`/`start`/`end`/
    `score`/`question` (extractive QA, whose inputs are `{"question", "context"}` dicts).
    """

    labelled: bool

    def read(self, path: Path, columns: Columns) -> Any:
        """Read a data file into a Dataset with the inputs and a string `label` column."""

    def load(self, model_dir: Path, labels: list[str], scratch: bool) -> tuple[Any, Any]:
        """A pretrained (or, with `scratch`, randomly initialised) model with a new head for `labels`."""

    def load_trained(self, model_dir: Path) -> tuple[Any, Any, list[str]]:
        """A fine-tuned model, its preprocessor and its labels (in id order)."""

    def encode(self, dataset: Any, processor: Any, labels: list[str], max_length: int, train: bool = False) -> Any:
        """Model inputs plus integer `labels`, ready for the Trainer (`train`: with augmentation, if any)."""

    def collator(self, processor: Any) -> Callable[[list[dict]], dict]:
        """Batches encoded examples (padding them as the model needs)."""

    def export_spec(self, model: Any, processor: Any) -> ExportSpec:
        """Input and output names, dynamic axes and random inputs for exporting `model`."""

    def export_inputs(self, export_dir: Path, inputs: list[str], max_length: int) -> dict[str, Any]:
        """Raw user inputs (texts, image paths) as an export's numpy inputs, read with the
        preprocessing files saved in `export_dir`, without torch."""


@dataclass(frozen=True)
class Method:
    """A way to adapt a pretrained model (full, freeze, lora, ...).

    `prepare(model, options)` returns the model ready to train: weights frozen or
    adapters added as the method wants. `options` holds the method's settings
    from the recipe or CLI (for example `{"rank": 8}` for LoRA) and the `task`.
    `defaults` are recipe values the method works best with, such as `{"lr": 1e-3}`.

    A method that trains several models in turn (self-training) has `fit(session)` instead:
    zoo opens the parent MLflow run and hands it a `TrainingSession`; each
    `session.train(...)` is one round, prepared by the recipe's `base_method`; `fit`
    returns the round to keep, which zoo logs and registers under the parent.
    """

    name: str
    summary: str
    prepare: Callable[[Any, dict[str, Any]], Any] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fit: Callable[[TrainingSession], Any] | None = None


class TrainingSession(Protocol):
    """What a multi-run method (`Method.fit`) drives: rounds of training inside one parent run.

    `train_data` is the labelled training set (a Dataset with a string `label`
    column), `labels` the classes, `settings` the recipe as a dict (`rounds`,
    `confidence`, `max_per_class`, ...). `unlabeled()` reads the recipe's unlabelled
    data through the task adapter (no `label` column). `train(data, round, stats)`
    trains one round on `data` as a run nested in the parent, logs `stats` on it
    and on the parent (with the round as the step), and returns its outcome
    (`metrics`, `model_dir`, `run_id`). `probabilities(outcome, data)` is that round's
    model's class probabilities for every row of `data`, a numpy array in `labels`
    order. `report(line)` tells the user.
    """

    train_data: Any
    labels: list[str]
    settings: dict[str, Any]

    def unlabeled(self) -> Any:
        """The unlabelled data, read by the task's adapter."""

    def train(self, data: Any, round: int, stats: dict[str, float]) -> Any:
        """One round trained on `data`, as a nested run."""

    def probabilities(self, outcome: Any, data: Any) -> Any:
        """Class probabilities of `outcome`'s model for `data`, shape (rows, labels)."""

    def report(self, line: str) -> None:
        """A line for the user."""


@dataclass(frozen=True)
class ExportedVariant:
    """One variant of an export (fp32, optimized, int8, ...): its files and its distance to PyTorch.

    `files` maps each graph name (`model`, or an adapter's towers such as `image`
    and `text`) to a file relative to the export folder; `max_abs_diff` maps each
    output to its largest absolute difference from PyTorch on fresh inputs.
    """

    files: dict[str, str]
    max_abs_diff: dict[str, float]


@dataclass(frozen=True)
class ExportReport:
    """What an exporter made; zoo saves it in `zoo-export.json` and hands it back to the runtime.

    `variants` are in the order the exporter prefers to show them. `labels` are the
    classifier's labels in output order (empty for other tasks), `max_length` the
    longest sequence inputs may have. `details` holds format-specific facts (an
    ONNX opset, a TorchScript version) as JSON-ready values.
    """

    variants: dict[str, ExportedVariant]
    labels: list[str]
    max_length: int
    graphs: tuple[str, ...] = ("model",)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "variants": {name: {"files": variant.files, "max_abs_diff": variant.max_abs_diff} for name, variant in self.variants.items()},
            "labels": list(self.labels),
            "max_length": self.max_length,
            "graphs": list(self.graphs),
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportReport:
        variants = {name: ExportedVariant(dict(value["files"]), dict(value["max_abs_diff"])) for name, value in data["variants"].items()}
        return cls(variants, list(data["labels"]), int(data["max_length"]), tuple(data["graphs"]), dict(data.get("details") or {}))


class Runtime(Protocol):
    """An export opened for inference by the exporter that wrote it.

    `variant` and `provider` say what actually runs (`int8` on
    `CPUExecutionProvider`, `fp32` on `cuda:0`). `run(inputs, graph)` takes numpy
    arrays keyed by input name (extra keys are ignored) and returns the graph's
    outputs as numpy arrays, in `ExportSpec.output_names` order. `prepare(inputs,
    static)` readies fixed inputs for timing and returns a function that runs them
    once, as fast as the runtime can (inputs already on the device; with
    `static`, shapes never change, so CUDA-graph replay is allowed); `zoo bench`
    times that function.
    """

    variant: str
    provider: str

    def run(self, inputs: Mapping[str, Any], graph: str = "model") -> list[Any]:
        """The outputs of `graph` for `inputs`."""

    def prepare(self, inputs: Mapping[str, Any], static: bool = False) -> Callable[[], Any]:
        """A function that runs the single graph on `inputs`, for timing."""


@dataclass(frozen=True)
class Exporter:
    """A format a model can be exported to (onnx, torchscript, ...), end to end.

    `export(model_dir, adapter, out_dir, options)` writes the exported model into
    the empty folder `out_dir` and returns an `ExportReport`. `adapter` is the
    model's `TaskAdapter`: it loads the model and supplies sample inputs. Validation
    failures raise `ZooError`s; zoo then removes `out_dir`.

    `open(export_dir, report, provider, variant, threads)` opens an export this
    exporter wrote and returns its `Runtime`; `provider` is what the user asked for
    (`cpu`, `cuda`, `tensorrt`, or None for the best present), `variant` a name from
    `report.variants` (None: the fastest for that provider) and `threads` the CPU
    threads to use (None: all). `zoo predict`,
    `zoo bench` and `zoo export --data` run exports only through it.

    `log_model(export_dir, report)`, when given, is called inside the export's own
    MLflow run (linked to the model's training run) to log the export in an MLflow
    flavour (so MLflow can serve it) and returns the logged model's URI; the export
    folder itself is always logged as artifacts.
    """

    format: str
    summary: str
    export: Callable[[Path, TaskAdapter, Path, dict[str, Any]], ExportReport]
    open: Callable[[Path, ExportReport, str | None, str | None, int | None], Runtime]
    log_model: Callable[[Path, ExportReport], str | None] | None = None
