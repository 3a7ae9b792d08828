"""Composed messages (chengzhi.i18n.Phrase): a marked msgid whose parameters are values, names in both languages,
nested messages, lists joined by a translated separator and runs of sentences, rendered in the reader's language
from the catalogues, and stored language-neutrally as JSON (an automatic dispatch's reason)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chengzhi.i18n import (
    N_,
    PATH_SEPARATOR,
    Json,
    Listed,
    Named,
    Part,
    Phrase,
    Sentences,
    phrase_from_json,
    quoted,
    render,
    to_json,
)
from chengzhi.routing.places import KIND_NAMES

COMMUNITY = N_("Location in %(where)s; '%(category)s' is handled by the community.")
ALSO = N_("The text also names %(said)s.")


def test_a_phrase_renders_its_parts_in_the_readers_language() -> None:
    phrase = Phrase(
        COMMUNITY, where=Listed(["新区", "青松街道"], PATH_SEPARATOR), category=Named("停水", "Water outage")
    )
    assert phrase.render("zh") == "位置在新区、青松街道；“停水”由社区办理。"
    assert phrase.render("en") == "Location in 新区 / 青松街道; 'Water outage' is handled by the community."
    # Any language but English is Chinese, as everywhere else.
    assert phrase.render("fr") == phrase.render("zh")


def test_lists_quotes_and_sentences_follow_the_language() -> None:
    said = Listed(quoted(w) for w in ("幸福小区", "建国路"))
    both = Sentences(Phrase(ALSO, said=said), Phrase(N_("The text names no place the platform knows.")))
    assert both.render("zh") == "文中还提到“幸福小区”、“建国路”。文字中没有识别到本市的地名。"
    assert (
        both.render("en")
        == "The text also names '幸福小区', '建国路'. The text names no place the platform knows."
    )
    # A marked label given as a parameter is translated too; nested sentences are one run.
    kind = Phrase(N_("the %(kind)s '%(name)s'"), kind=KIND_NAMES["park"], name="人民公园")
    assert (kind.render("zh"), kind.render("en")) == ("公园、广场“人民公园”", "the park or square '人民公园'")
    assert Sentences(both, kind).parts == (*both.parts, kind)


def test_a_parameter_missing_from_the_phrase_renders_empty_not_an_error() -> None:
    assert Phrase(ALSO).render("en") == "The text also names %(said)s."  # no parameters: the message as it is
    assert Phrase(ALSO, other="x").render("en") == "The text also names ."


def test_a_stored_phrase_reads_back_the_same() -> None:
    phrase = Sentences(
        Phrase(COMMUNITY, where=Listed(["新区"], PATH_SEPARATOR), category=Named("停水", "Water outage")),
        Phrase(N_("Part of issue #%(issue)s (%(size)s requests)"), issue=12, size=3),
        Phrase(N_("the %(kind)s '%(name)s'"), kind=KIND_NAMES["school"], name="实验小学"),
    )
    stored = json.loads(json.dumps(phrase.to_json()))
    assert "停水" in json.dumps(stored, ensure_ascii=False) and "由社区办理" not in json.dumps(
        stored, ensure_ascii=False
    )
    back = phrase_from_json(stored)
    assert back == phrase
    assert render(back, "zh") == phrase.render("zh") and render(back, "en") == phrase.render("en")


@pytest.mark.parametrize(
    "stored",
    [
        {"msgid": "x", "params": ["not", "an", "object"]},
        {"list": [1], "separator": 2},
        {"named": {"zh": "甲"}},
        {"nothing": "known"},
        [1, 2],
        None,
        True,
    ],
)
def test_anything_else_stored_is_refused(stored: Json) -> None:
    with pytest.raises(ValueError):
        phrase_from_json(stored)


_text = st.text(min_size=0, max_size=8)
_leaf: st.SearchStrategy[Part] = st.one_of(
    _text,
    st.integers(-1000, 1000),
    st.builds(Named, _text, _text),
    _text.map(quoted),
    st.just(Phrase(N_("The text names no place the platform knows."))),
)


def _grow(children: st.SearchStrategy[Part]) -> st.SearchStrategy[Part]:
    return st.one_of(
        st.lists(children, max_size=3).map(Listed),
        st.lists(children, max_size=3).map(lambda parts: Sentences(*parts)),
        children.map(lambda part: Phrase(ALSO, said=part)),
        st.tuples(children, children).map(lambda p: Phrase(COMMUNITY, where=p[0], category=p[1])),
    )


@given(st.recursive(_leaf, _grow, max_leaves=12))
def test_any_composed_message_survives_storage(part: Part) -> None:
    back = phrase_from_json(json.loads(json.dumps(to_json(part))))
    assert back == part
    for lang in ("zh", "en"):
        assert render(back, lang) == render(part, lang)
