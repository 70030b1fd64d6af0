"""The NLP domain: text encoders, decoders and encoder-decoders, and their cards."""

from zoo_core import Domain, builtin_folder, hookimpl


def _adapter(task: str):
    from zoo_nlp.text_classification import TextClassification

    return TextClassification()


@hookimpl
def zoo_domains():
    yield Domain(
        name="nlp",
        summary="Text models (BERT, GPT-2, T5, ...) tokenised with their own tokenizers",
        tasks=("text-classification",),
        adapter=_adapter,
    )


@hookimpl
def zoo_catalogs():
    yield builtin_folder() / "nlp"
