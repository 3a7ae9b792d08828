"""Delivery to units that work in their own Open311 system instead of the workbench.

A dispatch to such a unit writes an outbox row (`open311_deliveries`) in the dispatch's own transaction (a
`before_flush` hook: nothing in the request service needs to know). The `open311_deliver` job POSTs each pending
row to the unit's endpoint and stores the remote id (or token); a failure is retried with doubling waits, never
dropped, and shown to the dispatcher. The `open311_pull` job reads the unit's `servicerequestupdates` and moves our
workflow in the name of the unit's service account.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import ChengzhiError, Invalid, NotFound
from chengzhi.i18n import N_, NC_, Text, gettext, translate
from chengzhi.open311 import parameters, request_updates
from chengzhi.open311.formats import Open311Error
from chengzhi.open311.keys import service_user
from chengzhi.open311.mapping import STEPS_OF_EXTENDED
from chengzhi.open311.models import Open311Delivery, Open311Endpoint, Open311InboundUpdate
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit, User
from chengzhi.org.service import set_user_active
from chengzhi.outbound import Failed, Message, Result, RetryLater, mode_for, open_channel
from chengzhi.outbound.open311 import USER_AGENT, describe
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import IllegalTransition
from chengzhi.security.secretbox import SealError, reseal, seal, unseal

log = logging.getLogger(__name__)

BATCH = 50
PULL_OVERLAP = dt.timedelta(minutes=5)
CHANNEL = "open311"  # the outbound channel deliveries go through (docs/outbound.md)


# ---------------------------------------------------------------- configuration


def _check_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 300:
        raise Invalid(
            "validation_failed", details="the endpoint must be an http(s) URL such as https://x/open311/v2"
        )
    return url


def set_endpoint(
    session: Session,
    settings: Settings,
    unit: Unit,
    url: str,
    api_key: str,
    jurisdiction_id: str | None = None,
    service_codes: dict[str, str] | None = None,
) -> Open311Endpoint:
    """Create or replace the unit's endpoint; its dispatched requests go there from now on."""
    if not api_key.strip():
        raise Invalid("validation_failed", details="api_key")
    endpoint = session.scalar(select(Open311Endpoint).where(Open311Endpoint.unit_id == unit.id))
    if endpoint is None:
        user = service_user(session, f"open311-endpoint-{unit.code}", f"Open311 {unit.name_zh}", unit)
        endpoint = Open311Endpoint(unit_id=unit.id, user_id=user.id, created_at=utcnow())
        session.add(endpoint)
    endpoint.url = _check_url(url)
    endpoint.api_key_sealed = seal(api_key.strip(), settings.secret_key)
    endpoint.jurisdiction_id = (jurisdiction_id or "").strip() or None
    endpoint.service_codes = dict(service_codes or {})
    endpoint.active = True
    user_row = org_queries.user_by_id(session, endpoint.user_id)
    if user_row is not None:
        set_user_active(session, user_row, True)
    session.flush()
    return endpoint


def disable_endpoint(session: Session, unit: Unit) -> Open311Endpoint:
    endpoint = session.scalar(select(Open311Endpoint).where(Open311Endpoint.unit_id == unit.id))
    if endpoint is None:
        raise NotFound("not_found")
    endpoint.active = False
    session.flush()
    return endpoint


def list_endpoints(session: Session) -> list[tuple[Open311Endpoint, Unit]]:
    endpoints = session.scalars(select(Open311Endpoint)).all()
    units = org_queries.units_by_id(session, {e.unit_id for e in endpoints})
    return sorted(((e, units[e.unit_id]) for e in endpoints), key=lambda pair: pair[1].path)


# ---------------------------------------------------------------- what the dispatcher sees


def reseal_secrets(session: Session, settings: Settings) -> dict[str, int]:
    """Re-seal every endpoint's API key under CHENGZHI_SECRET_KEY (those sealed under a previous key or by the old
    cipher); counts resealed, already current, and unreadable (to be entered again)."""
    counts = {"resealed": 0, "current": 0, "unreadable": 0}
    for endpoint in session.scalars(select(Open311Endpoint).order_by(Open311Endpoint.id)):
        try:
            fresh = reseal(endpoint.api_key_sealed, settings.secret_key, settings.previous_secret_keys)
        except SealError:
            counts["unreadable"] += 1
            log.warning(
                "open311 endpoint of unit %s: its sealed API key opens with no known key", endpoint.unit_id
            )
            continue
        if fresh is None:
            counts["current"] += 1
        else:
            endpoint.api_key_sealed = fresh
            counts["resealed"] += 1
    session.flush()
    return counts


def deliveries_of(session: Session, request: Request) -> list[dict[str, Any]]:
    """What the dispatcher sees: each delivery's unit, state, attempts, next try and last error."""
    deliveries = session.scalars(
        select(Open311Delivery).where(Open311Delivery.request_id == request.id).order_by(Open311Delivery.id)
    ).all()
    units = org_queries.units_by_id(session, {d.unit_id for d in deliveries})
    return [
        {
            "id": d.id,
            "unit": {"id": u.id, "code": u.code, "name_zh": u.name_zh, "name_en": u.name_en},
            "state": d.state,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at if d.state == "pending" else None,
            "last_attempt_at": d.last_attempt_at,
            "last_error": d.last_error,
            "remote_id": d.remote_id,
            "remote_token": d.remote_token,
            "created_at": d.created_at,
            "delivered_at": d.delivered_at,
        }
        for d, u in ((d, units[d.unit_id]) for d in deliveries)
    ]


# ---------------------------------------------------------------- sending


def _form(request: Request, endpoint: Open311Endpoint) -> list[tuple[str, str]]:
    """The form's fields but the api_key (a secret of the message: sent, never recorded)."""
    code = request.category.code if request.category else ""
    form: list[tuple[str, str]] = [("service_code", endpoint.service_codes.get(code, code))]
    if endpoint.jurisdiction_id:
        form.append(("jurisdiction_id", endpoint.jurisdiction_id))
    if request.lat is not None and request.lon is not None:
        form += [("lat", repr(request.lat)), ("long", repr(request.lon))]
    if request.address:
        form.append(("address_string", request.address))
    form.append(("description", request.text[: parameters.MAX_DESCRIPTION]))
    if request.contact_name:
        form.append(("first_name", request.contact_name))
    if request.contact_phone:
        form.append(("phone", request.contact_phone))
    if request.contact_email:
        form.append(("email", request.contact_email))
    form.append(("account_id", request.tracking_number))
    for name, value in (request.attributes or {}).items():
        if isinstance(value, list):
            form += [(f"attribute[{name}][]", str(v)) for v in value]
        else:
            form.append((f"attribute[{name}]", str(value)))
    return form


def _backoff(settings: Settings, attempts: int) -> dt.timedelta:
    seconds = min(
        settings.open311_retry_seconds * 2 ** max(attempts - 1, 0), settings.open311_retry_max_seconds
    )
    return dt.timedelta(seconds=seconds)


def _prepare(factory: sessionmaker[Session], settings: Settings, delivery_id: int) -> Message | Result | None:
    """The message to send, or why not: None (dispatched elsewhere since: cancelled), or the error to retry."""
    with factory() as session:
        delivery = session.get(Open311Delivery, delivery_id)
        assert delivery is not None
        request = requests_queries.request_row(session, delivery.request_id)
        endpoint = session.get(Open311Endpoint, delivery.endpoint_id)
        assert request is not None and endpoint is not None
        latest = requests_queries.latest_dispatch_id(session, request.id)
        if latest != delivery.event_id or request.lead_unit_id != delivery.unit_id:
            return None
        try:
            api_key = unseal(endpoint.api_key_sealed, settings.secret_key, settings.previous_secret_keys)
        except SealError as exc:
            return RetryLater(str(exc))
        return Message(
            channel=CHANNEL,
            to=f"{endpoint.url}/requests.json",
            body=_pairs_to_multi(_form(request, endpoint)),
            idempotency_key=f"chengzhi-delivery-{delivery.id}-{request.tracking_number}",
            reference=request.tracking_number,
            secrets={"api_key": api_key},
        )


def _record(delivery: Open311Delivery, result: Result | None, settings: Settings, now: dt.datetime) -> str:
    if result is None:
        delivery.state = "cancelled"
        return "cancelled"
    delivery.attempts += 1
    delivery.last_attempt_at = now
    if isinstance(result, RetryLater | Failed):
        delivery.last_error = result.reason[:500]
        if isinstance(result, Failed):
            delivery.state = "failed"  # refused for good: not tried again
        else:
            delivery.next_attempt_at = now + _backoff(settings, delivery.attempts)
        log.warning(
            "open311 delivery %s to unit %s failed (attempt %s): %s",
            delivery.id,
            delivery.unit_id,
            delivery.attempts,
            delivery.last_error,
        )
        return "failed"
    delivery.delivered_at = now
    delivery.last_error = None
    if result.recorded:
        delivery.state = "recorded"  # recorded instead of sent (outbound mode "record"): nothing to pull
        return "recorded"
    delivery.remote_id = result.receipt.get("service_request_id")
    delivery.remote_token = result.receipt.get("token")
    delivery.state = "delivered"
    return "delivered"


def _factories(session: Session) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """Short transactions of their own (a reader, and a writer that takes SQLite's write lock at BEGIN): no
    transaction stays open while a remote system answers. The job's own transaction (PostgreSQL's advisory
    lock: one runner at a time) stays open around them and writes nothing but its run record."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    writer = (
        engine.execution_options(sqlite_begin_immediate=True) if engine.dialect.name == "sqlite" else engine
    )
    return sessionmaker(bind=engine, expire_on_commit=False), sessionmaker(
        bind=writer, expire_on_commit=False
    )


def _pairs_to_multi(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    merged: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in merged:
            current = merged[name]
            merged[name] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            merged[name] = value
    return merged


def deliver(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """POST dispatched requests to units' Open311 systems; failures wait longer each time, and are retried."""
    reader, writer = _factories(session)
    with reader() as read:
        due = list(
            read.scalars(
                select(Open311Delivery.id)
                .where(Open311Delivery.state == "pending", Open311Delivery.next_attempt_at <= now)
                .order_by(Open311Delivery.next_attempt_at, Open311Delivery.id)
                .limit(BATCH)
            )
        )
    counts = {"delivered": 0, "failed": 0, "cancelled": 0}
    if mode_for(settings, CHANNEL) == "record":
        counts["recorded"] = 0
    with open_channel(CHANNEL, settings, writer) as channel:
        for delivery_id in due:
            prepared = _prepare(reader, settings, delivery_id)
            result = channel.send(prepared) if isinstance(prepared, Message) else prepared
            # Each outcome is committed at once: a crash loses at most the one answer in flight, and the retry
            # carries the same Idempotency-Key, so the remote system does not file it twice.
            with writer() as write, write.begin():
                delivery = write.get(Open311Delivery, delivery_id)
                if delivery is None or delivery.state != "pending":
                    continue
                counts[_record(delivery, result, settings, now)] += 1
    return counts


# ---------------------------------------------------------------- pulling updates


def _get(client: httpx.Client, url: str, params: dict[str, Any]) -> Any:
    response = client.get(url, params=params)
    if response.status_code != 200:
        raise RuntimeError(describe(response))
    return response.json()


def _params(endpoint: Open311Endpoint, api_key: str) -> dict[str, Any]:
    params: dict[str, Any] = {"api_key": api_key}
    if endpoint.jurisdiction_id:
        params["jurisdiction_id"] = endpoint.jurisdiction_id
    return params


def _tokens(
    client: httpx.Client, url: str, params: dict[str, Any], waiting: list[tuple[int, str]]
) -> dict[int, str]:
    resolved = {}
    for delivery_id, token in waiting:
        items = _get(client, f"{url}/tokens/{token}.json", params)
        remote_id = items[0].get("service_request_id") if isinstance(items, list) and items else None
        if remote_id:
            resolved[delivery_id] = str(remote_id)[:80]
    return resolved


def _apply(
    session: Session,
    settings: Settings,
    endpoint: Open311Endpoint,
    user: User,
    item: dict[str, Any],
    now: dt.datetime,
) -> str:
    remote_id = str(item.get("service_request_id") or "")
    update_id = str(item.get("update_id") or "")
    status = str(item.get("status") or "").upper()
    if not remote_id or not update_id or status not in STEPS_OF_EXTENDED:
        return "ignored"
    delivery = session.scalar(
        select(Open311Delivery)
        .where(Open311Delivery.endpoint_id == endpoint.id, Open311Delivery.remote_id == remote_id)
        .order_by(Open311Delivery.id.desc())
        .limit(1)
    )
    if delivery is None:
        return "ignored"  # not one of ours
    origin = f"endpoint:{endpoint.id}"
    seen = session.scalar(
        select(Open311InboundUpdate.id).where(
            Open311InboundUpdate.origin == origin, Open311InboundUpdate.update_id == update_id[:80]
        )
    )
    if seen is not None:
        return "seen"
    request = requests_queries.request_for_update(session, request_id=delivery.request_id)
    assert request is not None
    updated = (
        parameters.parse_datetime(str(item.get("updated_datetime") or ""), "updated_datetime", "en") or now
    )
    try:
        with session.begin_nested():
            if request.lead_unit_id != endpoint.unit_id:
                raise ChengzhiError("out_of_scope")
            request_updates.apply_update(
                session,
                settings,
                request,
                user,
                origin,
                update_id[:80],
                status,
                item.get("description"),
                updated,
                now,
            )
        return "applied"
    except (ChengzhiError, IllegalTransition, Open311Error) as exc:
        # Kept, so that the same update is not tried again and again; the log says why.
        log.warning(
            "open311 update %s for request %s not applied: %s", update_id, request.tracking_number, exc
        )
        with session.begin_nested():
            session.add(
                Open311InboundUpdate(
                    origin=origin,
                    update_id=update_id[:80],
                    request_id=request.id,
                    status=status,
                    description=(item.get("description") or None),
                    updated_datetime=updated,
                    applied="refused",
                    received_at=now,
                )
            )
        return "refused"


@dataclass(frozen=True)
class _Source:
    endpoint_id: int
    unit_id: int
    url: str
    params: dict[str, Any]
    start: dt.datetime
    waiting: list[tuple[int, str]]  # deliveries whose token is not yet resolved


def _sources(
    factory: sessionmaker[Session], settings: Settings, now: dt.datetime
) -> tuple[list[_Source], int]:
    sources, errors = [], 0
    with factory() as read:
        for endpoint in read.scalars(select(Open311Endpoint).where(Open311Endpoint.active.is_(True))).all():
            delivered = select(Open311Delivery).where(
                Open311Delivery.endpoint_id == endpoint.id, Open311Delivery.state == "delivered"
            )
            if read.scalar(delivered.with_only_columns(Open311Delivery.id).limit(1)) is None:
                continue  # nothing of ours there yet
            try:
                api_key = unseal(endpoint.api_key_sealed, settings.secret_key, settings.previous_secret_keys)
            except SealError as exc:
                errors += 1
                log.warning("open311 pull from unit %s: %s", endpoint.unit_id, exc)
                continue
            waiting = [
                (d.id, d.remote_token)
                for d in read.scalars(
                    delivered.where(
                        Open311Delivery.remote_id.is_(None), Open311Delivery.remote_token.is_not(None)
                    )
                )
                if d.remote_token
            ]
            start = max(
                (endpoint.pulled_until or now - parameters.WINDOW) - PULL_OVERLAP, now - parameters.WINDOW
            )
            sources.append(
                _Source(
                    endpoint.id, endpoint.unit_id, endpoint.url, _params(endpoint, api_key), start, waiting
                )
            )
    return sources, errors


def _updates(client: httpx.Client, source: _Source, now: dt.datetime) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {
            **source.params,
            "start_date": source.start.isoformat(),
            "end_date": now.isoformat(),
            "page": page,
            "page_size": parameters.MAX_RESULTS,
        }
        items = _get(client, f"{source.url}/servicerequestupdates.json", params)
        if not isinstance(items, list):
            raise RuntimeError("servicerequestupdates did not answer with a list")
        found += [i for i in items if isinstance(i, dict)]
        if len(items) < parameters.MAX_RESULTS:
            return found
        page += 1


def pull(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Read every active endpoint's servicerequestupdates since the last pull and move our workflow."""
    reader, writer = _factories(session)
    counts = {"applied": 0, "refused": 0, "seen": 0, "ignored": 0, "tokens": 0, "errors": 0}
    sources, counts["errors"] = _sources(reader, settings, now)
    with httpx.Client(timeout=settings.open311_timeout_seconds, headers={"User-Agent": USER_AGENT}) as client:
        for source in sources:
            try:
                resolved = _tokens(client, source.url, source.params, source.waiting)
                items = _updates(client, source, now)
            except (httpx.HTTPError, RuntimeError, ValueError) as exc:
                counts["errors"] += 1
                log.warning("open311 pull from unit %s failed: %s", source.unit_id, str(exc)[:300])
                continue
            with writer() as write, write.begin():
                endpoint = write.get(Open311Endpoint, source.endpoint_id)
                user = org_queries.user_by_id(write, endpoint.user_id) if endpoint is not None else None
                if endpoint is None or user is None:
                    continue
                for delivery_id, remote_id in resolved.items():
                    delivery = write.get(Open311Delivery, delivery_id)
                    if delivery is not None:
                        delivery.remote_id = remote_id
                        counts["tokens"] += 1
                write.flush()
                for item in items:
                    counts[_apply(write, settings, endpoint, user, item, now)] += 1
                endpoint.pulled_until = now
    return counts


# ---------------------------------------------------------------- the staff request page's panel

STATE_NAMES: dict[str, Text] = {
    "pending": NC_("delivery state", "waiting (retried after a failure)"),
    "delivered": NC_("delivery state", "delivered"),
    "cancelled": NC_("delivery state", "cancelled (dispatched elsewhere)"),
    "recorded": NC_("delivery state", "recorded, not sent (outbound mode record)"),
    "failed": NC_("delivery state", "failed for good (not tried again)"),
}


@dataclass(frozen=True)
class DeliveryLine:
    unit: str
    state: str
    state_code: str
    attempts: str
    detail: str


@dataclass(frozen=True)
class DeliveryPanel:
    """What `_open311_deliveries.html` shows: every text already in the page's language."""

    heading: str
    lines: list[DeliveryLine]


def page_panel(session: Session, request: Request, lang: str, tz: ZoneInfo) -> DeliveryPanel | None:
    """The panel for the staff request page, or None when the request was never delivered by Open311."""
    rows = deliveries_of(session, request)
    if not rows:
        return None
    en = lang == "en"

    def at(value: dt.datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    lines = []
    for row in rows:
        if row["state"] == "delivered":
            detail = gettext(
                lang,
                N_("remote id %(remote)s, %(at)s"),
                remote=row["remote_id"] or row["remote_token"],
                at=at(row["delivered_at"]),
            )
        elif row["state"] == "pending" and row["last_error"]:
            detail = gettext(
                lang,
                N_("last error: %(error)s; next try %(at)s"),
                error=row["last_error"],
                at=at(row["next_attempt_at"]),
            )
        elif row["state"] == "recorded":
            detail = gettext(lang, N_("recorded in outbound_records, %(at)s"), at=at(row["delivered_at"]))
        elif row["state"] == "failed":
            detail = gettext(lang, N_("error: %(error)s"), error=row["last_error"])
        else:
            detail = ""
        lines.append(
            DeliveryLine(
                unit=row["unit"]["name_en" if en else "name_zh"],
                state=translate(lang, STATE_NAMES.get(row["state"], row["state"])),
                state_code=row["state"],
                attempts=gettext(lang, N_("%(count)s attempt(s)"), count=row["attempts"]),
                detail=detail,
            )
        )
    return DeliveryPanel(gettext(lang, N_("Delivery by Open311")), lines)
