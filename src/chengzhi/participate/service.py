"""What others may call: comments on public issues with moderation and reports of abuse, following an issue,
and the followers of requests for notify (docs/participation.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import Forbidden, Invalid, NotAuthenticated, NotFound
from chengzhi.org import levels
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, require_role
from chengzhi.participate.models import Comment, CommentReport, FocusVote, Follow
from chengzhi.requests import queries as requests_queries
from chengzhi.security.masking import mask_text
from chengzhi.warning import service as warning_service

MODERATORS = (Role.supervisor, Role.admin)
MAX_COMMENT = 2000
Decision = Literal["publish", "hide", "reject"]


def _signed_in(actor: Actor) -> int:
    if actor.user_id is None:
        raise NotAuthenticated()
    return actor.user_id


def _existing_request(session: Session, request_id: int) -> None:
    if requests_queries.request_row(session, request_id) is None:
        raise NotFound("request_not_found", ref=request_id)


def add_comment(
    session: Session, actor: Actor, settings: Settings, request_id: int, text: str, now: dt.datetime
) -> Comment:
    """A signed-in person's comment on a public request: published at once (post-moderation), or waiting for a
    moderator (pre-moderation, or a word of the list). Needs the identity level of `comment` (docs/identity.md)."""
    user_id = _signed_in(actor)
    levels.require_level(actor, settings, "comment")
    _existing_request(session, request_id)
    text = text.strip()
    if not text or len(text) > MAX_COMMENT:
        raise Invalid(details=f"a comment of 1 to {MAX_COMMENT} characters")
    words = warning_service.sensitive_words_in(session, text)
    reasons = (["pre-moderation"] if settings.comment_moderation == "pre" else []) + (
        ["words: " + ", ".join(words)] if words else []
    )
    held = "; ".join(reasons) or None
    comment = Comment(
        request_id=request_id,
        user_id=user_id,
        text=text,
        state="pending" if held else "published",
        held_for=held[:200] if held else None,
        reports=0,
        created_at=now,
    )
    session.add(comment)
    session.flush()
    return comment


def masked_name(name: str) -> str:
    """How an author is shown: the first character of the display name, then stars."""
    name = name.strip()
    return (name[0] + "*" * max(len(name) - 1, 1)) if name else "*"


def public_text(comment: Comment) -> str:
    """A comment as the public reads it: phone, ID-card numbers, e-mail addresses and long numbers masked (a
    resident may write their own number into a comment; the moderators see it as written)."""
    return mask_text(comment.text, public=True) or ""


def author_names(session: Session, comments: Collection[Comment]) -> dict[int, str]:
    """Comment id -> its author's display name ("" once retention has unlinked the author)."""
    names = org_queries.display_names(session, {c.user_id for c in comments if c.user_id is not None})
    return {c.id: names.get(c.user_id, "") if c.user_id is not None else "" for c in comments}


def described(session: Session, comments: Collection[Comment]) -> list[dict[str, Any]]:
    names = author_names(session, comments)
    return [
        {
            "id": c.id,
            "request_id": c.request_id,
            "author": masked_name(names[c.id]),
            "text": public_text(c) if c.state == "published" else c.text,
            "state": c.state,
            "held_for": c.held_for,
            "reports": c.reports,
            "created_at": c.created_at.isoformat(),
        }
        for c in comments
    ]


def comments_of(session: Session, request_id: int, limit: int = 200) -> list[Comment]:
    """The published comments of a request, oldest first."""
    query = (
        select(Comment)
        .where(Comment.request_id == request_id, Comment.state == "published")
        .order_by(Comment.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def report_comment(
    session: Session, actor: Actor, settings: Settings, comment_id: int, reason: str, now: dt.datetime
) -> Comment:
    """Someone finds a comment abusive (once per person); enough reports hide it until a moderator decides."""
    user_id = _signed_in(actor)
    comment = session.get(Comment, comment_id)
    if comment is None or comment.state != "published":
        raise NotFound()
    done = session.scalar(
        select(CommentReport.id).where(
            CommentReport.comment_id == comment_id, CommentReport.user_id == user_id
        )
    )
    if done is None:
        session.add(
            CommentReport(comment_id=comment_id, user_id=user_id, reason=reason[:300], created_at=now)
        )
        comment.reports += 1
        if comment.reports >= settings.comment_hide_after_reports:
            comment.state, comment.held_for = "hidden", "reports"
    return comment


def waiting_comments(session: Session, actor: Actor, limit: int = 200) -> list[Comment]:
    """What moderators decide on: comments waiting, and those hidden by reports."""
    require_role(actor, *MODERATORS)
    query = (
        select(Comment)
        .where((Comment.state == "pending") | ((Comment.state == "hidden") & (Comment.held_for == "reports")))
        .order_by(Comment.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def moderate_comment(session: Session, actor: Actor, comment_id: int, decision: Decision) -> Comment:
    require_role(actor, *MODERATORS)
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound()
    if decision not in ("publish", "hide", "reject"):
        raise Forbidden()
    comment.state = {"publish": "published", "hide": "hidden", "reject": "rejected"}[decision]
    comment.held_for = None if decision == "publish" else f"moderator: {decision}"
    comment.moderated_by = actor.user_id
    return comment


def follow(
    session: Session,
    actor: Actor,
    settings: Settings,
    request_id: int,
    now: dt.datetime,
    *,
    on: bool = True,
) -> bool:
    """Follow a public request (or stop following it); returns whether the person follows it now. Following
    needs the identity level of `follow`; stopping never does."""
    user_id = _signed_in(actor)
    if on:
        levels.require_level(actor, settings, "follow")
    _existing_request(session, request_id)
    row = session.scalar(select(Follow).where(Follow.request_id == request_id, Follow.user_id == user_id))
    if on and row is None:
        session.add(Follow(request_id=request_id, user_id=user_id, created_at=now))
    elif not on and row is not None:
        session.delete(row)
    return on


def follows(session: Session, user_id: int | None, request_id: int) -> bool:
    """Whether this person follows the request (for its page)."""
    if user_id is None:
        return False
    found = session.scalar(
        select(Follow.id).where(Follow.request_id == request_id, Follow.user_id == user_id)
    )
    return found is not None


def reported_by(session: Session, user_id: int | None, comment_ids: Collection[int]) -> set[int]:
    """Which of these comments this person has reported already (the page shows "reported" instead of a button)."""
    if user_id is None or not comment_ids:
        return set()
    query = select(CommentReport.comment_id).where(
        CommentReport.user_id == user_id, CommentReport.comment_id.in_(list(comment_ids))
    )
    return set(session.scalars(query))


def followers_of(session: Session, request_ids: Collection[int]) -> dict[int, list[int]]:
    """For notify: request id -> the users following it."""
    if not request_ids:
        return {}
    found: dict[int, list[int]] = {}
    rows = session.execute(
        select(Follow.request_id, Follow.user_id)
        .where(Follow.request_id.in_(list(request_ids)))
        .order_by(Follow.id)
    )
    for request_id, user_id in rows:
        found.setdefault(request_id, []).append(user_id)
    return found


def forget_requests(session: Session, contact_names: dict[int, str | None]) -> None:
    """Retention (request id -> the resident's contact name): the comments on these requests lose their author
    (the link to the account) and the personal data in their text (masked as on public pages, with the author's
    and the resident's names); who reported them and why, and who follows these requests, are deleted. The
    comments themselves stay: the public record of the case."""
    if not contact_names:
        return
    ids = list(contact_names)
    comments = list(session.scalars(select(Comment).where(Comment.request_id.in_(ids))))
    names = author_names(session, comments)
    for c in comments:
        known = [contact_names.get(c.request_id), names[c.id] or None]
        c.text = mask_text(c.text, public=True, names=known) or ""
        c.user_id = None
    if comments:
        session.execute(delete(CommentReport).where(CommentReport.comment_id.in_([c.id for c in comments])))
    session.execute(delete(Follow).where(Follow.request_id.in_(ids)))


def prune_votes(session: Session, before: dt.datetime, _now: dt.datetime) -> dict[str, int]:
    """Retention by age: who voted for which monthly topic, for months before the cut-off's (the topics keep
    their vote counts)."""
    due = FocusVote.month < before.strftime("%Y-%m")
    if session.scalar(select(FocusVote.id).where(due).limit(1)) is None:
        return {}  # a read only: no write lock taken when nothing is due (SQLite)
    done = session.execute(delete(FocusVote).where(due))
    return {"votes_deleted": int(getattr(done, "rowcount", 0) or 0)}
