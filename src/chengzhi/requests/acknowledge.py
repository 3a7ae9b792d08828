"""The 201 of `POST /api/v1/requests`, written from the row intake inserts: no ORM object, no pydantic model.

The answer is `schemas.RequestCreated` (its OpenAPI model) with the fields in the same order and the same values
as `RequestCreated(request=request_public(...)).model_dump(mode="json")` would give for a request just received
(tests/test_intake_acknowledge.py compares the two). Intake calls `render` before the insert and gets the JSON text
before and after the new id: the same text is the response and, under an Idempotency-Key, the saved answer
(requests/intake_sql.py), serialised once.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import cast

from sqlalchemy.orm import Session

from chengzhi.org.service import Actor
from chengzhi.requests.intake import Received
from chengzhi.requests.models import Request
from chengzhi.requests.steps import allowed_for
from chengzhi.requests.workflow import status_name

_ID = -7_350_713_201  # stands for the id until the database gives it: no other value is a negative integer
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _when(value: dt.datetime | None) -> str | None:
    """A datetime as pydantic writes it in JSON (ISO 8601, UTC as "Z")."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def created(
    received: Received, session: Session, actor: Actor, lang: str, photo_token: str | None
) -> tuple[str, str]:
    """The answer's JSON text before and after the request's id (the contact is shown: it is the caller's)."""
    row = received.row
    category = received.category
    # The actions this caller may take now (the buttons), from the row: the rules read columns only.
    view = cast(Request, SimpleNamespace(**row))
    actions = allowed_for(session, actor, view, paths=[] if actor.is_anonymous else [received.hub_path])
    request = {
        "id": _ID,
        "tracking_number": row["tracking_number"],
        "title": row["title"],
        "text": row["text"],
        "channel": row["channel"],
        "category": {"code": category.code, "name": category.name(lang)} if category is not None else None,
        "priority": row["priority"],
        "status": row["status"],
        "status_name": status_name(row["status"], lang),
        "being_triaged": bool(row["triage_pending"]),
        "lat": row["lat"],
        "lon": row["lon"],
        "address": row["address"],
        "contact": {
            "name": row["contact_name"],
            "phone": row["contact_phone"],
            "email": row["contact_email"],
            "masked": False,
        },
        "lead_unit": None,  # set by dispatch, which comes later
        "co_units": [],
        "issue_id": row["issue_id"],
        "received_at": _when(row["received_at"]),
        "updated_at": _when(row["updated_at"]),
        "due_at": _when(row["due_at"]),
        "deadlines": row["deadlines"] or {},
        "overdue": row["overdue_stage"] is not None,
        "ever_overdue": row["ever_overdue"],
        "extension_pending": row["extension_pending"],
        "reply": row["reply_text"],
        "replied_at": _when(row["replied_at"]),
        "closed_at": _when(row["closed_at"]),
        "resolved": row["resolved"],
        "satisfaction": row["satisfaction"],
        "reopen_count": row["reopen_count"],
        "return_count": row["return_count"],
        "attributes": row["attributes"] or {},
        "photos": [],
        "allowed_actions": actions,
        "routing": None,
        "events": None,
    }
    text = _ENCODE({"request": request, "photo_token": photo_token})
    before, _, after = text.partition(str(_ID))
    return before, after
