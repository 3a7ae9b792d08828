"""What other domains may call: create, edit (a new version), publish and withdraw articles, read them, and ask
the knowledge base a question.

Who may write: a `knowledge_editor` (or an `admin`) holding the role in the article's unit or above it. Published
articles are public; drafts and withdrawn articles are seen by the editors in scope only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chengzhi.categories.service import active_category_by_code
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden, Invalid, NotFound
from chengzhi.knowledge.models import ArticleStatus, KnowledgeArticle, KnowledgeArticleVersion, KnowledgeUse
from chengzhi.org.models import Role, Unit
from chengzhi.org.queries import find_unit
from chengzhi.org.service import ANONYMOUS, Actor

EDITOR_ROLES = (Role.knowledge_editor, Role.admin)
FIELDS = (
    "questions",
    "answer",
    "unit_id",
    "category_code",
    "keywords",
    "valid_from",
    "valid_until",
    "source",
)
MAX_QUESTIONS = 50
MAX_ANSWER = 20_000


@dataclass(frozen=True)
class ArticleInput:
    questions: list[str]
    answer: str
    unit_id: int
    category_code: str | None = None
    keywords: tuple[str, ...] = ()
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    source: str | None = None


def _unit(session: Session, unit_id: int) -> Unit:
    unit = find_unit(session, unit_id)
    if unit is None:
        raise NotFound("unit_not_found", ref=unit_id)
    return unit


def _require_editor(session: Session, actor: Actor, unit_id: int) -> None:
    if not actor.covers(_unit(session, unit_id).path, *EDITOR_ROLES):
        raise Forbidden("forbidden_role", roles="knowledge_editor")


def clean(session: Session, data: ArticleInput) -> dict[str, Any]:
    """The fields of `data`, trimmed and checked; raises Invalid with a clear code."""
    questions = [q.strip() for q in data.questions if q and q.strip()]
    questions = list(dict.fromkeys(questions))
    if not questions or len(questions) > MAX_QUESTIONS:
        raise Invalid("knowledge_questions_required", max=MAX_QUESTIONS)
    answer = data.answer.strip()
    if not answer or len(answer) > MAX_ANSWER:
        raise Invalid("knowledge_answer_required", max=MAX_ANSWER)
    if data.valid_from and data.valid_until and data.valid_until < data.valid_from:
        raise Invalid("knowledge_validity_order")
    if data.category_code and active_category_by_code(session, data.category_code) is None:
        raise NotFound("category_not_found", ref=data.category_code)
    _unit(session, data.unit_id)
    keywords = list(dict.fromkeys(k.strip() for k in data.keywords if k and k.strip()))
    return {
        "questions": questions,
        "answer": answer,
        "unit_id": data.unit_id,
        "category_code": data.category_code or None,
        "keywords": keywords,
        "valid_from": data.valid_from,
        "valid_until": data.valid_until,
        "source": (data.source or "").strip() or None,
    }


def snapshot(article: KnowledgeArticle) -> dict[str, Any]:
    values: dict[str, Any] = {f: getattr(article, f) for f in FIELDS}
    for f in ("valid_from", "valid_until"):
        values[f] = values[f].isoformat() if values[f] else None
    values["status"] = article.status.value
    values["version"] = article.version
    return values


def _record(
    session: Session, article: KnowledgeArticle, action: str, actor: Actor, changed: list[str]
) -> None:
    seq = session.scalar(
        select(func.coalesce(func.max(KnowledgeArticleVersion.seq), 0)).where(
            KnowledgeArticleVersion.article_id == article.id
        )
    )
    session.add(
        KnowledgeArticleVersion(
            article_id=article.id,
            seq=int(seq or 0) + 1,
            version=article.version,
            action=action,
            actor_id=actor.user_id,
            changed=changed,
            snapshot=snapshot(article),
            created_at=utcnow(),
        )
    )


def create_article(
    session: Session, actor: Actor, data: ArticleInput, *, action: str = "created", check: bool = True
) -> KnowledgeArticle:
    """A new draft (version 1)."""
    values = clean(session, data)
    if check:
        _require_editor(session, actor, values["unit_id"])
    now = utcnow()
    article = KnowledgeArticle(
        **values, status=ArticleStatus.draft, version=1, created_at=now, updated_at=now
    )
    session.add(article)
    session.flush()
    _record(session, article, action, actor, list(FIELDS))
    return article


def edit_article(session: Session, actor: Actor, article_id: int, data: ArticleInput) -> KnowledgeArticle:
    """Apply an edit as a new version; the status stays (an edited published article is live at once)."""
    article = get_article(session, actor, article_id)
    _require_editor(session, actor, article.unit_id)
    values = clean(session, data)
    _require_editor(session, actor, values["unit_id"])
    changed = [f for f in FIELDS if getattr(article, f) != values[f]]
    if not changed:
        return article
    for f in changed:
        setattr(article, f, values[f])
    article.version += 1
    article.updated_at = utcnow()
    session.flush()
    _record(session, article, "edited", actor, changed)
    return article


def _set_status(
    session: Session, actor: Actor, article_id: int, status: ArticleStatus, allowed: tuple[ArticleStatus, ...]
) -> KnowledgeArticle:
    article = get_article(session, actor, article_id)
    _require_editor(session, actor, article.unit_id)
    if article.status not in allowed:
        raise Conflict("knowledge_illegal_status", status=article.status.value, target=status.value)
    return set_status_unchecked(session, article, status, actor)


def set_status_unchecked(
    session: Session, article: KnowledgeArticle, status: ArticleStatus, actor: Actor = ANONYMOUS
) -> KnowledgeArticle:
    """Set the status and record it (for the import command, which acts for the operator of the platform)."""
    article.status = status
    article.updated_at = utcnow()
    session.flush()
    _record(session, article, status.value, actor, ["status"])
    return article


def publish_article(session: Session, actor: Actor, article_id: int) -> KnowledgeArticle:
    return _set_status(
        session, actor, article_id, ArticleStatus.published, (ArticleStatus.draft, ArticleStatus.withdrawn)
    )


def withdraw_article(session: Session, actor: Actor, article_id: int) -> KnowledgeArticle:
    return _set_status(
        session, actor, article_id, ArticleStatus.withdrawn, (ArticleStatus.published, ArticleStatus.draft)
    )


def can_see(session: Session, actor: Actor, article: KnowledgeArticle) -> bool:
    if article.status is ArticleStatus.published:
        return True
    unit = find_unit(session, article.unit_id)
    return unit is not None and actor.covers(unit.path, *EDITOR_ROLES)


def get_article(session: Session, actor: Actor, article_id: int) -> KnowledgeArticle:
    article = session.get(KnowledgeArticle, article_id)
    if article is None or not can_see(session, actor, article):
        raise NotFound("knowledge_article_not_found", ref=article_id)
    return article


def list_articles(
    session: Session, actor: Actor, status: ArticleStatus | None = None, limit: int = 50, offset: int = 0
) -> list[KnowledgeArticle]:
    query = select(KnowledgeArticle).order_by(KnowledgeArticle.id.desc())
    if status is not None:
        query = query.where(KnowledgeArticle.status == status)
    found = session.scalars(query.limit(limit * 4 + offset)).all()
    visible = [a for a in found if can_see(session, actor, a)]
    return visible[offset : offset + limit]


def history(session: Session, actor: Actor, article_id: int) -> list[KnowledgeArticleVersion]:
    get_article(session, actor, article_id)
    return list(
        session.scalars(
            select(KnowledgeArticleVersion)
            .where(KnowledgeArticleVersion.article_id == article_id)
            .order_by(KnowledgeArticleVersion.seq)
        )
    )


def published_documents(session: Session, today: dt.date) -> list[tuple[int, str]]:
    """(id, searchable text) of the published articles valid on `today`."""
    rows = session.execute(
        select(
            KnowledgeArticle.id,
            KnowledgeArticle.questions,
            KnowledgeArticle.answer,
            KnowledgeArticle.keywords,
            KnowledgeArticle.valid_from,
            KnowledgeArticle.valid_until,
        )
        .where(KnowledgeArticle.status == ArticleStatus.published)
        .order_by(KnowledgeArticle.id)
    ).all()
    return [
        (r.id, document_text(r.questions, r.answer, r.keywords))
        for r in rows
        if (r.valid_from is None or r.valid_from <= today)
        and (r.valid_until is None or today <= r.valid_until)
    ]


def document_text(questions: list[str], answer: str, keywords: list[str]) -> str:
    return "\n".join([*questions, " ".join(keywords), answer])


def published_stamp(session: Session) -> tuple[int, dt.datetime | None]:
    """Changes whenever an article is published, withdrawn or edited: (count, latest change)."""
    count, latest = session.execute(
        select(func.count(KnowledgeArticle.id), func.max(KnowledgeArticle.updated_at))
    ).one()
    return int(count), latest


def changed_documents(
    session: Session, since: dt.datetime, today: dt.date
) -> tuple[list[tuple[int, str]], set[int]]:
    """The articles changed after `since`: (id, searchable text) of those published and valid on `today`, and the
    ids of all of them (for the delta index: knowledge.index)."""
    rows = session.execute(
        select(
            KnowledgeArticle.id,
            KnowledgeArticle.status,
            KnowledgeArticle.questions,
            KnowledgeArticle.answer,
            KnowledgeArticle.keywords,
            KnowledgeArticle.valid_from,
            KnowledgeArticle.valid_until,
        )
        .where(KnowledgeArticle.updated_at > since)
        .order_by(KnowledgeArticle.id)
    ).all()
    docs = [
        (r.id, document_text(r.questions, r.answer, r.keywords))
        for r in rows
        if r.status is ArticleStatus.published
        and (r.valid_from is None or r.valid_from <= today)
        and (r.valid_until is None or today <= r.valid_until)
    ]
    return docs, {r.id for r in rows}


def published_by_ids(session: Session, ids: list[int]) -> dict[int, KnowledgeArticle]:
    if not ids:
        return {}
    found = session.scalars(
        select(KnowledgeArticle).where(
            KnowledgeArticle.id.in_(ids), KnowledgeArticle.status == ArticleStatus.published
        )
    )
    return {a.id: a for a in found}


REVIEW_DAYS = 30


def review_due(
    session: Session, actor: Actor, today: dt.date, days: int = REVIEW_DAYS
) -> list[KnowledgeArticle]:
    """The expiry review reminder: published articles in the actor's editing scope whose validity ends within
    `days` (or has ended: they are no longer searched), soonest first."""
    found = session.scalars(
        select(KnowledgeArticle)
        .where(
            KnowledgeArticle.status == ArticleStatus.published,
            KnowledgeArticle.valid_until.is_not(None),
            KnowledgeArticle.valid_until <= today + dt.timedelta(days=days),
        )
        .order_by(KnowledgeArticle.valid_until, KnowledgeArticle.id)
        .limit(200)
    ).all()
    return [a for a in found if can_edit(session, actor, a)]


def can_edit(session: Session, actor: Actor, article: KnowledgeArticle) -> bool:
    unit = find_unit(session, article.unit_id)
    return unit is not None and actor.covers(unit.path, *EDITOR_ROLES)


def editable_unit_ids(session: Session, actor: Actor, units: list[Unit]) -> list[int]:
    """The units (of `units`) whose articles the actor may write."""
    return [u.id for u in units if actor.covers(u.path, *EDITOR_ROLES)]


def get_published(session: Session, article_id: int) -> KnowledgeArticle | None:
    article = session.get(KnowledgeArticle, article_id)
    return article if article is not None and article.status is ArticleStatus.published else None


def forget_requests(session: Session, request_ids: Sequence[int]) -> int:
    """Retention: the questions recorded with uses of articles for these requests (a resident's words) are
    removed; the use itself (article, outcome, channel, time) stays for the statistics."""
    ids = list(request_ids)
    if not ids:
        return 0
    done = session.execute(
        update(KnowledgeUse)
        .where(KnowledgeUse.request_id.in_(ids), KnowledgeUse.question.is_not(None))
        .values(question=None)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
