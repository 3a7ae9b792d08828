"""The demo's identities: `resident` signed in once with a real-name identity provider (identity level 2: their
phone number and name are verified), shares both with the units handling their requests, and the handler of their
newest handled request has looked once (the access log shows it, in `/me` and on the request). The other residents
stay unverified, so that `resident2` shows the step-up through a one-time code."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.demo.city import DemoCity
from chengzhi.identity import sharing
from chengzhi.org import service as org
from chengzhi.requests import queries as request_queries


def verify_and_share(session: Session, demo: DemoCity, now: dt.datetime) -> dict[str, Any]:
    user = demo.users["resident"]
    org.record_verified(session, user, phone=user.phone, real_name=True)
    sharing.set_consent(session, user.id, {"name": True, "phone": True})
    handled = [
        r
        for r in request_queries.requests_of_person(session, user.id, None, None)
        if r.lead_unit_id in demo.handlers and r.submitter_id == user.id
    ]
    viewed = 0
    if handled:
        newest = max(handled, key=lambda r: r.id)
        sharing.view(session, demo.handlers[newest.lead_unit_id or 0], newest, now=now)
        viewed = 1
    return {"level": org.identity_level(user), "shared": ["name", "phone"], "views": viewed}
