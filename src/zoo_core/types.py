"""The descriptors plugins yield from their hooks.

They are frozen dataclasses holding names and callables, so a plugin module
stays cheap to import: heavy libraries are imported inside the callables, when
a command actually runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from zoo_core.adapters import TaskAdapter


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
    names the pretraining objective the model was built with (`mlm`, `clm`, `span`
    in nlp); `objective_tasks` maps each objective the domain can continue to the
    task that trains it (`{"mlm": "fill-mask", ...}`), for `zoo adapt`.
    `task_of(model_dir)` names the task a checkpoint's own head performs (a
    masked-LM head fills masks), for folders with no card and no zoo-model.json;
    None where it has no head zoo could use. `recognizes(model_dir)` says whether a
    folder with no card and no zoo-model.json holds one of this domain's models (its
    config, tokenizer or image processor); the first domain that says yes gets it.

    `tasks` and `adapter(task)` declare the domain's own tasks, the first being its
    default; any plugin adds more with the `zoo_tasks` hook.
    """

    name: str
    summary: str
    tasks: tuple[str, ...] = ()
    adapter: Callable[[str], TaskAdapter] | None = None
    objective: Callable[[Path], str] | None = None
    objective_tasks: Mapping[str, str] = field(default_factory=dict)
    task_of: Callable[[Path], str | None] | None = None
    recognizes: Callable[[Path], bool] | None = None


@dataclass(frozen=True)
class Task:
    """A task added to a domain by any plugin (`zoo_tasks`), beside the tasks the domain declares itself.

    `adapter()` returns the task's `TaskAdapter` (it may import torch); `options()`, when
    given, returns a pydantic model of the task's own settings (`-o key=value`).
    """

    domain: str
    name: str
    summary: str
    adapter: Callable[[], TaskAdapter]
    options: Callable[[], type] | None = None


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


@dataclass(frozen=True)
class Method:
    """A way to adapt a pretrained model (full, freeze, lora, ...).

    `prepare(model, options)` returns the model ready to train: weights frozen or
    adapters added as the method wants. `options` is a dict of the method's own
    settings, validated by its `options()` model (given as `-o key=value` or in a
    recipe's `options:`; for example `{"rank": 8}` for LoRA), plus the `task`.
    `defaults` are recipe values the method works best with, such as `{"lr": 1e-3}`.
    `lr_for(parameter_name, options)`, when given, is the learning rate of a
    trainable parameter that should not train at the engine's rate (None: the
    engine's, `head_lr` for the new head and `lr` for the rest).

    A method that trains several models in turn (self-training) has `fit(session)` instead:
    zoo opens the parent MLflow run and hands it a `TrainingSession`; each
    `session.train(...)` is one round, prepared by the method its options name as
    `base_method`; `fit` returns the round to keep, which zoo logs and registers
    under the parent.

    `options()` returns a pydantic model class of the method's settings (imported
    when a command needs it, so the plugin stays cheap to import): its fields are
    what `-o key=value` and a recipe's `options:` accept, their defaults what the
    method gets when nothing is given, and MLflow logs them as `method.<key>`.
    """

    name: str
    summary: str
    prepare: Callable[[Any, dict[str, Any]], Any] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fit: Callable[[TrainingSession], Any] | None = None
    options: Callable[[], type] | None = None
    lr_for: Callable[[str, dict[str, Any]], float | None] | None = None


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

    `options()`, when given, returns a pydantic model of the format's own settings
    (`zoo export -o key=value`); their validated values join `options`.

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
    options: Callable[[], type] | None = None
