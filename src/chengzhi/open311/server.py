"""The Open311 GeoReport v2 server's logic: services and their definitions, intake (realtime and batch) and the
public request lists. FixMyStreet's service request updates are in `open311.request_updates`, the parameters and
errors every call shares in `open311.parameters`.

Requests enter the one workflow through `requests.service` (channel `open311`); nothing here writes a request or
an event by itself.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories
from chengzhi.categories.models import Category
from chengzhi.config import Settings
from chengzhi.db import MAX_ID, utcnow
from chengzhi.errors import ChengzhiError, NotFound
from chengzhi.i18n import N_, Language, gettext, message
from chengzhi.open311 import accounts
from chengzhi.open311.formats import Open311Error, when
from chengzhi.open311.mapping import UPDATE_ACTIONS, basic_status, extended_status, statuses_for_basic
from chengzhi.open311.models import Open311Key, Open311Token
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
from chengzhi.org.service import ANONYMOUS
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.workflow import action_name, status_name
from chengzhi.security.masking import mask_text

ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


# ---------------------------------------------------------------- services


def _group(category: Category, lang: Language) -> str:
    return (category.group_en if lang == "en" else category.group_zh) or ""


def services(session: Session, lang: Language) -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.code,
            "service_name": c.name(lang),
            "description": c.description or c.name(lang),
            "metadata": bool(c.attributes),
            "type": c.service_type,
            "keywords": c.keywords or "",
            "group": _group(c, lang),
        }
        for c in categories.list_categories(session)
    ]


def _active_category(session: Session, code: str, lang: Language) -> Category:
    try:
        category = categories.get_category(session, code)
    except NotFound:
        category = None
    if category is None or not category.active:
        raise Open311Error(404, message("category_not_found", lang, {"ref": code}))
    return category


def service_definition(session: Session, code: str, lang: Language) -> dict[str, Any]:
    category = _active_category(session, code, lang)
    attributes = [
        {
            "variable": a.get("variable", True),
            "code": a["code"],
            "datatype": a["datatype"],
            "required": a.get("required", False),
            "datatype_description": a.get("datatype_description", ""),
            "order": a.get("order", i),
            "description": a.get("description", a["code"]),
            "values": [{"key": v["key"], "name": v["name"]} for v in a.get("values", [])],
        }
        for i, a in enumerate(sorted(category.attributes or [], key=lambda a: a.get("order", 0)), start=1)
    ]
    return {"service_code": category.code, "attributes": attributes}


# ---------------------------------------------------------------- intake


def _attributes(form: Sequence[tuple[str, str]], lang: Language) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for name, value in form:
        match = ATTRIBUTE.match(name)
        if not match:
            if name.startswith("attribute"):
                raise bad(
                    lang,
                    f"{name}: write attributes as attribute[CODE] or attribute[CODE][]",
                    f"{name}：附加问题应写作 attribute[CODE] 或 attribute[CODE][]",
                )
            continue
        code, multiple = match.group(1), bool(match.group(2))
        if multiple:
            current = answers.setdefault(code, [])
            if not isinstance(current, list):
                raise bad(lang, f"attribute {code} given twice", f"附加问题 {code} 重复")
            if value.strip():
                current.append(value.strip())
        else:
            if code in answers:
                raise bad(lang, f"attribute {code} given twice", f"附加问题 {code} 重复")
            answers[code] = value.strip()
    return answers


def _float(value: str | None, name: str, lang: Language, low: float, high: float) -> float | None:
    value = clean(value)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:
        raise bad(
            lang, f"{name} must be a number from {low} to {high}", f"{name} 应为 {low} 到 {high} 之间的数"
        )
    return number


def submission_from_form(
    session: Session, fields: Mapping[str, str], form: Sequence[tuple[str, str]], lang: Language
) -> tuple[svc.Submission, Category]:
    """Read a POST requests form into the platform's Submission; errors as Open311 errors."""
    code = clean(fields.get("service_code"))
    if code is None:
        raise bad(lang, "service_code is required", "缺少 service_code")
    category = _active_category(session, code, lang)
    lat = _float(fields.get("lat"), "lat", lang, -90, 90)
    lon = _float(fields.get("long"), "long", lang, -180, 180)
    address = clean(fields.get("address_string")) or clean(fields.get("address_id"))
    if (lat is None) != (lon is None):
        raise bad(lang, "lat and long go together", "lat 与 long 须同时提供")
    if lat is None and address is None:
        raise bad(
            lang,
            "a location is required: lat and long, address_string or address_id",
            "须提供位置：lat 和 long、address_string 或 address_id",
        )
    description = fields.get("description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise bad(
            lang,
            f"description is longer than {MAX_DESCRIPTION} characters",
            f"description 不能超过 {MAX_DESCRIPTION} 个字符",
        )
    text = description.strip() or category.name(lang)
    media_url = clean(fields.get("media_url"))
    if media_url:
        if not media_url.startswith(("http://", "https://")) or len(media_url) > 1000:
            raise bad(lang, "media_url must be an http(s) URL", "media_url 应为 http(s) 网址")
        text = f"{text}\n\nmedia_url: {media_url}"
    name = " ".join(p for p in (clean(fields.get("first_name")), clean(fields.get("last_name"))) if p)
    data = svc.Submission(
        text=text,
        channel="open311",
        category_code=category.code,
        lat=lat,
        lon=lon,
        address=address[:300] if address else None,
        contact_name=name[:120] or None,
        contact_phone=(clean(fields.get("phone")) or "")[:40] or None,
        contact_email=(clean(fields.get("email")) or "")[:200] or None,
        attributes=_attributes(form, lang),
        language=lang,
        source="open311",
    )
    return data, category


def submit(
    session: Session,
    settings: Settings,
    data: svc.Submission,
    category: Category,
    key: Open311Key,
    lang: Language,
    account_id: str | None = None,
) -> list[dict[str, Any]]:
    """Enter the request (realtime, blackbox) or queue it behind a token (batch); one item, as the spec says. The
    app's `account_id` is kept (and may link the request to a resident) only for a client that vouches for its
    users' accounts (`open311.accounts`)."""
    account = accounts.echoed(key, account_id)
    notice = gettext(lang, N_("Received; the responsible unit will handle it."))
    if category.service_type == "batch":
        # The whole intake runs now, in a savepoint rolled back at once, so that the caller hears of any
        # problem with the request at once; the `open311_batch` job enters it for real.
        try:
            with session.begin_nested() as trial:
                svc.submit_request(session, ANONYMOUS, data, settings)
                trial.rollback()
        except ChengzhiError as exc:
            raise error_of(exc, lang) from None
        token = secrets.token_urlsafe(16)
        session.add(
            Open311Token(
                token=token, key_id=key.id, payload=asdict(data), account_id=account, created_at=utcnow()
            )
        )
        session.flush()
        return [{"token": token, "service_notice": notice, "account_id": account}]
    try:
        request = svc.submit_request(session, ANONYMOUS, data, settings)
    except ChengzhiError as exc:
        raise error_of(exc, lang) from None
    accounts.record(session, key.id, account, request.id, data.contact_phone, data.contact_email)
    if category.service_type == "blackbox":
        return [{"service_notice": notice, "account_id": account}]
    return [{"service_request_id": request.tracking_number, "service_notice": notice, "account_id": account}]


def resolve_tokens(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Enter the requests queued behind batch tokens; a request refused now keeps its reason on the token."""
    entered = refused = 0
    pending = (
        select(Open311Token).where(Open311Token.resolved_at.is_(None)).order_by(Open311Token.id).limit(500)
    )
    for token in session.scalars(pending).all():
        data = svc.Submission(**token.payload)
        try:
            with session.begin_nested():
                request = svc.submit_request(session, ANONYMOUS, data, settings, now)
                accounts.record(
                    session,
                    token.key_id,
                    token.account_id,
                    request.id,
                    data.contact_phone,
                    data.contact_email,
                    now,
                )
            token.request_id = request.id
            entered += 1
        except ChengzhiError as exc:
            token.error = message(exc.code, "en", dict(exc.params))[:300]
            refused += 1
        token.payload = {}
        token.account_id = None
        token.resolved_at = now
    session.flush()
    return {"entered": entered, "refused": refused}


def token_items(session: Session, token: str, lang: Language) -> list[dict[str, Any]]:
    row = session.execute(
        select(Open311Token.token, Open311Token.request_id).where(Open311Token.token == token)
    ).first()
    if row is None:
        raise Open311Error(404, gettext(lang, N_("token %(token)s was not found"), token=repr(token)))
    number = requests_queries.tracking_number_of(session, row.request_id) if row.request_id else None
    return [{"service_request_id": number, "token": row.token}]


# ---------------------------------------------------------------- reading requests


def _masked(text: str) -> str:
    """As on the public pages: personal data in free text is not published (`chengzhi.security.masking`)."""
    return (mask_text(text, public=True) or "")[:MAX_DESCRIPTION]


def _status_notes(status: str, lang: Language) -> str:
    return status_name(status, lang)


def _rows_to_items(
    session: Session, rows: Sequence[Any], lang: Language, tz: ZoneInfo, base_url: str, extensions: bool
) -> list[dict[str, Any]]:
    if not rows:
        return []
    by_id = categories.categories_by_id(session, {r.category_id for r in rows if r.category_id})
    units = org_queries.unit_names(session, {r.lead_unit_id or r.receiving_unit_id for r in rows}, lang)
    ids = [r.id for r in rows]
    notes = _notes(session, ids, lang, tz) if extensions else {}
    items = []
    for r in rows:
        category = by_id.get(r.category_id) if r.category_id else None
        photo = r.photo_name
        item: dict[str, Any] = {
            "service_request_id": r.tracking_number,
            "status": basic_status(r.status),
            "status_notes": _status_notes(r.status, lang),
            "service_name": category.name(lang) if category else None,
            "service_code": category.code if category else None,
            "description": _masked(r.text),
            "agency_responsible": units.get(r.lead_unit_id or r.receiving_unit_id),
            "service_notice": None,
            "requested_datetime": when(r.received_at, tz),
            "updated_datetime": when(r.updated_at, tz),
            "expected_datetime": when(r.due_at, tz),
            "address": r.address,
            "address_id": None,
            "zipcode": None,
            "lat": r.lat,
            "long": r.lon,
            "media_url": f"{base_url}media/photos/{photo}" if photo else None,
        }
        if extensions:
            item["extended_attributes"] = {"status": extended_status(r.status), "channel_status": r.status}
            item["notes"] = notes.get(r.id, [])
        items.append(item)
    return items


def _notes(
    session: Session, ids: Sequence[int], lang: Language, tz: ZoneInfo
) -> dict[int, list[dict[str, Any]]]:
    """The public timeline: what was done and when, with the reply's text; no internal notes, no names."""
    notes: dict[int, list[dict[str, Any]]] = {}
    for row in requests_queries.open311_timelines(session, ids, (*UPDATE_ACTIONS, "receive")):
        description = action_name(row.action, lang)
        if row.action in ("reply", "answer") and row.note:
            description = f"{description}: {_masked(row.note)}"
        notes.setdefault(row.request_id, []).append(
            {"datetime": when(row.at, tz), "description": description, "type": row.action}
        )
    return notes


def _service_ids(session: Session, value: str | None, lang: Language) -> list[int] | None:
    codes = [c.strip() for c in (clean(value) or "").split(",") if c.strip()]
    if not codes:
        return None
    found = categories.category_ids_by_code(session, codes)
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise Open311Error(404, message("category_not_found", lang, {"ref": ", ".join(unknown)}))
    return list(found.values())


def query_requests(
    session: Session,
    params: Mapping[str, str],
    lang: Language,
    tz: ZoneInfo,
    base_url: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    extensions = (clean(params.get("extensions")) or "").lower() == "true"
    page = parse_positive(params.get("page"), "page", lang, 1, 100_000)
    page_size = parse_positive(params.get("page_size"), "page_size", lang, MAX_RESULTS, MAX_RESULTS)
    ids_param = clean(params.get("service_request_id"))
    if ids_param is not None:
        # The ids override every other filter.
        numbers = [n.strip() for n in ids_param.split(",") if n.strip()][:MAX_RESULTS]
        rows = requests_queries.open311_list(
            session, numbers=numbers, limit=page_size, offset=(page - 1) * page_size
        )
        return _rows_to_items(session, rows, lang, tz, base_url, extensions)
    start, end = window(
        parse_datetime(params.get("start_date"), "start_date", lang),
        parse_datetime(params.get("end_date"), "end_date", lang),
        now,
        lang,
    )
    category_ids = _service_ids(session, params.get("service_code"), lang)
    statuses = None
    status = clean(params.get("status"))
    if status is not None:
        basics = {s.strip().lower() for s in status.split(",") if s.strip()}
        if not basics or not basics <= {"open", "closed"}:
            raise bad(lang, "status must be open, closed or both", "status 应为 open、closed 或二者")
        if len(basics) == 1:
            statuses = statuses_for_basic(basics.pop())
    rows = requests_queries.open311_list(
        session,
        received_from=start,
        received_to=end,
        category_ids=category_ids,
        statuses=statuses,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return _rows_to_items(session, rows, lang, tz, base_url, extensions)


def one_request(
    session: Session, number: str, params: Mapping[str, str], lang: Language, tz: ZoneInfo, base_url: str
) -> list[dict[str, Any]]:
    extensions = (clean(params.get("extensions")) or "").lower() == "true"
    rows = requests_queries.open311_item(session, number)
    if not rows:
        raise Open311Error(404, message("request_not_found", lang, {"ref": number}))
    return _rows_to_items(session, rows, lang, tz, base_url, extensions)


def request_by_id(session: Session, request_id: int) -> RequestRow:
    if not 0 < request_id <= MAX_ID:
        raise NotFound("request_not_found", ref=request_id)
    request = requests_queries.request_row(session, request_id)
    if request is None:
        raise NotFound("request_not_found", ref=request_id)
    return request
