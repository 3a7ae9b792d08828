"""Knowledge articles and their version history."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class ArticleStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    withdrawn = "withdrawn"


class KnowledgeArticle(Base):
    """One answer with the questions it answers; `version` counts edits (1 on creation)."""

    __tablename__ = "knowledge_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    questions: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    category_code: Mapped[str | None] = mapped_column(String(40))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[ArticleStatus] = mapped_column(
        Enum(ArticleStatus, name="article_status", native_enum=False, validate_strings=True, length=20),
        default=ArticleStatus.draft,
        index=True,
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class KnowledgeArticleVersion(Base):
    """Who changed what, when: one row per creation, edit, publication and withdrawal, with the article as it
    stood afterwards."""

    __tablename__ = "knowledge_article_versions"
    __table_args__ = (
        UniqueConstraint("article_id", "seq", name="uq_knowledge_article_versions_article_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_articles.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # created, edited, published, withdrawn, imported
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed: Mapped[list[str]] = mapped_column(JSON, default=list)  # names of the fields that changed
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeVector(Base):
    """A passage's embedding, keyed by the model and the SHA-256 of the text (embeddings.text_key), computed off
    the request path (knowledge.vectors) and shared by every process."""

    __tablename__ = "knowledge_vectors"
    __table_args__ = (UniqueConstraint("model", "text_hash", name="uq_knowledge_vectors_model_text_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(80))
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class UseOutcome(enum.StrEnum):
    answered = "answered"  # an operator answered a request at intake with the article
    rejected = "rejected"  # shown to an operator, who registered the request without it
    helped = "helped"  # a resident said the article answered the question
    not_helped = "not_helped"  # a resident said it did not


class KnowledgeUse(Base):
    """What became of an article shown at intake (the dashboards' most used / most rejected, and the editors'
    "shown but did not help" list)."""

    __tablename__ = "knowledge_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_articles.id", ondelete="CASCADE"), index=True
    )
    article_version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[UseOutcome] = mapped_column(
        Enum(UseOutcome, name="use_outcome", native_enum=False, validate_strings=True, length=20)
    )
    channel: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    question: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
