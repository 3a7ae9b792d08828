"""Live hot issues: groups of requests about one problem, who is in which, and the staff's decisions on them.

Grouping is analysis: it never touches the requests' workflow (`requests.issue_id` stays the dispatcher's merge).
A membership that a person decided (a merge, a split) is `pinned`: the nightly recomputation leaves it alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class HotIssue(Base):
    __tablename__ = "hot_issues"
    __table_args__ = (Index("ix_hot_issues_open_last", "merged_into_id", "last_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the issue is called: generated from its messages unless a person renamed it (`name_locked`).
    name: Mapped[str] = mapped_column(String(200), default="")
    name_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    place_or_group: Mapped[str] = mapped_column(String(200), default="")
    top_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The issue's words and places with their weights (its mean TF-IDF vector, normalised): what a new request is
    # compared with.
    signature: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    place_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A staff merge closes the issue into another one; closed issues take no new requests.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("hot_issues.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# What the ranking of hot issues reads of each membership of its window (`warning.ranking`): covered by the two
# indexes below, so that the ranking never reads the table itself on PostgreSQL.
_RANKING_READS = ["issue_id", "person", "supports", "area_unit_id", "negativity"]


class HotIssueMember(Base):
    """A request in a hot issue (one issue per request), with what the heat index reads of it."""

    __tablename__ = "hot_issue_members"
    __table_args__ = (
        # A city's view: every membership of the window.
        Index(
            "ix_hot_issue_members_received_covering",
            "received_at",
            postgresql_include=[*_RANKING_READS, "unit_path"],
        ),
        # A district's or a street's view: its unit paths (a prefix: LIKE on PostgreSQL), then the window.
        Index(
            "ix_hot_issue_members_scope_received_covering",
            "unit_path",
            "received_at",
            postgresql_ops={"unit_path": "varchar_pattern_ops"},
            postgresql_include=_RANKING_READS,
        ),
    )

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("hot_issues.id"), index=True)
    similarity: Mapped[float] = mapped_column(Float, default=1.0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)  # placed by a person's decision
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    person: Mapped[str] = mapped_column(
        String(64)
    )  # who wrote it (an account, a phone digest, else the request)
    supports: Mapped[int] = mapped_column(Integer, default=0)
    # The unit holding the request when it was placed (lead unit, else the receiving unit): the viewers' scope.
    unit_path: Mapped[str] = mapped_column(String(200), index=True)
    area_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    title: Mapped[str] = mapped_column(String(200), default="")
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The request's negativity (`TextLabel.negativity`, kept here for the heat index: no join at read time); None
    # while the request has no label. Written by placement, by labelling and by the nightly recomputation.
    negativity: Mapped[float | None] = mapped_column(Float)


class HotIssueDecision(Base):
    """A staff decision on hot issues (rename, merge, split): the record of who decided what."""

    __tablename__ = "hot_issue_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    issue_id: Mapped[int] = mapped_column(ForeignKey("hot_issues.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class HotTerm(Base):
    """The inverse document frequency of the words of the last recomputation: new requests are weighted by it."""

    __tablename__ = "hot_terms"

    term: Mapped[str] = mapped_column(String(80), primary_key=True)
    idf: Mapped[float] = mapped_column(Float)


class TextLabel(Base):
    """A request's sentiment and message type, from the text model (`warning.sentiment`) when it was triaged."""

    __tablename__ = "warning_text_labels"

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    negativity: Mapped[float] = mapped_column(Float)  # probability that the message is negative, 0..1
    sentiment: Mapped[str] = mapped_column(String(10))  # negative, neutral, positive
    message_type: Mapped[str] = mapped_column(String(16))  # suggestion, complaint, consultation
    model_version: Mapped[str] = mapped_column(String(40))
    labelled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """An early warning for the leaders and analysts of a unit: a hot issue, a burst, a repeat or a sensitive word.

    `cause` says what raised it (`heat:12`, `burst:3:45:2026-12-01`, `repeat:12:place:45`, `word:9876`): unique, so
    that the same cause never raises a second alert."""

    __tablename__ = "warning_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # heat, burst, repeat, word
    cause: Mapped[str] = mapped_column(String(200), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    unit_path: Mapped[str] = mapped_column(
        String(200), index=True
    )  # who is told: leaders/analysts covering it
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issue_id: Mapped[int | None] = mapped_column(
        Integer
    )  # the hot issue, when there is one (may be gone later)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)


class SensitiveWord(Base):
    """A word or phrase that raises an alert when a new request contains it (edited by administrators)."""

    __tablename__ = "warning_sensitive_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(50), unique=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feed(Base):
    """An outside source of posts (an RSS or Atom feed: a message board, a news site) read on a schedule. Its posts
    count in the scope of `unit_id` (default: the whole city)."""

    __tablename__ = "warning_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(200))
    modified: Mapped[str | None] = mapped_column(String(100))
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutsidePost(Base):
    """A post from outside (channel `feed`: a feed entry, a row of a message-board export). It counts toward hot
    issues' heat and alerts beside the requests, but it is not a request: nobody handles it.

    Deduplicated by (`source`, `external_id`) and by the digest of its text within a source (the same post re-read
    or exported twice is stored once)."""

    __tablename__ = "warning_posts"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_warning_posts_source_external_id"),
        UniqueConstraint("source", "digest", name="uq_warning_posts_source_digest"),
        Index("ix_warning_posts_issue_received", "issue_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))  # the feed's name, or the name given to an uploaded file
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("warning_feeds.id", ondelete="SET NULL"))
    external_id: Mapped[str] = mapped_column(String(300))  # the entry's id or link, the file's message id
    digest: Mapped[str] = mapped_column(String(64))  # of the normalised title and text
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    person: Mapped[str] = mapped_column(String(64))  # a keyed digest of the author, else of the post
    likes: Mapped[int] = mapped_column(Integer, default=0)
    dislikes: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # published, else fetched
    unit_path: Mapped[str] = mapped_column(String(200), index=True)  # whose scope it counts in
    # The hot issue it is in (placed like a new request; the nightly recomputation groups it again).
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("hot_issues.id", ondelete="SET NULL"))
    similarity: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
