"""Categories: what a request is about, who handles it, its time limits and the questions it asks."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class HandlerKind(enum.StrEnum):
    """The kind of unit that acts on a category; routing picks the concrete unit from the location."""

    community = "community"
    street = "street"
    district = "district"
    department = "department"


class Priority(enum.StrEnum):
    emergency = "emergency"
    high = "high"
    normal = "normal"
    low = "low"


STAGES = ("sign", "contact", "reply", "review")


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    group_zh: Mapped[str] = mapped_column(String(120), default="")
    group_en: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[str] = mapped_column(Text, default="")  # comma-separated, as Open311 has them
    handler_kind: Mapped[HandlerKind] = mapped_column(
        Enum(HandlerKind, name="handler_kind", native_enum=False, length=20)
    )
    # For handler_kind == department: the department function code that acts ("water", ...).
    handler_function: Mapped[str | None] = mapped_column(String(60))
    default_priority: Mapped[Priority] = mapped_column(
        Enum(Priority, name="priority", native_enum=False, length=20), default=Priority.normal
    )
    # Stage -> duration ("2h", "30m", "3d" calendar days, "7wd" working days). Stages: sign, contact, reply, review.
    time_limits: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Open311 attribute definitions: [{code, datatype, required, description, order, values: [{key, name}]}]
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Open311 service type: realtime, batch or blackbox.
    service_type: Mapped[str] = mapped_column(String(20), default="realtime")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh
