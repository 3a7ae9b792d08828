"""REST API: comments on public issues (reading is public; writing, reporting and following need an account;
moderation is for supervisors and administrators)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.org import levels
from chengzhi.participate import service, topics

router = APIRouter(prefix="/api/v1", tags=["participation"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=service.MAX_COMMENT)


class ReportIn(BaseModel):
    reason: str = Field(default="", max_length=300)


class ModerationIn(BaseModel):
    decision: service.Decision


@router.get("/issues/{request_id}/comments")
def list_comments(request_id: Id, session: SessionDep) -> list[dict[str, Any]]:
    return service.described(session, service.comments_of(session, request_id))


@router.post("/issues/{request_id}/comments", status_code=201)
def add_comment(
    request_id: Id, body: CommentIn, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> dict[str, Any]:
    comment = service.add_comment(session, actor, settings, request_id, body.text, utcnow())
    session.commit()
    return service.described(session, [comment])[0]


@router.post("/comments/{comment_id}/report")
def report_comment(
    comment_id: Id, body: ReportIn, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> dict[str, Any]:
    comment = service.report_comment(session, actor, settings, comment_id, body.reason, utcnow())
    session.commit()
    return {"id": comment.id, "state": comment.state}


@router.get("/comments/waiting")
def waiting_comments(session: SessionDep, actor: UserDep) -> list[dict[str, Any]]:
    return service.described(session, service.waiting_comments(session, actor))


@router.post("/comments/{comment_id}/moderation")
def moderate_comment(
    comment_id: Id, body: ModerationIn, session: SessionDep, actor: UserDep
) -> dict[str, Any]:
    comment = service.moderate_comment(session, actor, comment_id, body.decision)
    session.commit()
    return service.described(session, [comment])[0]


@router.put("/issues/{request_id}/follow")
def follow(request_id: Id, session: SessionDep, settings: SettingsDep, actor: UserDep) -> dict[str, bool]:
    levels.require_level(actor, settings, "follow")  # stopping (DELETE) needs no level
    following = service.follow(session, actor, request_id, utcnow(), on=True)
    session.commit()
    return {"following": following}


@router.delete("/issues/{request_id}/follow")
def unfollow(request_id: Id, session: SessionDep, actor: UserDep) -> dict[str, bool]:
    following = service.follow(session, actor, request_id, utcnow(), on=False)
    session.commit()
    return {"following": following}


class TopicIn(BaseModel):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    category_code: str | None = Field(default=None, max_length=40)


class ChoiceIn(BaseModel):
    lead_unit_id: int = Field(ge=1, le=MAX_ID)
    co_unit_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=20)
    goal: str = Field(min_length=1, max_length=4000)
    deadline: dt.date


class ProgressIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    outcome: bool = False


@router.get("/topics")
def list_topics(
    session: SessionDep, lang: LanguageDep, month: Annotated[str | None, Query(max_length=7)] = None
) -> list[dict[str, Any]]:
    return topics.described(session, topics.topics(session, month), lang)


@router.post("/topics", status_code=201)
def propose_topic(body: TopicIn, session: SessionDep, actor: UserDep, lang: LanguageDep) -> dict[str, Any]:
    topic = topics.propose(
        session,
        actor,
        month=body.month,
        title=body.title,
        description=body.description,
        category_code=body.category_code,
        now=utcnow(),
    )
    session.commit()
    return topics.described(session, [topic], lang)[0]


@router.post("/topics/{topic_id}/vote")
def vote_topic(topic_id: Id, session: SessionDep, actor: UserDep, lang: LanguageDep) -> dict[str, Any]:
    topic = topics.vote(session, actor, topic_id, utcnow())
    session.commit()
    return topics.described(session, [topic], lang)[0]


@router.post("/topics/{topic_id}/choose")
def choose_topic(
    topic_id: Id, body: ChoiceIn, session: SessionDep, actor: UserDep, lang: LanguageDep
) -> dict[str, Any]:
    topic = topics.choose(
        session,
        actor,
        topic_id,
        lead_unit_id=body.lead_unit_id,
        co_unit_ids=body.co_unit_ids,
        goal=body.goal,
        deadline=body.deadline,
    )
    session.commit()
    return topics.described(session, [topic], lang)[0]


@router.post("/topics/{topic_id}/progress")
def report_progress(
    topic_id: Id, body: ProgressIn, session: SessionDep, actor: UserDep, lang: LanguageDep
) -> dict[str, Any]:
    topic = topics.report(session, actor, topic_id, body.text, utcnow(), outcome=body.outcome)
    session.commit()
    return topics.described(session, [topic], lang)[0]
