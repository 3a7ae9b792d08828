"""The recording sink's table: what would have been sent, where outbound messages are recorded instead of sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class OutboundRecord(Base):
    """One message a channel in `record` mode did not send (docs/outbound.md). Secrets (API keys) are not kept."""

    __tablename__ = "outbound_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(300))
    reference: Mapped[str] = mapped_column(String(120), default="", index=True)
    # A message recorded again (a retry after a crash) is recorded once.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
