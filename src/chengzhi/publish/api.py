"""REST API under /api/v1/publications: the published list (public), publishing notices and replies (units'
staff), moderation (supervisors, administrators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.publish import service

router = APIRouter(prefix="/api/v1/publications", tags=["publications"])
Code = Annotated[str | None, Query(max_length=40)]


class NoticeIn(BaseModel):
    unit_id: int = Field(ge=1, le=MAX_ID)
    title: str = Field(min_length=1, max_length=service.MAX_TITLE)
    body: str = Field(min_length=1, max_length=service.MAX_BODY)
    category_code: str | None = Field(default=None, max_length=40)
    language: str = Field(default="zh", pattern="^(zh|en)$")


class ReplyIn(BaseModel):
    tracking_number: str = Field(min_length=1, max_length=20)
    consent: bool = Field(description="The resident agreed to publish their request and its reply (masked).")


class ModerationIn(BaseModel):
    approve: bool
    note: str | None = Field(default=None, max_length=500)


@router.get("")
def list_published(
    session: SessionDep,
    lang: LanguageDep,
    unit: Code = None,
    category: Code = None,
    area: Code = None,
    hot_issue: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    filters = service.Filters(unit, category, area, hot_issue)
    items = service.published(session, filters, limit=limit, before=before)
    return service.described(session, items, lang)


@router.post("/notices", status_code=201)
def publish_notice(
    body: NoticeIn, session: SessionDep, settings: SettingsDep, actor: UserDep, lang: LanguageDep
) -> dict[str, Any]:
    publication = service.publish_notice(
        session,
        actor,
        settings,
        unit_id=body.unit_id,
        title=body.title,
        body=body.body,
        category_code=body.category_code,
        language=body.language,
        now=utcnow(),
    )
    session.commit()
    return service.described(session, [publication], lang)[0]


@router.post("/replies", status_code=201)
def publish_reply(
    body: ReplyIn, session: SessionDep, settings: SettingsDep, actor: UserDep, lang: LanguageDep
) -> dict[str, Any]:
    publication = service.publish_reply(
        session, actor, settings, body.tracking_number, consent=body.consent, now=utcnow()
    )
    session.commit()
    return service.described(session, [publication], lang)[0]


@router.get("/pending")
def list_pending(session: SessionDep, actor: UserDep, lang: LanguageDep) -> list[dict[str, Any]]:
    return service.described(session, service.pending(session, actor), lang)


@router.post("/{publication_id}/moderation")
def moderate(
    publication_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ModerationIn,
    session: SessionDep,
    actor: UserDep,
    lang: LanguageDep,
) -> dict[str, Any]:
    publication = service.moderate(
        session, actor, publication_id, approve=body.approve, note=body.note, now=utcnow()
    )
    session.commit()
    return service.described(session, [publication], lang)[0]
