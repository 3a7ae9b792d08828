"""REST API of the knowledge base under /api/v1/knowledge: articles (create, edit, publish, withdraw, history)
and `suggest`, the answers for an intake form (nothing when unsure)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID
from chengzhi.deps import ActorDep, SessionDep, SettingsDep, UserDep
from chengzhi.errors import Forbidden
from chengzhi.knowledge import index, service, uses
from chengzhi.knowledge.models import ArticleStatus, KnowledgeArticle
from chengzhi.ratelimit import check_rate

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"])

ArticleId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ArticleIn(BaseModel):
    questions: list[Annotated[str, Field(max_length=500)]] = Field(min_length=1, max_length=50)
    answer: str = Field(min_length=1, max_length=service.MAX_ANSWER)
    unit_id: int = Field(ge=1, le=MAX_ID)
    category_code: str | None = Field(default=None, max_length=40)
    keywords: list[Annotated[str, Field(max_length=60)]] = Field(default_factory=list, max_length=50)
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    source: str | None = Field(default=None, max_length=300)

    def as_input(self) -> service.ArticleInput:
        return service.ArticleInput(
            questions=self.questions,
            answer=self.answer,
            unit_id=self.unit_id,
            category_code=self.category_code,
            keywords=tuple(self.keywords),
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            source=self.source,
        )


def article_out(article: KnowledgeArticle) -> dict[str, Any]:
    return {"id": article.id, **service.snapshot(article), "updated_at": article.updated_at.isoformat()}


@router.get("/articles")
def list_articles(
    session: SessionDep,
    actor: ActorDep,
    status: ArticleStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    return [article_out(a) for a in service.list_articles(session, actor, status, limit, offset)]


@router.post("/articles", status_code=201)
def create_article(body: ArticleIn, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    article = service.create_article(session, actor, body.as_input())
    session.commit()
    return article_out(article)


@router.get("/articles/{article_id}")
def get_article(
    article_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: ActorDep
) -> dict[str, Any]:
    return article_out(service.get_article(session, actor, article_id))


@router.put("/articles/{article_id}")
def edit_article(
    article_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: ArticleIn, session: SessionDep, actor: UserDep
) -> dict[str, Any]:
    article = service.edit_article(session, actor, article_id, body.as_input())
    session.commit()
    return article_out(article)


@router.post("/articles/{article_id}/publish")
def publish_article(
    article_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: UserDep
) -> dict[str, Any]:
    article = service.publish_article(session, actor, article_id)
    session.commit()
    return article_out(article)


@router.post("/articles/{article_id}/withdraw")
def withdraw_article(
    article_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: UserDep
) -> dict[str, Any]:
    article = service.withdraw_article(session, actor, article_id)
    session.commit()
    return article_out(article)


@router.get("/review")
def review_due(
    session: SessionDep, actor: UserDep, days: Annotated[int, Query(ge=0, le=3660)] = service.REVIEW_DAYS
) -> list[dict[str, Any]]:
    """The expiry review reminder: published articles you edit whose validity ends within `days` (or has ended)."""
    return [article_out(a) for a in service.review_due(session, actor, dt.date.today(), days)]


@router.get("/report")
def use_report(
    session: SessionDep, actor: UserDep, days: Annotated[int, Query(ge=1, le=3660)] = 30
) -> dict[str, Any]:
    """Share of consultations answered at intake, articles most used and most rejected, and the questions for
    which an article was shown but did not help (staff only)."""
    if not actor.is_staff:
        raise Forbidden("forbidden_role", roles="staff")
    report = uses.report(session, dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
    return {
        "since": report.since.isoformat(),
        "answered_at_intake": report.answered_at_intake,
        "consultations": report.consultations,
        "answered_share": report.answered_share,
        "most_used": [vars(c) for c in report.most_used],
        "most_rejected": [vars(c) for c in report.most_rejected],
        "not_helped": [{**vars(u), "at": u.at.isoformat()} for u in report.not_helped],
    }


@router.get("/articles/{article_id}/history")
def article_history(
    article_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: ActorDep
) -> list[dict[str, Any]]:
    return [
        {
            "seq": v.seq,
            "version": v.version,
            "action": v.action,
            "actor_id": v.actor_id,
            "changed": v.changed,
            "snapshot": v.snapshot,
            "at": v.created_at.isoformat(),
        }
        for v in service.history(session, actor, article_id)
    ]


@router.get("/suggest")
def suggest(
    http: Request,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
    wait: bool = False,
) -> dict[str, Any]:
    """The best answers to `q` when the first is sure; an empty list otherwise (no answer beats a wrong one).
    BM25 answers at once while the question's vector is computed (`refinable`: ask again for the fused ranking);
    `wait=true` waits for the vector instead. Limited per client address (`knowledge_suggest_rate`): 429."""
    client = http.client.host if http.client else "unknown"
    check_rate(settings.rate_limit_storage, settings.knowledge_suggest_rate, "knowledge", client)
    asked = index.ask_more(
        session,
        settings.database_url,
        q,
        limit,
        dense=settings.knowledge_dense,
        budget=None if wait else index.budget(settings),
    )
    answers = asked.answers
    sure = bool(answers) and answers[0].sure
    return {
        "sure": sure,
        "refinable": asked.refinable,
        "answers": [
            {
                "id": a.article.id,
                "version": a.article.version,
                "questions": a.article.questions,
                "answer": a.article.answer,
                "unit_id": a.article.unit_id,
                "score": round(a.score, 6),
            }
            for a in (answers if sure else [])
        ],
    }
