"""The delta index (docs/knowledge.md): a large knowledge base answers a new, edited or withdrawn article at the
next question through a small index of the changed articles beside the main one, scored as the full index would,
and folds it into a new main index in the background."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.knowledge import index
from chengzhi.knowledge.retrieval import Layered, Retriever
from chengzhi.knowledge.service import (
    ArticleInput,
    create_article,
    edit_article,
    publish_article,
    withdraw_article,
)
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, RoleGrant

from .factories import City
from .test_knowledge import KB, QUESTIONS, CharVectors

DOCS = [(k, f"{q}\n{a}") for k, q, a in KB]


def test_a_delta_is_scored_as_the_full_index_would_score_it() -> None:
    full = Retriever(DOCS)
    main = Retriever(DOCS[:3])
    layered = Layered(main, Retriever(DOCS[3:], base=main), set())
    assert sorted(layered.keys) == [1, 2, 3, 4, 5]
    for question, key in QUESTIONS.items():
        alone, together = full.rank(question, 5), layered.rank(question, 5)
        assert together.hits[0].key == key, (question, together.hits)
        assert [h.key for h in together.hits] == [h.key for h in alone.hits]
        for one, other in zip(alone.hits, together.hits, strict=True):
            # The delta's articles: the same BM25 score as in one index of all five; the main index's: the same
            # IDF, their own average length (3 documents here against 5).
            assert other.bm25 == pytest.approx(one.bm25, rel=1e-5 if one.key > 3 else 0.05)
    # Words only the delta holds are found there (the main index has never seen them).
    assert layered.search("尾号", 1)[0].key == 4


def test_the_main_index_copies_of_changed_articles_are_left_out() -> None:
    main = Retriever(DOCS)
    edited = (2, "住房公积金贷款额度怎么算？\n贷款额度按缴存余额的十五倍计算，最高一百二十万元。")
    layered = Layered(main, Retriever([edited], base=main), {2, 3})  # 2 edited, 3 withdrawn
    assert sorted(layered.keys) == [1, 2, 4, 5]
    assert all(h.key != 3 for h in layered.search("社保断缴有什么影响", 5))
    assert all(h.key != 2 for h in layered.search("租赁合同每月提取", 5))  # the old text is gone
    assert layered.search("公积金贷款额度", 1)[0].key == 2  # the new text answers
    assert Layered(main, Retriever([], base=main), {1, 2, 3, 4, 5}).search("居住证") == []


def test_a_delta_takes_part_in_the_dense_ranking() -> None:
    model = CharVectors()
    texts = [t for _, t in DOCS]
    passages = model.embed(texts, "passage")
    main = Retriever(DOCS[:4], passages=passages[:4])
    with_vector = Layered(main, Retriever(DOCS[4:], passages=passages[4:], base=main), set())
    without = Layered(main, Retriever(DOCS[4:], base=main), set())  # its vector is not stored yet
    question = "发生地震如何逃生"
    vector = model.embed([question], "query")[0]
    ranked = with_vector.rank(question, 5, query_vector=vector)
    assert ranked.dense and ranked.hits[0].key == 5
    assert ranked.hits[0].cosine == pytest.approx(float(passages[4] @ vector))
    late = without.rank(question, 5, query_vector=vector)
    # Without its vector it takes part through BM25 (a zero cosine), as an article of the main index would.
    assert late.dense and [h.cosine for h in late.hits if h.key == 5] == [0.0]


def test_a_large_index_answers_changes_at_the_next_question_and_folds_them_in_the_background(
    settings: Settings, city: City, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "SYNC_LIMIT", 3)
    monkeypatch.setattr(index, "FOLD_AFTER", 3600.0)
    url = settings.database_url
    unit = city.units["city"]
    actor = Actor(user_id=None, grants=(RoleGrant(Role.admin, unit.id, unit.path),))

    def change(what: str, n: int, article: int = 0) -> int:
        session.rollback()
        with session.begin():
            _, question, answer = KB[n]
            if what == "add":
                article = create_article(session, actor, ArticleInput([question], answer, unit.id)).id
                publish_article(session, actor, article)
            elif what == "edit":
                edit_article(session, actor, article, ArticleInput([question], answer, unit.id))
            else:
                withdraw_article(session, actor, article)
        session.rollback()
        return article

    def first(question: str) -> int | None:
        found = index.ask(session, url, question, 1, dense=False)
        return found[0].article.id if found else None

    ids = [change("add", n) for n in range(3)]
    main = index.retriever_for(session, url, None)
    assert isinstance(main, Retriever) and len(main) == 3
    started = time.perf_counter()
    ids.append(change("add", 3))
    assert first("尾号限行几点开始") == ids[3]  # the next question finds it, through the delta
    assert time.perf_counter() - started < 2
    searched = index.retriever_for(session, url, None)
    assert isinstance(searched, Layered) and searched.main is main and len(searched) == 4
    assert (url, "rebuild") not in index._threads  # a small, young delta: nothing rebuilt
    change("withdraw", 0, ids[0])
    assert first("居住证需要带什么材料") != ids[0]
    change("edit", 4, ids[1])  # the public-fund article now answers earthquakes
    assert first("发生地震如何逃生") == ids[1]
    assert first("租房可以取公积金吗") != ids[1]
    assert index.retriever_for(session, url, None).main is main  # type: ignore[union-attr]
    # A delta of DELTA_LIMIT articles is folded into a new main index in the background.
    monkeypatch.setattr(index, "DELTA_LIMIT", 3)
    ids.append(change("add", 2))
    assert first("医保断了还能报销吗") in (ids[2], ids[4])
    for _ in range(200):
        searched = index.retriever_for(session, url, None)
        if isinstance(searched, Retriever):
            break
        time.sleep(0.05)
    assert isinstance(searched, Retriever) and searched is not main
    assert sorted(searched.keys) == sorted([ids[1], ids[2], ids[3], ids[4]])
    assert first("发生地震如何逃生") == ids[1] and first("尾号限行几点开始") == ids[3]


def test_an_old_main_index_behind_the_articles_is_folded(
    settings: Settings, city: City, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "SYNC_LIMIT", 2)
    url = settings.database_url
    unit = city.units["city"]
    actor = Actor(user_id=None, grants=(RoleGrant(Role.admin, unit.id, unit.path),))

    def add(n: int) -> int:
        session.rollback()
        with session.begin():
            _, question, answer = KB[n]
            made = create_article(session, actor, ArticleInput([question], answer, unit.id))
            publish_article(session, actor, made.id)
        session.rollback()
        return made.id

    add(0)
    add(1)
    main = index.retriever_for(session, url, None)
    session.rollback()
    monkeypatch.setattr(index, "FOLD_AFTER", 0.0)  # the main index is old: the next change folds it
    third = add(2)
    assert third in index.retriever_for(session, url, None).keys  # at once, through the delta
    for _ in range(200):
        session.rollback()
        searched = index.retriever_for(session, url, None)
        if isinstance(searched, Retriever) and searched is not main:
            break
        time.sleep(0.05)
    assert isinstance(searched, Retriever) and searched is not main and len(searched) == 3
