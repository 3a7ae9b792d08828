"""Facts of a request, derived from its event log alone: what every dashboard figure counts.

`derive(events)` is a pure function of the log (plus the newest exclusion); `refresh(conn, ids)` rewrites the
facts of some requests inside the caller's transaction; it runs after every flush that appends an event or an
exclusion (`after_flush`, the listener that `install()` registers on every Session at start-up), so the facts
always match the log. `rebuild(engine)` recomputes every request's facts from the whole log (after bulk loads that
bypass the ORM). A request's received day is in the city's time zone (`city_zone`: the app's settings).

Definitions (docs/metrics.md has them in full):

- response cycle: the dispatch after which the resident was first contacted (the last dispatch before the first
  contact event), or the latest dispatch while nobody has been contacted yet;
- response due: the cycle's contact happened, or the sign/contact stage was marked overdue in it;
- responded on time: sign and contact in that cycle, each by the deadline its dispatch set;
- reviewed / resolved / satisfied: the newest review event (the follow-up); satisfied means 4 or 5 of 5.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, insert, inspect, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from chengzhi.config import get_settings
from chengzhi.db import utcnow
from chengzhi.metrics.models import MetricExclusion, RequestFact
from chengzhi.org import queries as org_queries
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.models import RequestEvent
from chengzhi.requests.workflow import Action, Status, Step, WorkflowState, apply
from chengzhi.routing.rules import area_index

SATISFIED_MIN = 4  # of 5: "satisfied" and "very satisfied"
EXCLUSION_REASONS = ("refused_to_rate", "unreasonable")
# Which denominators an exclusion takes the request out of.
LEAVES_RESPONSE = frozenset({"unreasonable"})
LEAVES_FOLLOW_UP = frozenset({"unreasonable", "refused_to_rate"})
BATCH = 2000


@dataclass(frozen=True)
class Event:
    action: str
    at: dt.datetime
    payload: Mapping[str, Any]


def _iso(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def derive(events: Sequence[Event], exclusion: str | None = None) -> dict[str, Any]:
    """The facts of one request from its events (in log order) and its newest exclusion reason."""
    state = WorkflowState()
    for event in events:
        state = apply(state, Step(Action(event.action), event.at, event.payload))
    actions = [e.action for e in events]
    dispatch_idx = [i for i, a in enumerate(actions) if a == Action.dispatch.value]
    first_contact = next((i for i, a in enumerate(actions) if a == Action.contact.value), None)

    cycle: int | None = None
    if dispatch_idx:
        if first_contact is not None:
            cycle = max(i for i in dispatch_idx if i < first_contact)
        else:
            cycle = dispatch_idx[-1]
    sign_at = contact_at = reply_at = review_at = None
    response_due = on_time = False
    if cycle is not None:
        end = next((i for i in dispatch_idx if i > cycle), len(events))
        window = events[cycle + 1 : end]
        sign_at = next((e.at for e in window if e.action == Action.sign.value), None)
        contact_at = next((e.at for e in window if e.action == Action.contact.value), None)
        late = any(
            e.action == Action.mark_overdue.value and e.payload.get("stage") in ("sign", "contact")
            for e in window
        )
        response_due = contact_at is not None or late
        deadlines = events[cycle].payload.get("deadlines") or {}
        sign_due, contact_due = _iso(deadlines.get("sign")), _iso(deadlines.get("contact"))
        on_time = (
            sign_at is not None
            and contact_at is not None
            and (sign_due is None or sign_at <= sign_due)
            and (contact_due is None or contact_at <= contact_due)
        )
        if contact_at is not None:
            reply_at = next(
                (e.at for e in window if e.action == Action.reply.value and e.at >= contact_at), None
            )
    else:
        reply_at = next((e.at for e in events if e.action == Action.answer.value), None)
    if reply_at is not None:
        review_at = next((e.at for e in events if e.action == Action.review.value and e.at >= reply_at), None)
    reviews = [e for e in events if e.action == Action.review.value]
    last_review = reviews[-1].payload if reviews else None
    received_at = events[0].at if events else None
    first_dispatch = events[dispatch_idx[0]].at if dispatch_idx else None
    return {
        "status": (state.status or Status.received).value,
        "lead_unit_id": state.lead_unit_id,
        "dispatched": bool(dispatch_idx),
        "response_due": response_due,
        "responded_on_time": bool(on_time and response_due),
        "reviewed": last_review is not None,
        "resolved": bool(last_review and last_review.get("resolved")),
        "satisfied": bool(last_review and int(last_review.get("satisfaction") or 0) >= SATISFIED_MIN),
        "excluded": exclusion if exclusion in EXCLUSION_REASONS else None,
        "returns": state.return_count,
        "reopenings": state.reopen_count,
        "co_handled": bool(state.co_unit_ids) or any(a == Action.co_handle.value for a in actions),
        "extended": any(a == Action.approve_extension.value for a in actions),
        "merged": state.issue_id is not None,
        "overdue_stage": state.overdue_stage,
        "ever_overdue": state.ever_overdue,
        "wait_s": _seconds(received_at, first_dispatch),
        "sign_s": _seconds(events[cycle].at, sign_at) if cycle is not None else None,
        "contact_s": _seconds(sign_at, contact_at),
        "reply_s": _seconds(contact_at, reply_at),
        "review_s": _seconds(reply_at, review_at),
        "event_count": len(events),
    }


def _path_ids(path: str | None) -> list[int | None]:
    ids: list[int | None] = [int(p) for p in (path or "").strip("/").split("/") if p]
    return [*ids, None, None, None, None][:4]


def calendar_keys(received_at: dt.datetime, zone: ZoneInfo) -> tuple[dt.date, dt.date, dt.date]:
    day = received_at.astimezone(zone).date()
    return day, day - dt.timedelta(days=day.weekday()), day.replace(day=1)


def city_zone(timezone: str | None = None) -> ZoneInfo:
    """The city's time zone, which decides a request's received day, week and month: the one given, else the one
    `install` was given, else the app's settings (`Settings.timezone`, read here and nowhere else in facts)."""
    return ZoneInfo(timezone or _installed_timezone or get_settings().timezone)


class Context:
    """What refreshing needs besides the log: unit paths, the area index and the city's time zone."""

    def __init__(self, conn: Connection, timezone: str | None = None) -> None:
        self.conn = conn
        self.zone = city_zone(timezone)
        self._paths: dict[int, str] = {}
        self._index: Any = None

    def prefetch(self, unit_ids: Iterable[int | None]) -> None:
        """Read the paths of these units (one small query) before `path` is asked for them."""
        wanted = {u for u in unit_ids if u is not None and u not in self._paths}
        if wanted:
            self._paths.update(org_queries.unit_paths(self.conn, wanted))

    def path(self, unit_id: int | None) -> str | None:
        if unit_id is None:
            return None
        self.prefetch([unit_id])
        return self._paths.get(unit_id)

    def locate(self, lat: float | None, lon: float | None) -> tuple[int | None, int | None, int | None]:
        if lat is None or lon is None:
            return None, None, None
        if self._index is None:
            with Session(bind=self.conn) as reader:
                self._index = area_index(reader)
        found = self._index.locate(lat, lon)
        return found.district_id, found.street_id, found.community_id


def fact_row(
    request: Any, events: Sequence[Event], exclusion: str | None, ctx: Context, area: tuple[Any, ...] | None
) -> dict[str, Any]:
    derived = derive(events, exclusion)
    day, week, month = calendar_keys(request.received_at, ctx.zone)
    l1, l2, l3, l4 = _path_ids(ctx.path(derived["lead_unit_id"]))
    district, street, community = area if area is not None else ctx.locate(request.lat, request.lon)
    return {
        "request_id": request.id,
        "received_at": request.received_at,
        "received_day": day,
        "received_week": week,
        "received_month": month,
        "channel": request.channel,
        "category_id": request.category_id,
        "lead_l1": l1,
        "lead_l2": l2,
        "lead_l3": l3,
        "lead_l4": l4,
        "area_district_id": district,
        "area_street_id": street,
        "area_community_id": community,
        "lat": request.lat,
        "lon": request.lon,
        "refreshed_at": utcnow(),
        **derived,
    }


def refresh(conn: Connection, request_ids: Iterable[int], ctx: Context | None = None) -> int:
    """Rewrite the facts of these requests from their logs, in the caller's transaction."""
    ids = sorted(set(request_ids))
    ctx = ctx or Context(conn)
    written = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        requests = requests_queries.fact_sources(conn, chunk)
        logs: dict[int, list[Event]] = {}
        for rid, action, at, payload in requests_queries.event_logs(conn, chunk):
            logs.setdefault(rid, []).append(Event(action, at, payload or {}))
        exclusions = dict(
            conn.execute(
                select(MetricExclusion.request_id, MetricExclusion.reason)
                .where(MetricExclusion.request_id.in_(chunk))
                .order_by(MetricExclusion.id)
            ).all()
        )
        rows = [fact_row(r, logs[r.id], exclusions.get(r.id), ctx, None) for r in requests if r.id in logs]
        conn.execute(delete(RequestFact).where(RequestFact.request_id.in_(chunk)))
        if rows:
            conn.execute(insert(RequestFact), rows)
        written += len(rows)
    return written


def refresh_flushed(session: Session, flushed: Iterable[RequestEvent | MetricExclusion]) -> int:
    """Rewrite the facts of the requests whose events or exclusions were just flushed (the after_flush listener).

    A request whose whole log was in this flush (seqs 1..event_count, no exclusion: a request just received) has
    no facts row yet, and its row and events are in memory as they were written: its facts are derived from them
    and inserted, without reading back what was just written (intake's three reads and a delete). The others are
    refreshed from the database."""
    pending: dict[int, list[RequestEvent]] = {}
    excluded: set[int] = set()
    for row in flushed:
        if isinstance(row, RequestEvent):
            pending.setdefault(row.request_id, []).append(row)
        else:
            excluded.add(row.request_id)
    conn = session.connection()
    ctx = Context(conn)
    rows = []
    for request_id, events in pending.items():
        if request_id in excluded:
            continue
        request = requests_queries.held_in_session(session, request_id)
        # Read from the instance's loaded state only: an expired attribute would be loaded by a query here.
        loaded = inspect(request).dict if request is not None else {}
        if any(name not in loaded for name in _FACT_COLUMNS):
            continue
        events.sort(key=lambda e: e.seq)
        if [e.seq for e in events] != list(range(1, loaded["event_count"] + 1)):
            continue
        log = [Event(e.action, e.at, e.payload or {}) for e in events]
        rows.append(fact_row(request, log, None, ctx, None))
    if rows:
        conn.execute(insert(RequestFact), rows)
    written = {row["request_id"] for row in rows}
    return len(rows) + refresh(conn, (set(pending) | excluded) - written, ctx)


# What a request's facts read from its own row (fact_row), and how many events its log holds.
_FACT_COLUMNS = ("id", "received_at", "channel", "category_id", "lat", "lon", "event_count")


def rebuild(engine: Engine, batch: int = 5000, *, timezone: str | None = None) -> int:
    """Recompute every request's facts from the whole log, a batch of requests per transaction (received days in
    `timezone`, by default the settings' one: `city_zone`)."""
    total = 0
    last = 0
    with engine.connect() as reader:
        while True:
            ids = requests_queries.request_ids_after(reader, last, batch)
            if not ids:
                break
            with engine.begin() as conn:
                total += refresh(conn, ids, Context(conn, timezone))
            last = ids[-1]
    return total


# ---------------------------------------------------------------- the session hook (registered at start-up)

_installed_timezone: str | None = None


def after_flush(session: Session, _context: Any) -> None:
    """Keep `request_facts` in step with the log: every flush that appends events (or exclusions) rewrites the
    facts of their requests in the same transaction, except for requests being triaged (the worker refreshes
    them when it is done). A SQLAlchemy `after_flush` listener (`install`)."""
    flushed = [
        obj
        for obj in session.new
        if isinstance(obj, RequestEvent | MetricExclusion) and not _being_triaged(session, obj.request_id)
    ]
    if flushed:
        refresh_flushed(session, flushed)


def _being_triaged(session: Session, request_id: int) -> bool:
    """A request the triage worker has not finished gets its facts from the worker (one refresh when it is done),
    not from intake's transaction. Read from the instance in the session only: no query."""
    request = requests_queries.held_in_session(session, request_id)
    return bool(request is not None and inspect(request).dict.get("triage_pending"))


def install(timezone: str | None = None) -> None:
    """Register `after_flush` on every Session (once: calling it again only sets the time zone). `timezone`
    pins the city's time zone for the facts it writes; without it, the settings' at each flush (`city_zone`)."""
    global _installed_timezone
    _installed_timezone = timezone
    if not sa_event.contains(Session, "after_flush", after_flush):
        sa_event.listen(Session, "after_flush", after_flush)


def uninstall() -> None:
    """Remove what `install` registered (facts are then no longer kept in step with the log)."""
    global _installed_timezone
    _installed_timezone = None
    if sa_event.contains(Session, "after_flush", after_flush):
        sa_event.remove(Session, "after_flush", after_flush)
