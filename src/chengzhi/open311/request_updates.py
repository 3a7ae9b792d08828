"""FixMyStreet's service request updates in both directions: the status changes we publish, and an outside
system's updates moving our workflow (pushed to us, or pulled by `open311.delivery`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import ChengzhiError, Forbidden, Invalid
from chengzhi.i18n import N_, Language, gettext, message
from chengzhi.open311.formats import Open311Error, when
from chengzhi.open311.mapping import (
    EXTENDED_STATUSES,
    RANK,
    RANK_AFTER,
    STEPS_OF_EXTENDED,
    UPDATE_ACTIONS,
    extended_status,
)
from chengzhi.open311.models import Open311InboundUpdate, Open311Key
from chengzhi.open311.parameters import (
    MAX_DESCRIPTION,
    MAX_RESULTS,
    bad,
    clean,
    error_of,
    parse_datetime,
    parse_positive,
    window,
)
from chengzhi.org import queries as org_queries
from chengzhi.org.models import User
from chengzhi.org.service import actor_for
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.workflow import (
    TRANSITIONS,
    Action,
    IllegalTransition,
    Status,
    action_name,
    check,
    status_name,
)
from chengzhi.security.masking import mask_text

# Steps whose note is the public text of the update (the reply, a return's or reopening's reason).
TEXT_ACTIONS = frozenset({"answer", "reply", "return", "reopen", "close"})


def _status_after(action: str, payload: Mapping[str, Any]) -> str:
    if action == Action.record_outcome.value:
        return str(payload.get("status", Status.closed.value))
    target = TRANSITIONS[Action(action)].target
    return target.value if target is not None else Status.received.value


def updates(
    session: Session,
    params: Mapping[str, str],
    lang: Language,
    tz: ZoneInfo,
    now: dt.datetime,
    *,
    key_unit: int | None = None,
) -> list[dict[str, Any]]:
    """Every status change in the date range, oldest first (so that a reader can move a cursor).

    The texts (replies, reasons) are published with personal data masked, as on the public pages; only a key
    bound to the unit that leads a request (the department's own system) reads that request's texts as written."""
    page = parse_positive(params.get("page"), "page", lang, 1, 100_000)
    page_size = parse_positive(params.get("page_size"), "page_size", lang, MAX_RESULTS, MAX_RESULTS)
    start, end = window(
        parse_datetime(params.get("start_date"), "start_date", lang),
        parse_datetime(params.get("end_date"), "end_date", lang),
        now,
        lang,
    )
    items = []
    rows = requests_queries.open311_events(
        session, start, end, UPDATE_ACTIONS, limit=page_size, offset=(page - 1) * page_size
    )
    for row in rows:
        description = action_name(row.action, lang)
        if row.action in TEXT_ACTIONS and row.note:
            own = key_unit is not None and row.lead_unit_id == key_unit
            description = row.note if own else (mask_text(row.note, public=True) or "")
        status = _status_after(row.action, row.payload or {})
        items.append(
            {
                "update_id": str(row.id),
                "service_request_id": row.tracking_number,
                "status": extended_status(status),
                "updated_datetime": when(row.at, tz),
                "description": description,
                "media_url": None,
            }
        )
    return items


def apply_update(
    session: Session,
    settings: Settings,
    request: RequestRow,
    user: User,
    origin: str,
    update_id: str,
    status: str,
    description: str | None,
    updated: dt.datetime,
    now: dt.datetime | None = None,
) -> Open311InboundUpdate:
    """Move our workflow as an outside system's update says, acting as `user` (a handler of the lead unit).

    Forward steps the request is already past are skipped; a step the workflow refuses raises. The same
    (origin, update_id) is applied once: a repeat returns the first record."""
    now = now or utcnow()
    seen = session.scalar(
        select(Open311InboundUpdate).where(
            Open311InboundUpdate.origin == origin, Open311InboundUpdate.update_id == update_id
        )
    )
    if seen is not None:
        return seen
    if status not in STEPS_OF_EXTENDED:
        raise Invalid("validation_failed", details=f"status must be one of {', '.join(EXTENDED_STATUSES)}")
    actor = actor_for(user)
    text = (description or "").strip()
    applied: list[str] = []
    for action in STEPS_OF_EXTENDED[status]:
        try:
            check(svc.state_of(request), action)
        except IllegalTransition:
            if action in RANK_AFTER and RANK.get(request.status, 0) >= RANK_AFTER[action]:
                continue  # already there
            raise
        if action is Action.sign:
            svc.sign_request(session, actor, request, now)
        elif action is Action.contact:
            svc.contact_resident(session, actor, request, text or None, now)
        elif action is Action.reply:
            svc.reply_request(session, actor, request, text or status_name("replied", "zh"), settings, now)
        elif action is Action.return_:
            svc.return_request(session, actor, request, text or status, now)
        applied.append(action.value)
    record = Open311InboundUpdate(
        origin=origin,
        update_id=update_id,
        request_id=request.id,
        status=status,
        description=text or None,
        updated_datetime=updated,
        applied=",".join(applied),
        received_at=now,
    )
    with session.begin_nested():
        session.add(record)
    return record


def push_update(
    session: Session, settings: Settings, key: Open311Key, fields: Mapping[str, str], lang: Language
) -> list[dict[str, Any]]:
    """POST servicerequestupdates: an outside system (its key bound to a unit) moves a request that unit leads."""
    if key.unit_id is None or key.user_id is None:
        raise Open311Error(
            403,
            gettext(lang, N_("this api_key may not post updates (it is not bound to a unit)")),
        )
    missing = [
        n
        for n in ("service_request_id", "update_id", "updated_datetime", "status")
        if not clean(fields.get(n))
    ]
    if missing:
        raise bad(lang, f"missing: {', '.join(missing)}", f"缺少：{', '.join(missing)}")
    update_id = str(clean(fields.get("update_id")))[:80]
    status = str(clean(fields.get("status"))).upper()
    if status not in STEPS_OF_EXTENDED:
        raise bad(
            lang,
            f"status must be one of {', '.join(EXTENDED_STATUSES)}",
            f"status 应为 {', '.join(EXTENDED_STATUSES)} 之一",
        )
    updated = parse_datetime(fields.get("updated_datetime"), "updated_datetime", lang)
    assert updated is not None
    description = fields.get("description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise bad(
            lang,
            f"description is longer than {MAX_DESCRIPTION} characters",
            f"description 不能超过 {MAX_DESCRIPTION} 个字符",
        )
    number = str(clean(fields.get("service_request_id")))
    request = requests_queries.request_for_update(session, number=number)
    if request is None:
        raise Open311Error(404, message("request_not_found", lang, {"ref": number}))
    if request.lead_unit_id != key.unit_id:
        raise error_of(Forbidden("out_of_scope"), lang)
    user = org_queries.user_by_id(session, key.user_id)
    if user is None or not user.active:
        raise error_of(Forbidden(), lang)
    try:
        record = apply_update(
            session, settings, request, user, f"key:{key.id}", update_id, status, description, updated
        )
    except ChengzhiError as exc:
        raise error_of(exc, lang) from None
    except IllegalTransition as exc:
        text = message(exc.code, lang, svc.illegal_to_message(exc))
        raise Open311Error(400, text) from None
    return [{"update_id": str(record.id)}]


def forget_requests(session: Session, names: Mapping[int, str | None]) -> int:
    """Retention: the texts outside systems sent about these requests (kept so that an update is applied once)
    are masked as on public pages, with the resident's name (`names`: request id -> contact name)."""
    done = 0
    rows = session.scalars(
        select(Open311InboundUpdate).where(Open311InboundUpdate.request_id.in_(list(names)))
    )
    for row in rows:
        if row.description:
            row.description = mask_text(row.description, public=True, names=[names[row.request_id]])
            done += 1
    return done
