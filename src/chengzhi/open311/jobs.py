"""Open311's periodic jobs, run by `jobs.service` like every other (one runner at a time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.open311 import delivery, server


def open311_batch(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Enter the Open311 requests queued behind batch tokens."""
    return server.resolve_tokens(session, settings, now)


def open311_deliver(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Deliver dispatched requests to units' own Open311 systems (retries with backoff)."""
    return delivery.deliver(session, settings, now)


def open311_pull(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Pull units' Open311 servicerequestupdates into our workflow."""
    return delivery.pull(session, settings, now)
