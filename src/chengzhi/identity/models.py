"""Identities at OpenID Connect providers, one-time codes that verify a phone or e-mail address, notification
preferences, and the trace of what was done with a person's data at their request (PIPL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class UserIdentity(Base):
    """A person's account at an identity provider, keyed on (issuer, subject): never on an e-mail address, which
    providers let people change and reuse. A user may link several."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_user_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    acr: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class VerificationCode(Base):
    """A one-time code sent to a phone number or e-mail address (identity level 1); stored hashed. A code sent to a
    visitor without an account has no user but the (hashed) random id of the browser it was sent to."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    browser: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # "sms" or "email"
    target: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DataRightsEvent(Base):
    """What was done with a person's data at their request (see, export, correct, delete): the trace PIPL asks
    for. Kept after the account is deleted (the user id then points nowhere and is kept as a number)."""

    __tablename__ = "data_rights_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What changed or was handed out: field names and counts, never the personal data itself.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    anonymised: Mapped[bool] = mapped_column(Boolean, default=False)


class DetailSharing(Base):
    """Which verified details a resident agreed to share with the units handling their requests (nothing until they
    choose: consent is given, never assumed). Only details verified at the time of viewing are ever shown."""

    __tablename__ = "detail_sharing"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    share_name: Mapped[bool] = mapped_column(Boolean, default=False)
    share_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    share_email: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DetailView(Base):
    """The access log of shared details: who saw which of a resident's verified details, for which request, when.
    The resident sees it in their own space; staff who may see the details see it on the request. Kept after the
    resident deletes their data (ids and field names only, never the details)."""

    __tablename__ = "detail_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    # None once retention has anonymised the request (CHENGZHI_RETENTION_MONTHS after it closed).
    resident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    viewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    viewer_unit_id: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
