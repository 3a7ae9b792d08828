"""Open311 tables: API keys of apps, batch tokens, units' Open311 endpoints, the delivery outbox and the updates
received from outside systems."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.db import Base, UTCDateTime, utcnow
from chengzhi.requests.models import RequestEvent


class Open311Key(Base):
    """An API key issued to an app. Only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "open311_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the first characters, to recognise a key in lists
    rate: Mapped[str] = mapped_column(String(40))  # `limits` syntax, e.g. "60/minute"
    # A key bound to a unit may also push updates (servicerequestupdates) for the requests that unit leads,
    # acting as `user_id`, a service account holding the handler role there.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # An administrator's word that this client signs its users in and sends only contact details it verified
    # (the city's own app, typically): the `account_id` it posts is then kept, and a (client, account_id) pair can
    # be linked to a resident on proof (open311/accounts.py). Who changed it and when, for the record.
    vouches_for_accounts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    vouches_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    vouches_changed_by: Mapped[str | None] = mapped_column(String(80))


class Open311RequestAccount(Base):
    """The app's own account id a request was posted with, by a client that vouches for its users' accounts. Kept as
    sent (personal data: never published, deleted with the request's contacts by retention and by the resident's
    deletion)."""

    __tablename__ = "open311_request_accounts"
    __table_args__ = (Index("ix_open311_request_accounts_pair", "key_id", "account_id"),)

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("open311_keys.id"))
    account_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


ACTIVE_LINK = "unlinked_at IS NULL"


class Open311AccountLink(Base):
    """A (client, account_id) pair linked to a platform account, on proof: a request posted with the pair carried
    that account's verified phone number or e-mail address. Every request with the pair, earlier and later, is then
    among the person's own. At most one live link per pair; an unlinked row stays (with `unlinked_at`) so that the
    same pair is never linked to the same person again without them."""

    __tablename__ = "open311_account_links"
    __table_args__ = (
        Index(
            "uq_open311_account_links_live_pair",
            "key_id",
            "account_id",
            unique=True,
            postgresql_where=text(ACTIVE_LINK),
            sqlite_where=text(ACTIVE_LINK),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("open311_keys.id"))
    account_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    proof: Mapped[str] = mapped_column(
        String(10)
    )  # "phone" or "email": which verified contact the request carried
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    unlinked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Open311Token(Base):
    """A request posted to a batch service: accepted now, entered into the workflow by the `open311_batch` job;
    the token then resolves to the request's id."""

    __tablename__ = "open311_tokens"
    __table_args__ = (Index("ix_open311_tokens_pending", "resolved_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("open311_keys.id"))
    # The submission, until it is entered (then emptied: it holds contact details).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    account_id: Mapped[str | None] = mapped_column(
        String(200)
    )  # from a vouching client; emptied with the payload
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Open311Endpoint(Base):
    """A unit that receives its dispatched requests in its own Open311 system instead of the workbench."""

    __tablename__ = "open311_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    url: Mapped[str] = mapped_column(String(300))  # base URL, e.g. https://dept.example.cn/open311/v2
    jurisdiction_id: Mapped[str | None] = mapped_column(String(120))
    api_key_sealed: Mapped[str] = mapped_column(Text)  # encrypted with a key derived from CHENGZHI_SECRET_KEY
    # Our category code -> their service code, where they differ.
    service_codes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The service account (handler in the unit) in whose name the unit's updates move our workflow.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pulled_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Open311Delivery(Base):
    """The outbox: one row per dispatch to a unit with an endpoint, written in the dispatch's transaction."""

    __tablename__ = "open311_deliveries"
    __table_args__ = (
        Index("ix_open311_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_open311_deliveries_endpoint_remote", "endpoint_id", "remote_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("request_events.id"), unique=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("open311_endpoints.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # pending (waiting for its first or next attempt), delivered, cancelled (re-dispatched before delivery),
    # recorded (outbound mode "record": stored in outbound_records, not sent), failed (refused for good)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    remote_id: Mapped[str | None] = mapped_column(String(80))
    remote_token: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[RequestEvent] = relationship()


class Open311InboundUpdate(Base):
    """An update an outside system gave us (pushed with a key, or pulled from a unit's endpoint): kept so that
    the same update is applied once."""

    __tablename__ = "open311_inbound_updates"
    __table_args__ = (UniqueConstraint("origin", "update_id", name="uq_open311_inbound_updates_origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(40))  # "key:<id>" or "endpoint:<id>"
    update_id: Mapped[str] = mapped_column(String(80))
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    status: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    updated_datetime: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    applied: Mapped[str] = mapped_column(String(80), default="")  # the workflow actions it caused
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
