"""The one publishing point: what units publish to the public (notices, and replies to public requests)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class Publication(Base):
    """A notice of a unit, or a reply to a public request published with the resident's consent (its texts
    masked). States: `pending` (waiting for a moderator, where CHENGZHI_PUBLISH_MODERATION asks), `published`,
    `rejected`, `withdrawn`. `unit_path` is the publishing unit's path: feeds by area are prefix matches."""

    __tablename__ = "publications"
    __table_args__ = (
        Index("ix_publications_state_published", "state", "published_at"),
        Index("ix_publications_unit_path", "unit_path"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # notice, reply
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    unit_path: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)  # for a reply: the unit's answer (masked)
    language: Mapped[str] = mapped_column(String(5), default="zh")
    state: Mapped[str] = mapped_column(String(10), default="published")
    consent_noted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who recorded the consent
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    moderation_note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
