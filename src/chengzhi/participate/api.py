"""REST API: comments on public issues (reading is public; writing, reporting and following need an account;
moderation is for supervisors and administrators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep, UserDep
from chengzhi.participate import service

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
def follow(request_id: Id, session: SessionDep, actor: UserDep) -> dict[str, bool]:
    following = service.follow(session, actor, request_id, utcnow(), on=True)
    session.commit()
    return {"following": following}


@router.delete("/issues/{request_id}/follow")
def unfollow(request_id: Id, session: SessionDep, actor: UserDep) -> dict[str, bool]:
    following = service.follow(session, actor, request_id, utcnow(), on=False)
    session.commit()
    return {"following": following}
