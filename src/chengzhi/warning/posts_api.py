"""REST API of outside posts under /api/v1/warning: the feeds read on a schedule and CSV uploads of message-board
exports (docs/warning.md, "Outside posts")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep, UserDep
from chengzhi.errors import PayloadTooLarge
from chengzhi.org.service import require_role
from chengzhi.warning import posts
from chengzhi.warning.models import Feed

router = APIRouter(prefix="/api/v1/warning", tags=["warning"])

MAX_UPLOAD_BYTES = 20_000_000


def _feed_out(feed: Feed) -> dict[str, Any]:
    return {
        "id": feed.id,
        "name": feed.name,
        "url": feed.url,
        "unit_id": feed.unit_id,
        "active": feed.active,
        "fetched_at": feed.fetched_at.isoformat() if feed.fetched_at else None,
        "last_error": feed.last_error,
    }


@router.get("/feeds")
def list_feeds(session: SessionDep, actor: UserDep) -> dict[str, Any]:
    """The outside feeds (RSS/Atom), when each was last read and what went wrong."""
    require_role(actor, *posts.MANAGE_ROLES)
    return {"feeds": [_feed_out(f) for f in posts.feeds(session)]}


class FeedIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=8, max_length=500)
    unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)


@router.post("/feeds", status_code=201)
def add_feed(body: FeedIn, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    """Adds a feed; the periodic job reads it every `warning_feed_minutes`."""
    feed = posts.add_feed(session, actor, body.name, body.url, unit_id=body.unit_id)
    session.commit()
    return _feed_out(feed)


@router.post("/posts", status_code=201)
def upload_posts(
    session: SessionDep,
    settings: SettingsDep,
    actor: UserDep,
    source: Annotated[str, Form(min_length=1, max_length=100)],
    file: Annotated[UploadFile, File()],
    unit_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """A message board's export (CSV with the columns of `chengzhi hot detect`) as outside posts of `source`: stored
    once each, placed into hot issues beside the requests; never requests."""
    require_role(actor, *posts.MANAGE_ROLES)
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge("posts_upload_too_large", limit=f"{MAX_UPLOAD_BYTES // 1_000_000} MB")
    found = posts.import_file(session, settings, actor, source, content, utcnow(), unit_id=unit_id)
    session.commit()
    return {"source": " ".join(source.split()), **found.as_dict()}
