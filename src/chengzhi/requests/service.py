"""The requests domain's write API: every change to a request goes through these functions, whoever calls them
(the API and pages of this domain, open311, the importer, jobs, the demo).

A facade only: the functions live in `intake` (a new request), `steps` (the workflow's steps), `photos` and
`log` (the event log); `get_request` and `get_by_tracking` (in `lists`) find the request to act on, within the
actor's scope. Reading for other purposes has its own modules: `access` (visibility, can-view, masking),
`queries` (other domains' read API), `lists` (this domain's lists and counts).

Callers own the transaction: these functions add and flush, never commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from chengzhi.requests.intake import (
    CHANNELS,
    STAFF_CHANNELS,
    Acknowledgement,
    Received,
    Submission,
    receive,
    submit_request,
)
from chengzhi.requests.lists import get_by_tracking, get_request
from chengzhi.requests.log import SYSTEM, state_of
from chengzhi.requests.models import Request
from chengzhi.requests.photos import add_photo, keep_photo_token, new_photo_token, photo_token_for
from chengzhi.requests.steps import (
    add_message,
    answer_at_intake,
    close_request,
    co_handle_request,
    contact_resident,
    decide_extension,
    dispatch_request,
    illegal_to_message,
    mark_overdue,
    merge_request,
    record_outcome,
    reopen_request,
    reply_request,
    request_extension,
    return_request,
    review_request,
    routing_suggestion,
    sign_request,
    supervise_request,
)
from chengzhi.requests.triaged import (
    auto_dispatch,
    flag_emergencies,
    make_emergency,
    pending_texts,
    pending_triage,
    triage_done,
)

__all__ = [
    "CHANNELS",
    "STAFF_CHANNELS",
    "SYSTEM",
    "Acknowledgement",
    "Received",
    "Submission",
    "add_message",
    "add_photo",
    "answer_at_intake",
    "auto_dispatch",
    "close_request",
    "co_handle_request",
    "contact_resident",
    "decide_extension",
    "dispatch_request",
    "flag_emergencies",
    "get_by_tracking",
    "get_request",
    "illegal_to_message",
    "keep_photo_token",
    "make_emergency",
    "mark_overdue",
    "merge_request",
    "new_photo_token",
    "pending_texts",
    "pending_triage",
    "photo_token_for",
    "receive",
    "record_outcome",
    "reopen_request",
    "reply_request",
    "request_extension",
    "return_request",
    "review_request",
    "routing_suggestion",
    "sign_request",
    "state_of",
    "submit_request",
    "supervise_request",
    "triage_done",
]


def anonymise_contacts(session: Session, request_ids: Sequence[int]) -> int:
    """Erase the contact details and the submitter of these requests, which stay for the public record (a
    person's deletion of their data, PIPL). The text is kept as written."""
    if not request_ids:
        return 0
    result = session.execute(
        update(Request)
        .where(Request.id.in_(list(request_ids)))
        .values(
            contact_name=None, contact_phone=None, contact_email=None, phone_last4=None, submitter_id=None
        )
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
