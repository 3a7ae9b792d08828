"""Routing's periodic jobs, registered with the job runner at start-up (chengzhi/reactions.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.jobs import service as jobs_service
from chengzhi.routing import duplicates_index
from chengzhi.routing.refine import refine_job as refine_categories

__all__ = ["prune_duplicates", "refine_categories"]


def prune_duplicates(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Keep the duplicates index to open requests: closed ones leave it, reopened ones join it again."""
    last = jobs_service.last_result(session, "duplicates_prune")
    cursor: duplicates_index.Cursor | None = None
    saved = (last or {}).get("cursor")
    if saved:
        cursor = (dt.datetime.fromisoformat(saved[0]), int(saved[1]))
    counts, cursor = duplicates_index.prune_index(session, cursor, now)
    return {**counts, "cursor": [cursor[0].isoformat(), cursor[1]] if cursor else None}
