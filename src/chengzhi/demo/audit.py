"""The demo city's contact-view audit: the city's operator and the handlers of the newest handled requests have
looked at their residents' contact details, so /staff/contact-views shows something from the start."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.org import queries as org_queries
from chengzhi.requests import contact_views
from chengzhi.requests.models import Request

VIEWED = 6


def record_demo_views(session: Session, now: dt.datetime) -> int:
    """Views of the newest dispatched requests with a contact phone: by the lead unit's handler (API) and by the
    city's operator (the staff page). Returns how many views were recorded."""
    rows = session.scalars(
        select(Request)
        .where(Request.lead_unit_id.is_not(None), Request.contact_phone.is_not(None))
        .order_by(Request.id.desc())
        .limit(VIEWED)
    ).all()
    operator = org_queries.user_by_username(session, "operator")
    handlers = org_queries.unit_staff(session, {r.lead_unit_id for r in rows if r.lead_unit_id}, ["handler"])
    made = 0
    for i, request in enumerate(rows):
        at = now - dt.timedelta(minutes=30 * (i + 1))
        for handler in handlers.get(request.lead_unit_id or 0, [])[:1]:
            contact_views.record(session, handler.id, request.id, "handler", "api", at)
            made += 1
        if operator is not None:
            contact_views.record(
                session, operator.id, request.id, "operator", "page", at + dt.timedelta(minutes=5)
            )
            made += 1
    return made
