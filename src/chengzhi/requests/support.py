""" "Me too": residents support a public request instead of reporting it again.

A supporter is a signed-in account or, for anonymous visitors, a random id kept in their session cookie; only a
keyed hash of it is stored (`request_supports.supporter`), so the table links no one to anything. One support per
supporter and request (a unique constraint, so double clicks and races count once); `requests.support_count` is
raised in the same transaction for the public lists and the dispatcher's page.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.errors import Conflict, NotFound
from chengzhi.requests.models import Request, RequestSupport
from chengzhi.requests.workflow import Status

# Closed requests take no more supports: the problem is settled, a new report reopens the conversation.
SUPPORTABLE = frozenset(s.value for s in Status) - {Status.closed.value}


def supporter_key(secret: str, identity: str) -> str:
    """`identity` is "user:<id>" or "session:<random>"; the stored key is its HMAC under the site's secret."""
    return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()


def support(session: Session, request_id: int, supporter: str) -> tuple[Request, bool]:
    """Record a support; returns the request and whether this supporter's support is new. The caller commits."""
    request = session.scalar(select(Request).where(Request.id == request_id).with_for_update(of=Request))
    if request is None:
        raise NotFound("request_not_found", ref=request_id)
    if request.status not in SUPPORTABLE:
        raise Conflict("support_closed")
    already = session.scalar(
        select(RequestSupport.id).where(
            RequestSupport.request_id == request_id, RequestSupport.supporter == supporter
        )
    )
    if already is not None:
        return request, False
    try:
        with session.begin_nested():
            session.add(RequestSupport(request_id=request_id, supporter=supporter))
    except IntegrityError:  # the same supporter, at the same moment, from another tab
        return request, False
    session.execute(
        update(Request).where(Request.id == request_id).values(support_count=Request.support_count + 1)
    )
    session.refresh(request, ["support_count"])
    return request, True


def supported_among(session: Session, supporter: str | None, request_ids: Iterable[int]) -> set[int]:
    """Which of these requests this supporter has supported (to show "you said me too")."""
    ids = list(request_ids)
    if supporter is None or not ids:
        return set()
    query = select(RequestSupport.request_id).where(
        RequestSupport.supporter == supporter, RequestSupport.request_id.in_(ids)
    )
    return set(session.scalars(query))
