"""Tables of what intake learns from a request's text: the place it names, whether it is an emergency, and the
index that finds duplicates. Kept apart from the request itself, so that a place read from the text never passes
for a point the resident put on the map."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class RequestTriage(Base):
    """Facts read from a request's text at intake (one row per request, written in the intake transaction)."""

    __tablename__ = "request_triage"

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    # Located from text: the point that stands for the place named (a unit's representative point or a learned
    # place's mean point) and the most specific unit it lies in. Empty when the text names no known place.
    place_lat: Mapped[float | None] = mapped_column(Float)
    place_lon: Mapped[float | None] = mapped_column(Float)
    place_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # [{"text": words in the request, "name": place matched, "kind": ..., "unit_id": ..., "source": ...}]
    place_matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"term": the list entry, "text": what the request says, "kind": fire/gas/...}]
    urgency_matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The text was cut to the analysed length (see urgency.MAX_TEXT), or could not be analysed at all.
    text_note: Mapped[str | None] = mapped_column(String(40))
    # The active category model's suggestion: its version, the top 3 [{"code", "probability"}] (only labels that
    # are categories of this city), and whether the first choice reached its category's confidence threshold.
    model_version: Mapped[int | None] = mapped_column(Integer)
    category_suggestions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    category_sure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlaceName(Base):
    """A place name learned from the city's history: requests with a map point that name it (小区, 路, 学校, ...).
    Rebuilt by `chengzhi places rebuild`."""

    __tablename__ = "place_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # The community (or street, district) the mean point lies in; None outside every area.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    mentions: Mapped[int] = mapped_column(Integer, default=0)
    # Mean distance of the mentions from the mean point, in metres: a wide spread means an ambiguous name.
    spread_m: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DuplicateBand(Base):
    """The persistent MinHash LSH index: one row per (band hash, request). Requests whose texts share a band
    are candidates for the same problem; the lookup is one indexed IN query over a request's band keys."""

    __tablename__ = "duplicate_bands"
    __table_args__ = (Index("ix_duplicate_bands_request_id", "request_id"),)

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class DuplicateSignature(Base):
    """A request's MinHash signature (NUM_PERM unsigned 32-bit values), so that candidates are scored by their
    estimated text similarity without reading and processing their texts."""

    __tablename__ = "duplicate_signatures"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    signature: Mapped[bytes] = mapped_column(LargeBinary)
