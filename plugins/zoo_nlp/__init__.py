"""The NLP domain: text encoders, decoders and encoder-decoders, and their cards."""

from zoo_core import Domain, Task, builtin_folder, hookimpl

HEAD_TASKS = (
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
)
TASKS = ("text-classification", "token-classification", "question-answering", "text-generation", "span-corruption")
# Tasks with options of their own, added through zoo_tasks as any plugin's task is: (name, summary, options model)
TASKS_WITH_OPTIONS = (
    ("fill-mask", "Masked language modelling: predict the [MASK]ed tokens", "MaskingOptions"),
    ("text2text-generation", "Text-to-text generation (T5, BART) from source to target text", "PrefixOptions"),
    ("translation", "Text-to-text generation, for translating", "PrefixOptions"),
    ("summarization", "Text-to-text generation, for summarising", "PrefixOptions"),
)


def _adapter(task: str):
    if task == "fill-mask":
        from zoo_nlp.language_models import MaskedLM

        return MaskedLM()
    if task == "text-generation":
        from zoo_nlp.language_models import CausalLM

        return CausalLM()
    if task == "span-corruption":
        from zoo_nlp.text2text import SpanCorruption

        return SpanCorruption()
    if task == "question-answering":
        from zoo_nlp.question_answering import QuestionAnswering

        return QuestionAnswering()
    if task in ("text2text-generation", "translation", "summarization"):
        from zoo_nlp.text2text import Text2Text

        return Text2Text()
    if task == "token-classification":
        from zoo_nlp.token_classification import TokenClassification

        return TokenClassification()
    from zoo_nlp.text_classification import TextClassification

    return TextClassification()


def _objective(model_dir):
    from zoo_nlp.language_models import objective

    return objective(model_dir)


def _task_of(model_dir):
    """The task of a checkpoint's own head, read from config.json's architectures (no transformers import)."""
    import json

    config = model_dir / "config.json"
    architectures = " ".join(json.loads(config.read_text()).get("architectures") or []) if config.is_file() else ""
    for suffix, task in HEAD_TASKS:
        if suffix in architectures:
            return task
    return None


def _recognizes(model_dir):
    """A folder with a tokenizer and no vision side (a CLIP folder has both: an image processor, a vision_config)."""
    import json

    tokenizer = any((model_dir / name).exists() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"))
    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    return tokenizer and not (model_dir / "preprocessor_config.json").exists() and "vision_config" not in config


@hookimpl
def zoo_domains():
    yield Domain(
        name="nlp",
        summary="Text models (BERT, GPT-2, T5, ...) tokenised with their own tokenizers",
        tasks=TASKS,
        adapter=_adapter,
        objective=_objective,
        objective_tasks={"mlm": "fill-mask", "clm": "text-generation", "span": "span-corruption"},
        task_of=_task_of,
        recognizes=_recognizes,
    )


def _task_adapter(task: str):
    return lambda: _adapter(task)


def _options(name: str):
    def options():
        from zoo_nlp import options as models

        return getattr(models, name)

    return options


@hookimpl
def zoo_tasks():
    for name, summary, options in TASKS_WITH_OPTIONS:
        yield Task(domain="nlp", name=name, summary=summary, adapter=_task_adapter(name), options=_options(options))


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "nlp"
