"""What became of the articles shown at intake, and the figures the dashboards and editors read from it.

Outcomes (models.UseOutcome): an operator `answered` a request with the article, or registered the request without
the articles shown (`rejected`); a resident said an article `helped` or did not (`not_helped`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.categories.service import active_category_by_code
from chengzhi.db import utcnow
from chengzhi.knowledge.models import ArticleStatus, KnowledgeArticle, KnowledgeUse, UseOutcome
from chengzhi.requests import queries as requests_queries


def record(
    session: Session,
    article: KnowledgeArticle,
    outcome: UseOutcome,
    channel: str,
    *,
    request_id: int | None = None,
    question: str | None = None,
    now: dt.datetime | None = None,
) -> KnowledgeUse:
    use = KnowledgeUse(
        article_id=article.id,
        article_version=article.version,
        outcome=outcome,
        channel=channel,
        request_id=request_id,
        question=(question or "").strip()[:500] or None,
        created_at=now or utcnow(),
    )
    session.add(use)
    return use


@dataclass(frozen=True)
class ArticleCount:
    article_id: int
    title: str  # the article's first question
    count: int


@dataclass(frozen=True)
class Unhelpful:
    article_id: int
    title: str
    question: str | None
    outcome: str
    channel: str
    at: dt.datetime


@dataclass(frozen=True)
class Report:
    since: dt.datetime
    answered_at_intake: int
    consultations: int
    most_used: list[ArticleCount]
    most_rejected: list[ArticleCount]
    not_helped: list[Unhelpful]

    @property
    def answered_share(self) -> float | None:
        return self.answered_at_intake / self.consultations if self.consultations else None


def _counts(
    session: Session, outcomes: tuple[UseOutcome, ...], since: dt.datetime, limit: int
) -> list[ArticleCount]:
    n = func.count(KnowledgeUse.id)
    rows = session.execute(
        select(KnowledgeUse.article_id, n)
        .where(KnowledgeUse.outcome.in_(outcomes), KnowledgeUse.created_at >= since)
        .group_by(KnowledgeUse.article_id)
        .order_by(n.desc(), KnowledgeUse.article_id)
        .limit(limit)
    ).all()
    titles = _titles(session, [r[0] for r in rows])
    return [ArticleCount(r[0], titles.get(r[0], ""), int(r[1])) for r in rows]


def _titles(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = session.execute(
        select(KnowledgeArticle.id, KnowledgeArticle.questions).where(KnowledgeArticle.id.in_(ids))
    )
    return {i: (q or [""])[0] for i, q in found}


def knowledge_category_ids(session: Session) -> list[int]:
    """The categories of the published articles: their requests count as consultations."""
    codes = session.scalars(
        select(KnowledgeArticle.category_code)
        .where(
            KnowledgeArticle.status == ArticleStatus.published, KnowledgeArticle.category_code.is_not(None)
        )
        .distinct()
    ).all()
    found = [active_category_by_code(session, c) for c in codes if c]
    return [c.id for c in found if c is not None]


def report(session: Session, since: dt.datetime, limit: int = 10) -> Report:
    answered, consultations = requests_queries.intake_answers(session, since, knowledge_category_ids(session))
    unhelpful = session.execute(
        select(KnowledgeUse, KnowledgeArticle.questions)
        .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgeUse.article_id)
        .where(
            KnowledgeUse.outcome.in_((UseOutcome.not_helped, UseOutcome.rejected)),
            KnowledgeUse.created_at >= since,
        )
        .order_by(KnowledgeUse.created_at.desc(), KnowledgeUse.id.desc())
        .limit(50)
    ).all()
    return Report(
        since=since,
        answered_at_intake=answered,
        consultations=consultations,
        most_used=_counts(session, (UseOutcome.answered, UseOutcome.helped), since, limit),
        most_rejected=_counts(session, (UseOutcome.rejected, UseOutcome.not_helped), since, limit),
        not_helped=[
            Unhelpful(u.article_id, (q or [""])[0], u.question, u.outcome.value, u.channel, u.created_at)
            for u, q in unhelpful
        ],
    )
