"""Residents taking part: comments on public issues (moderated), reports of abuse, and following an issue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class Comment(Base):
    """A resident's comment on a public request. States: `pending` (waiting for a moderator: pre-moderation, or
    a sensitive word), `published`, `hidden` (by a moderator, or by enough reports), `rejected`."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_request_state", "request_id", "state", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    # The author; None once retention has unlinked them (CHENGZHI_RETENTION_MONTHS after the request closed).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))
    held_for: Mapped[str | None] = mapped_column(String(200))  # why it waits: pre-moderation, a word
    reports: Mapped[int] = mapped_column(Integer, default=0)
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommentReport(Base):
    """Someone reported a comment as abusive: once per person."""

    __tablename__ = "comment_reports"
    __table_args__ = (UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Follow(Base):
    """A signed-in person follows a public request: they are notified of its steps as its resident is."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("request_id", "user_id", name="uq_follows_request_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FocusTopic(Base):
    """A monthly focus topic (每月一题): a high-frequency problem leaders take up for a month, with a lead unit,
    co-units, a goal and a deadline. States: `candidate` (residents may vote on it for `month`), `chosen`
    (being worked on), `done` (its outcome written)."""

    __tablename__ = "focus_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    # The early-warning domain's hot issue the topic was taken from, if any: its requests are the topic's.
    hot_issue_id: Mapped[int | None] = mapped_column(ForeignKey("hot_issues.id"))
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    co_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    goal: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10), default="candidate")
    votes: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FocusProgress(Base):
    """A progress report on a chosen topic, for residents to read."""

    __tablename__ = "focus_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("focus_topics.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FocusVote(Base):
    """A resident's one vote among a month's candidates."""

    __tablename__ = "focus_votes"
    __table_args__ = (UniqueConstraint("month", "user_id", name="uq_focus_votes_month_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    topic_id: Mapped[int] = mapped_column(ForeignKey("focus_topics.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
