"""The requests domain's read API for other domains: what they may know of requests without reading its tables.

Other domains (routing, metrics, open311, jobs, the admin pages) call these functions instead of querying
`requests`, `request_events`, `request_units`, ... themselves; tests/test_architecture.py keeps it so.
Sections are by caller, so that each caller's needs stay visible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    FromClause,
    Integer,
    Row,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.orm.util import identity_key

from chengzhi.requests.models import Photo, Request, RequestEvent
from chengzhi.requests.people import PersonRequest as PersonRequest
from chengzhi.requests.people import caller_history as caller_history
from chengzhi.requests.people import linked_requests as linked_requests
from chengzhi.requests.people import person_rows as person_rows
from chengzhi.requests.people import phone_digits as phone_digits
from chengzhi.requests.public import PublicIssue as PublicIssue
from chengzhi.requests.public import public_card as public_card
from chengzhi.requests.public import public_issue as public_issue
from chengzhi.requests.public import public_title as public_title
from chengzhi.requests.workflow import STAGE_OF_STATUS, Action, Status

# ---------------------------------------------------------------- for the requests domain's own pages and API


# ---------------------------------------------------------------- for routing


def open_ranked_requests(
    ranked: Subquery,
    columns: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    outer: Sequence[tuple[FromClause, ColumnElement[int] | QueryableAttribute[int]]],
) -> Select[Any]:
    """The rows of requests that are not closed among those of `ranked`, for the duplicates search (routing's
    `candidate_query` builds `ranked` from its index and calls this once per database kind).

    `ranked`: a subquery with `request_id` and `hits` columns (and any others, carried through). Of its rows, the
    `:candidates` first (most hits, then newest) whose request is not closed are kept, by index-only probes of
    requests' (status, id) index; the result has `ranked`'s other columns, the request's columns shown of a
    candidate, and `columns` of the tables in `outer` (table, its request id column), outer-joined on the request.
    Parameters: `:candidates` (and `:closed`, bound to the closed status)."""
    closed = Request.__table__.alias("closed_request")
    is_closed = (
        select(closed.c.id)
        .where(
            closed.c.status == bindparam("closed", Status.closed.value), closed.c.id == ranked.c.request_id
        )
        .exists()
    )
    top = (
        select(*ranked.c)
        .where(~is_closed)
        .order_by(ranked.c.hits.desc(), ranked.c.request_id.desc())
        .limit(bindparam("candidates", type_=Integer))
        .subquery("top")
    )
    query = select(
        *(column for column in top.c if column.key != "request_id"),
        Request.id,
        Request.tracking_number,
        Request.title,
        Request.status,
        Request.category_id,
        Request.received_at,
        Request.external_id,
        Request.lat,
        Request.lon,
        Request.issue_id,
        *columns,
    ).select_from(top)
    query = query.join(Request, Request.id == top.c.request_id)
    for table, request_id in outer:
        query = query.outerjoin(table, request_id == top.c.request_id)
    return query.where(Request.status != bindparam("closed", Status.closed.value))


def outside_issue(issue_id: int) -> ColumnElement[bool]:
    """For a query on requests: those that are not part of issue `issue_id`."""
    return or_(Request.issue_id.is_(None), Request.issue_id != issue_id)


def issue_sizes(session: Session, issue_ids: Sequence[int]) -> dict[int, int]:
    """issue id -> how many requests it holds."""
    if not issue_ids:
        return {}
    query = (
        select(Request.issue_id, func.count())
        .where(Request.issue_id.in_(issue_ids))
        .group_by(Request.issue_id)
    )
    return {int(i): int(n) for i, n in session.execute(query) if i is not None}


def open_requests_after(session: Session, after_id: int, limit: int) -> list[Request]:
    """The next `limit` requests that are not closed, by id after `after_id` (rebuilding the duplicates index)."""
    return list(
        session.scalars(
            select(Request)
            .where(Request.id > after_id, Request.status != Status.closed.value)
            .order_by(Request.id)
            .limit(limit)
        )
    )


def requests_changed(
    session: Session, cursor: tuple[dt.datetime, int] | None, before: dt.datetime, limit: int
) -> list[Row[int, str, dt.datetime]]:
    """(id, status, updated_at) of the requests changed after `cursor` (updated_at, id) and before `before`, at most
    `limit`, oldest first (keeping the duplicates index to open requests)."""
    query = (
        select(Request.id, Request.status, Request.updated_at)
        .where(Request.updated_at < before)
        .order_by(Request.updated_at, Request.id)
        .limit(limit)
    )
    if cursor is not None:
        at, last = cursor
        query = query.where(or_(Request.updated_at > at, and_(Request.updated_at == at, Request.id > last)))
    return list(session.execute(query).all())


def requests_by_ids(session: Session, ids: Sequence[int]) -> list[Request]:
    return list(session.scalars(select(Request).where(Request.id.in_(ids))))


def located_texts(
    session: Session, limit: int
) -> Iterable[Row[str, str, str | None, float | None, float | None]]:
    """(title, text, address, lat, lon) of the `limit` newest requests with a map point, read in batches (learning
    place names)."""
    query = (
        select(Request.title, Request.text, Request.address, Request.lat, Request.lon)
        .where(Request.lat.is_not(None), Request.lon.is_not(None))
        .order_by(Request.id.desc())
        .limit(limit)
        .execution_options(yield_per=2000)
    )
    return session.execute(query)


def recent_addresses(session: Session, limit: int) -> Iterable[str | None]:
    """The addresses of the `limit` newest requests that have one (the city's dictionary of road names)."""
    return session.scalars(
        select(Request.address).where(Request.address.is_not(None)).order_by(Request.id.desc()).limit(limit)
    )


def newest_categorised(session: Session, limit: int) -> list[Row[int, str, str, int | None, dt.datetime]]:
    """(id, title, text, category_id, received_at) of the `limit` newest requests with a category, newest first
    (training the category classifier)."""
    query = (
        select(Request.id, Request.title, Request.text, Request.category_id, Request.received_at)
        .where(Request.category_id.is_not(None))
        .order_by(Request.id.desc())
        .limit(limit)
    )
    return list(session.execute(query).all())


def automatic_dispatches(session: Session, request_ids: Sequence[int]) -> list[Row[int, dict[str, Any]]]:
    """(request id, payload) of the dispatches of `request_ids` made by no person (automatic dispatch)."""
    query = select(RequestEvent.request_id, RequestEvent.payload).where(
        RequestEvent.request_id.in_(request_ids),
        RequestEvent.action == Action.dispatch.value,
        RequestEvent.actor_id.is_(None),
    )
    return list(session.execute(query).all())


# ---------------------------------------------------------------- for metrics


def fact_sources(conn: Connection, request_ids: Sequence[int]) -> Sequence[Any]:
    """What a request's facts take from its own row: (id, received_at, channel, category_id, lat, lon)."""
    return conn.execute(
        select(
            Request.id,
            Request.received_at,
            Request.channel,
            Request.category_id,
            Request.lat,
            Request.lon,
        ).where(Request.id.in_(request_ids))
    ).all()


def event_logs(conn: Connection, request_ids: Sequence[int]) -> Iterator[Any]:
    """The event logs of these requests: (request_id, action, at, payload) by request, in log order."""
    return iter(
        conn.execute(
            select(RequestEvent.request_id, RequestEvent.action, RequestEvent.at, RequestEvent.payload)
            .where(RequestEvent.request_id.in_(request_ids))
            .order_by(RequestEvent.request_id, RequestEvent.seq)
        )
    )


def request_ids_after(conn: Connection, after: int, limit: int) -> list[int]:
    """The next `limit` request ids above `after`, ascending (keyset over every request)."""
    query = select(Request.id).where(Request.id > after).order_by(Request.id).limit(limit)
    return list(conn.execute(query).scalars())


def held_in_session(session: Session, request_id: int) -> Request | None:
    """The request if this session already holds it (its identity map), without a query; else None."""
    found = session.identity_map.get(identity_key(Request, request_id))
    return found if isinstance(found, Request) else None


_SUMMARY_COLUMNS = (
    Request.id,
    Request.tracking_number,
    Request.title,
    Request.status,
    Request.channel,
    Request.received_at,
    Request.lead_unit_id,
    Request.category_id,
    Request.overdue_stage,
)


def summaries(session: Session, request_ids: Sequence[int]) -> list[Any]:
    """A line per request for lists, in the order of `request_ids` (ids without a request are left out):
    id, tracking_number, title, status, channel, received_at, lead_unit_id, category_id, overdue_stage."""
    if not request_ids:
        return []
    query = select(*_SUMMARY_COLUMNS).where(Request.id.in_(request_ids))
    found = {row.id: row for row in session.execute(query)}
    return [found[i] for i in request_ids if i in found]


def summary_page(session: Session, chosen: Select[Any], before: int | None, limit: int) -> list[Any]:
    """`summaries` of the requests whose ids `chosen` selects (one column: another domain's selection, e.g. a
    metrics figure's request_facts rows), newest id first, at most `limit`, below `before` (keyset pages).

    One statement: `chosen` is joined as a subquery, which both databases flatten into a join walked down the
    primary keys, whatever the parameters (a separate id query plans worse once PostgreSQL caches a generic plan)."""
    ids = chosen.subquery()
    query = select(*_SUMMARY_COLUMNS).join(ids, ids.c[0] == Request.id)
    if before is not None:
        query = query.where(Request.id < before)
    return list(session.execute(query.order_by(Request.id.desc()).limit(limit)).all())


def tracking_numbers(session: Session, request_ids: Sequence[int]) -> dict[int, str]:
    """Request id -> tracking number (ids without a request are left out)."""
    if not request_ids:
        return {}
    query = select(Request.id, Request.tracking_number).where(Request.id.in_(request_ids))
    return dict(session.execute(query).all())


# ---------------------------------------------------------------- for open311


def _raw(column: Any) -> Any:
    """A datetime column read as the driver gives it (the UTC type's per-value conversion is skipped: the
    values are converted once, for output, by `open311.formats.when`)."""
    return type_coerce(column, DateTime(timezone=True)).label(column.key)


# The published file name (`<public key>.<ext>`) of each request's first published photo, read in the same query
# (an index lookup per row); private photos are never listed.
_EXTENSION = case(
    (Photo.content_type == "image/png", "png"), (Photo.content_type == "image/webp", "webp"), else_="jpg"
)
_FIRST_PHOTO = (
    select(Photo.public_key + "." + _EXTENSION)
    .where(Photo.request_id == Request.id, Photo.public.is_(True))
    .order_by(Photo.id)
    .limit(1)
    .correlate(Request)
    .scalar_subquery()
)
# What an Open311 request item shows, and no more (the list reads only these columns).
_OPEN311_COLUMNS = (
    Request.id,
    Request.tracking_number,
    Request.status,
    Request.text,
    Request.category_id,
    Request.lead_unit_id,
    Request.receiving_unit_id,
    _raw(Request.received_at),
    _raw(Request.updated_at),
    _raw(Request.due_at),
    Request.address,
    Request.lat,
    Request.lon,
    _FIRST_PHOTO.label("photo_name"),
)


def open311_list(
    session: Session,
    *,
    numbers: Sequence[str] | None = None,
    received_from: dt.datetime | None = None,
    received_to: dt.datetime | None = None,
    category_ids: Sequence[int] | None = None,
    statuses: Sequence[str] | None = None,
    limit: int,
    offset: int = 0,
) -> Sequence[Any]:
    """One page of the public Open311 list, newest first, in one query: the requests with these tracking
    numbers (which override every other filter), else those received in the window, of these categories and
    statuses. Each row holds the columns an item shows (times as the driver gives them) and `photo_name`, the
    published file of its first published photo (None if none is published)."""
    query = select(*_OPEN311_COLUMNS)
    if numbers is not None:
        query = query.where(Request.tracking_number.in_(numbers))
    else:
        if received_from is not None:
            query = query.where(Request.received_at >= received_from)
        if received_to is not None:
            query = query.where(Request.received_at <= received_to)
        if category_ids is not None:
            query = query.where(Request.category_id.in_(category_ids))
        if statuses is not None:
            query = query.where(Request.status.in_(statuses))
    query = query.order_by(Request.received_at.desc(), Request.id.desc()).limit(limit).offset(offset)
    return session.execute(query).all()


def open311_item(session: Session, number: str) -> Sequence[Any]:
    """The request with this tracking number, as `open311_list` reads it (no row: none)."""
    return session.execute(select(*_OPEN311_COLUMNS).where(Request.tracking_number == number)).all()


def open311_timelines(session: Session, ids: Sequence[int], actions: Sequence[str]) -> Sequence[Any]:
    """The events of these kinds of these requests (request_id, action, at, note), in order per request."""
    query = (
        select(RequestEvent.request_id, RequestEvent.action, RequestEvent.at, RequestEvent.note)
        .where(RequestEvent.request_id.in_(ids), RequestEvent.action.in_(actions))
        .order_by(RequestEvent.request_id, RequestEvent.seq)
    )
    return session.execute(query).all()


def open311_events(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    actions: Sequence[str],
    *,
    limit: int,
    offset: int = 0,
) -> Sequence[Any]:
    """One page of the events of these kinds in the window, oldest first (id, action, at, note, payload and the
    request's tracking_number and lead_unit_id)."""
    query = (
        select(
            RequestEvent.id,
            RequestEvent.action,
            RequestEvent.at,
            RequestEvent.note,
            RequestEvent.payload,
            Request.tracking_number,
            Request.lead_unit_id,
        )
        .join(Request, Request.id == RequestEvent.request_id)
        .where(RequestEvent.at >= start, RequestEvent.at <= end, RequestEvent.action.in_(actions))
        .order_by(RequestEvent.at, RequestEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return session.execute(query).all()


def tracking_number_of(session: Session, request_id: int) -> str | None:
    return session.scalar(select(Request.tracking_number).where(Request.id == request_id))


def request_row(session: Session, request_id: int) -> Request | None:
    """The request by id, with no access check (the caller has its own: a key's unit, a delivery)."""
    return session.get(Request, request_id)


def request_for_update(
    session: Session, *, request_id: int | None = None, number: str | None = None
) -> Request | None:
    """The request by id or tracking number, its row locked until the transaction ends (no access check)."""
    where = Request.id == request_id if number is None else Request.tracking_number == number
    return session.scalar(select(Request).where(where).with_for_update(of=Request))


def latest_dispatch_id(session: Session, request_id: int) -> int | None:
    """The id of the request's latest dispatch event."""
    return session.scalar(
        select(RequestEvent.id)
        .where(RequestEvent.request_id == request_id, RequestEvent.action == "dispatch")
        .order_by(RequestEvent.seq.desc())
        .limit(1)
    )


# ---------------------------------------------------------------- for knowledge


def intake_answers(session: Session, since: dt.datetime, category_ids: Sequence[int]) -> tuple[int, int]:
    """(requests answered at intake, consultations) received since `since`: consultations are the requests
    answered at intake and those in the given categories (the knowledge base's)."""
    answered = func.sum(case((Request.answered_at_intake.is_(True), 1), else_=0))
    covered = or_(Request.answered_at_intake.is_(True), Request.category_id.in_(list(category_ids) or [-1]))
    row = session.execute(
        select(answered, func.count(Request.id)).where(Request.received_at >= since, covered)
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


# ---------------------------------------------------------------- for jobs, imports and the admin pages


def overdue_batch(session: Session, now: dt.datetime, limit: int) -> list[Request]:
    """Up to `limit` requests in a stage with a deadline (`STAGE_OF_STATUS`) whose deadline is before `now` and not yet marked overdue, the
    earliest deadline first; on PostgreSQL locked for update, passing over rows another process holds."""
    statuses = [s.value for s in STAGE_OF_STATUS]
    query = (
        select(Request)
        .where(Request.status.in_(statuses), Request.due_at < now, Request.overdue_stage.is_(None))
        .order_by(Request.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Request)
    return list(session.scalars(query))


def external_ids_present(session: Session, source: str, external_ids: list[str]) -> set[str]:
    """Which of these external ids of `source` were imported already."""
    query = select(Request.external_id).where(Request.source == source, Request.external_id.in_(external_ids))
    return {i for i in session.scalars(query) if i is not None}


def category_ids_of(session: Session, request_ids: Sequence[int]) -> dict[int, int | None]:
    """Each request's current (final) category: what the models page compares suggestions with."""
    if not request_ids:
        return {}
    query = select(Request.id, Request.category_id).where(Request.id.in_(sorted(set(request_ids))))
    return {int(rid): cid for rid, cid in session.execute(query)}


# ---------------------------------------------------------------- for warning (hot issues)


def texts_received_since(session: Session, since: dt.datetime, limit: int) -> list[Any]:
    """(id, title, text, received_at, submitter_id, contact_phone, support_count, lead_unit_id, receiving_unit_id,
    lat, lon) of the `limit` newest requests received since `since`, oldest first (the hot issues' recomputation)."""
    query = (
        select(
            Request.id,
            Request.title,
            Request.text,
            Request.received_at,
            Request.submitter_id,
            Request.contact_phone,
            Request.support_count,
            Request.lead_unit_id,
            Request.receiving_unit_id,
            Request.lat,
            Request.lon,
        )
        .where(Request.received_at >= since)
        .order_by(Request.received_at.desc(), Request.id.desc())
        .limit(limit)
    )
    rows: list[Any] = list(session.execute(query).all())
    rows.reverse()
    return rows


# ---------------------------------------------------------------- for identity (a resident's own space)


def _digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


def requests_of_person(
    session: Session,
    user_id: int,
    phone: str | None,
    email: str | None,
    limit: int = 500,
    linked_ids: Collection[int] = (),
) -> list[Request]:
    """Everything a person submitted, through any channel: under their account, or under their verified phone
    number (phone calls, anonymous web reports) or e-mail address, or linked to them by another domain's proof
    (`linked_ids`: Open311 requests of their linked app accounts), newest first."""
    linked = set(linked_ids)
    conditions: list[ColumnElement[bool]] = [Request.submitter_id == user_id]
    if linked:
        conditions.append(Request.id.in_(sorted(linked)))
    if phone and len(_digits(phone)) >= 4:
        conditions.append(Request.phone_last4 == _digits(phone)[-4:])
    if email:
        conditions.append(Request.contact_email == email)
    rows = session.scalars(
        select(Request).where(or_(*conditions)).order_by(Request.id.desc()).limit(limit * 4)
    )
    wanted = _digits(phone)[-11:] if phone else None
    mine = [
        r
        for r in rows
        if r.submitter_id == user_id
        or r.id in linked
        or (wanted and _digits(r.contact_phone)[-11:] == wanted)
        or (email and r.contact_email == email)
    ]
    return mine[:limit]


def timelines_of(session: Session, request_ids: Sequence[int]) -> dict[int, list[tuple[str, dt.datetime]]]:
    """(action, time) of each request's events, in order."""
    found: dict[int, list[tuple[str, dt.datetime]]] = {i: [] for i in request_ids}
    if not request_ids:
        return found
    rows = session.execute(
        select(RequestEvent.request_id, RequestEvent.action, RequestEvent.at)
        .where(RequestEvent.request_id.in_(list(request_ids)))
        .order_by(RequestEvent.request_id, RequestEvent.seq)
    )
    for request_id, action, at in rows:
        found[request_id].append((str(action), at))
    return found


# ---------------------------------------------------------------- for participate and the phone intake
# An issue's public card (participate's issue page) and one person's requests across channels (people.py):
# imported above as re-exports.


def category_request_ids(
    session: Session, category_id: int, start: dt.datetime, end: dt.datetime, limit: int
) -> list[int]:
    """A focus topic's requests: those of its category received in [start, end), newest first."""
    query = (
        select(Request.id)
        .where(Request.category_id == category_id, Request.received_at >= start, Request.received_at < end)
        .order_by(Request.received_at.desc(), Request.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


# ---------------------------------------------------------------- for notify and webhooks


def requests_for_messages(session: Session, request_ids: Collection[int]) -> dict[int, Request]:
    """The requests a flush's new events are about: those the session holds without a query, the rest read (the
    caller runs inside a flush, with autoflush off)."""
    found: dict[int, Request] = {}
    missing = []
    for request_id in set(request_ids):
        held = held_in_session(session, request_id)
        if held is not None:
            found[request_id] = held
        else:
            missing.append(request_id)
    if missing:
        found.update({r.id: r for r in session.scalars(select(Request).where(Request.id.in_(missing)))})
    return found


def request_by_number(session: Session, tracking_number: str) -> Request | None:
    """For e-mail intake: the request a reply quotes (the caller checks the sender is its resident)."""
    return session.scalar(select(Request).where(Request.tracking_number == tracking_number))


def statuses(session: Session, request_ids: Collection[int]) -> dict[int, str]:
    """Request id -> its current status."""
    if not request_ids:
        return {}
    return dict(session.execute(select(Request.id, Request.status).where(Request.id.in_(request_ids))).all())
