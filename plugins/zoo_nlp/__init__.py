"""The NLP domain: text encoders, decoders and encoder-decoders, and their cards."""

from zoo_core import Domain, builtin_folder, hookimpl

TASKS = ("text-classification", "fill-mask", "text-generation", "text2text-generation", "translation", "summarization", "span-corruption")


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
    if task in ("text2text-generation", "translation", "summarization"):
        from zoo_nlp.text2text import Text2Text

        return Text2Text()
    from zoo_nlp.text_classification import TextClassification

    return TextClassification()


def _objective(model_dir):
    from zoo_nlp.language_models import objective

    return objective(model_dir)


@hookimpl
def zoo_domains():
    yield Domain(
        name="nlp",
        summary="Text models (BERT, GPT-2, T5, ...) tokenised with their own tokenizers",
        tasks=TASKS,
        adapter=_adapter,
        objective=_objective,
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "nlp"
