"""Reading requests within the actor's scope: one by reference (or by tracking number and phone), lists and
counts for the inbox and the API, with their filters."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from chengzhi.categories.service import id_with_code
from chengzhi.errors import Invalid, NotFound
from chengzhi.org.service import Actor
from chengzhi.requests.access import can_view, visibility_clause
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import Status


def get_request(session: Session, actor: Actor, ref: int | str, *, for_update: bool = False) -> Request:
    """A request by id or tracking number, if the actor may see it (404 otherwise: nothing leaks)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit() and len(ref) < 10):
        query = select(Request).where(Request.id == int(ref))
    else:
        query = select(Request).where(Request.tracking_number == str(ref))
    if for_update:
        query = query.with_for_update(of=Request)
    request = session.scalar(query)
    if request is None or not can_view(session, actor, request):
        raise NotFound("request_not_found", ref=ref)
    return request


def get_by_tracking(
    session: Session, tracking_number: str, phone_last4: str, *, for_update: bool = False
) -> Request:
    """For residents without an account: the number and the last four digits of the phone they gave."""
    query = select(Request).where(Request.tracking_number == tracking_number.strip())
    if for_update:
        query = query.with_for_update(of=Request)
    request = session.scalar(query)
    if (
        request is None
        or not request.phone_last4
        or not secrets.compare_digest(request.phone_last4, phone_last4)
    ):
        raise NotFound("tracking_mismatch")
    return request


@dataclass
class RequestFilters:
    statuses: list[str] = field(default_factory=list)
    category: str | None = None
    channel: str | None = None
    lead_unit_id: int | None = None
    overdue: bool | None = None
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None


def parse_when(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("validation_failed", details=f"{name}: an ISO 8601 datetime is expected") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def list_requests(
    session: Session, actor: Actor, filters: RequestFilters, *, before: int | None = None, limit: int = 20
) -> list[Request]:
    """Newest first, keyset-paginated by id; returns up to limit + 1 rows (the extra one says: more follow).

    Two steps: the ids alone (a query the planner serves from an index on the filtered column), then those rows
    with their category and units. Asked in one query with the eager joins, SQLite walks the whole table by id
    looking for a rare status."""
    query = _filtered(select(Request.id), actor, filters)
    if before is not None:
        query = query.where(Request.id < before)
    ids = list(session.scalars(query.order_by(Request.id.desc()).limit(limit + 1)))
    if not ids:
        return []
    rows = session.scalars(select(Request).where(Request.id.in_(ids))).unique().all()
    return sorted(rows, key=lambda row: row.id, reverse=True)


_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])


def overdue_only(query: _Q) -> _Q:
    """Keep the overdue requests, as ids read from the partial index that holds only them: asked directly
    (`overdue_stage IS NOT NULL`), SQLite's planner takes the condition for an unselective one and scans the
    whole table."""
    late = aliased(Request)
    return query.where(Request.id.in_(select(late.id).where(late.overdue_stage.is_not(None))))


def count_requests_by_status(session: Session, actor: Actor, filters: RequestFilters) -> dict[str, int]:
    """How many requests each status holds among those `list_requests` would show (the inbox's counts)."""
    counting = select(Request.status, func.count())
    query = _filtered(counting, actor, filters, set_based=True).group_by(Request.status)
    return {status: count for status, count in session.execute(query).all()}


def _filtered(query: _Q, actor: Actor, filters: RequestFilters, *, set_based: bool = False) -> _Q:
    query = query.where(visibility_clause(actor, set_based=set_based))
    if filters.statuses:
        unknown = set(filters.statuses) - {s.value for s in Status}
        if unknown:
            raise Invalid("validation_failed", details=f"unknown status {', '.join(sorted(unknown))}")
        query = query.where(Request.status.in_(filters.statuses))
    if filters.category:
        query = query.where(Request.category_id == id_with_code(filters.category))
    if filters.channel:
        query = query.where(Request.channel == filters.channel)
    if filters.lead_unit_id is not None:
        query = query.where(Request.lead_unit_id == filters.lead_unit_id)
    if filters.overdue is True:
        query = overdue_only(query)
    elif filters.overdue is False:
        query = query.where(Request.overdue_stage.is_(None))
    if filters.received_from:
        query = query.where(Request.received_at >= filters.received_from)
    if filters.received_to:
        query = query.where(Request.received_at < filters.received_to)
    return query
