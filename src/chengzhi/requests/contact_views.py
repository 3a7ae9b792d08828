"""The contact-view audit: every time a staff member is shown a resident's contact details unmasked (the API's
request, its list and steps, the staff request page), a row says who, whose request, when, why (the right they
held: handler, operator, supervisor) and where (api, page). Supervisors and administrators read the views of the
requests in their scope at /staff/contact-views and export them as CSV (docs/security.md).

Views are noted while the answer is built and written by `save` (reads) or `add_pending` (inside a step's own
transaction), so that a read's transaction stays read-only until its end.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from chengzhi.db import utcnow
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, require_role
from chengzhi.requests.access import visibility_clause
from chengzhi.requests.models import ContactView
from chengzhi.requests.models import Request as RequestRow
from chengzhi.security.cells import safe_cell

PENDING = "chengzhi.contact_views"
AUDIT_ROLES = (Role.supervisor, Role.admin)
LIMIT = 500
_INSERT = insert(ContactView.__table__)  # type: ignore[arg-type]


def note(session: Session, actor: Actor, request: RequestRow, reason: str | None, via: str) -> None:
    """Remember that `actor` is being shown `request`'s contact details (nothing for the resident themselves,
    for requests without contact details, or once they are anonymised)."""
    if reason is None or reason == "submitter" or actor.user_id is None:
        return
    if not (request.contact_name or request.contact_phone or request.contact_email):
        return
    row = {"viewer_id": actor.user_id, "request_id": request.id, "reason": reason, "via": via}
    session.info.setdefault(PENDING, []).append(row)


def add_pending(session: Session, now: dt.datetime | None = None) -> int:
    """Write the noted views in the session's transaction (a step's, committed with it): one INSERT executed for
    all of them (on PostgreSQL one multi-row statement, on SQLite one prepared statement run for each row), not
    an ORM object and a statement per row; a list page of 50 costs about what one row did
    (benchmarks/contact_views.py)."""
    rows = session.info.pop(PENDING, [])
    if rows:
        at = now or utcnow()
        session.execute(_INSERT, [{**row, "at": at} for row in rows])
    return len(rows)


def record(session: Session, viewer_id: int, request_id: int, reason: str, via: str, at: dt.datetime) -> None:
    """One view, recorded directly (imports and the demo city)."""
    session.add(ContactView(viewer_id=viewer_id, request_id=request_id, reason=reason, via=via, at=at))


def save(session: Session) -> None:
    """For reads: end the read transaction, then write the noted views in one of their own (on SQLite a
    transaction that has read cannot write once another writer has committed)."""
    if not session.info.get(PENDING):
        return
    session.commit()
    add_pending(session)
    session.commit()


@dataclass(frozen=True)
class ViewRow:
    at: dt.datetime
    viewer: str
    tracking_number: str
    reason: str
    via: str


def views_in_scope(
    session: Session, actor: Actor, *, since: dt.datetime | None = None, viewer: str = "", limit: int = LIMIT
) -> list[ViewRow]:
    """The newest views of requests the actor may read (supervisors and administrators only)."""
    require_role(actor, *AUDIT_ROLES)
    query = (
        select(ContactView, RequestRow.tracking_number)
        .join(RequestRow, RequestRow.id == ContactView.request_id)
        .where(visibility_clause(actor))
        .order_by(ContactView.at.desc(), ContactView.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(ContactView.at >= since)
    if viewer:
        found = org_queries.user_by_username(session, viewer)
        query = query.where(ContactView.viewer_id == (found.id if found is not None else 0))
    rows = session.execute(query).all()
    users = org_queries.users_by_id(session, {view.viewer_id for view, _ in rows})
    return [
        ViewRow(
            view.at,
            users[view.viewer_id].username if view.viewer_id in users else "?",
            number,
            view.reason,
            view.via,
        )
        for view, number in rows
    ]


def as_csv(rows: Sequence[ViewRow]) -> str:
    """The views as a CSV file for auditors (cells neutralised against formula injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "viewer", "request", "reason", "via"])
    for row in rows:
        writer.writerow(
            [safe_cell(v) for v in (row.at.isoformat(), row.viewer, row.tracking_number, row.reason, row.via)]
        )
    return out.getvalue()
