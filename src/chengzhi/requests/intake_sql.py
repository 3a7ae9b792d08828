"""Intake's writes in SQLAlchemy Core: the request, its hub, its first event, its outbox row and, for an API call
with an `Idempotency-Key`, the saved response.

The ORM's unit of work was the largest share of an intake's CPU (four INSERT ... RETURNING through the flush
machinery). Here the rows are written by statements built once per process: on PostgreSQL one round trip (a
data-modifying CTE), on SQLite four or five short statements. The saved response is the acknowledgement's JSON
text around the new id (`Saved`): PostgreSQL puts the id in itself, so the record costs no round trip of its own. A tracking number that is taken already (or an external id
imported twice) inserts nothing (`ON CONFLICT DO NOTHING`) and the caller draws again; no savepoint is needed.
The `Request` object the caller built is then attached to the session as a persistent object with the values
written, without reading it back.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Connection, Insert, Table, Text, bindparam, cast, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.expression import Select

from chengzhi.idempotency import IdempotencyRecord
from chengzhi.requests.models import Request, RequestEvent, RequestUnit
from chengzhi.requests.queue import TriageTask

REQUESTS: Table = Request.__table__  # type: ignore[assignment]
EVENTS: Table = RequestEvent.__table__  # type: ignore[assignment]
UNITS: Table = RequestUnit.__table__  # type: ignore[assignment]
QUEUE: Table = TriageTask.__table__  # type: ignore[assignment]
RECORDS: Table = IdempotencyRecord.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Saved:
    """The response to save under an Idempotency-Key with the request: its JSON text is `before` + the new request's
    id + `after`; the record's time is the request's `received_at`."""

    principal: str
    key: str
    fingerprint: str
    status_code: int
    before: str
    after: str


def _columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if not c.primary_key]


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if callable(arg):
        return arg(None)  # SQLAlchemy wraps zero-argument defaults to take a context
    return arg


def row(table: Table, given: dict[str, Any]) -> dict[str, Any]:
    """A whole row: the values given, and the columns' defaults for the rest."""
    return {c.name: given[c.name] if c.name in given else _default(c) for c in _columns(table)}


def values_of(obj: object, table: Table) -> dict[str, Any]:
    """The row an ORM object stands for (its attributes are named as its columns)."""
    return row(table, obj.__dict__)


def _params(prefix: str, table: Table, omit: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        c.name: bindparam(f"{prefix}{c.name}", type_=c.type)
        for c in _columns(table)
        if prefix + c.name not in omit
    }


def _dependent(table: Table, prefix: str, source: Any, omit: frozenset[str]) -> tuple[list[str], Select[Any]]:
    """Columns and SELECT for an INSERT ... SELECT: the new request's id from `source`, the other columns from
    parameters."""
    columns = [c for c in _columns(table) if prefix + c.name not in omit or prefix + c.name in _SAME_TIME]
    values = (source.c.id if c.name == "request_id" else _value(prefix, c, omit) for c in columns)
    return [c.name for c in columns], select(*values)


def _omitted(params: dict[str, Any]) -> frozenset[str]:
    """The parameters left out of the statement: NULL in nullable columns without a server default (the database
    writes NULL there itself), and the times equal to the request's `received_at` (the statement reads that
    parameter instead). psycopg caches the conversion of a statement only up to 50 parameters, and the full
    intake statement has 60: converting it again at every submission cost more than a round trip."""
    now = params.get("r_received_at")
    return frozenset(
        name
        for name, value in params.items()
        if (value is None and name in _NULLABLE)
        or (name in _SAME_TIME and value is not None and value == now)
    )


# Written with the request's own time at intake: one parameter for all of them when they are equal.
_SAME_TIME = frozenset({"e_at", "q_enqueued_at", "q_available_at"})


def _value(prefix: str, column: Column[Any], omit: frozenset[str]) -> Any:
    name = prefix + column.name
    if name in _SAME_TIME and name in omit:
        return bindparam("r_received_at", type_=column.type)
    return bindparam(name, type_=column.type)


_NULLABLE = frozenset(
    prefix + c.name
    for table, prefix in ((REQUESTS, "r_"), (UNITS, "u_"), (EVENTS, "e_"), (QUEUE, "q_"))
    for c in _columns(table)
    if c.nullable and c.server_default is None
)


def _saved_columns(source: Any) -> tuple[list[str], Select[Any]]:
    """The idempotency record: its response is the JSON text with the new id put in by the database."""
    text = bindparam("k_before", type_=Text) + cast(source.c.id, Text) + bindparam("k_after", type_=Text)
    values = {
        "principal": bindparam("k_principal", type_=RECORDS.c.principal.type),
        "key": bindparam("k_key", type_=RECORDS.c.key.type),
        "fingerprint": bindparam("k_fingerprint", type_=RECORDS.c.fingerprint.type),
        "status_code": bindparam("k_status_code", type_=RECORDS.c.status_code.type),
        "response": cast(text, JSON),
        "created_at": bindparam("r_received_at", type_=RECORDS.c.created_at.type),
    }
    return list(values), select(*values.values())


@functools.lru_cache(maxsize=128)
def _postgresql_statement(omit: frozenset[str] = frozenset(), saved: bool = False) -> Any:
    new = (
        postgresql.insert(REQUESTS)
        .values(_params("r_", REQUESTS, omit))
        .on_conflict_do_nothing()
        .returning(REQUESTS.c.id)
        .cte("new_request")
    )
    ctes = []
    for table, prefix, name in ((UNITS, "u_", "hub"), (EVENTS, "e_", "receive"), (QUEUE, "q_", "outbox")):
        columns, rows = _dependent(table, prefix, new, omit)
        ctes.append(insert(table).from_select(columns, rows).cte(name))
    if saved:
        columns, rows = _saved_columns(new)
        ctes.append(insert(RECORDS).from_select(columns, rows).cte("saved"))
    return select(new.c.id).add_cte(*ctes)


_SQLITE_SAVED = insert(RECORDS).values(
    principal=bindparam("k_principal"),
    key=bindparam("k_key"),
    fingerprint=bindparam("k_fingerprint"),
    status_code=bindparam("k_status_code"),
    response=bindparam(
        "k_text", type_=Text
    ),  # the JSON text as it is (SQLite's CAST AS JSON would make a number)
    created_at=bindparam("r_received_at", type_=RECORDS.c.created_at.type),
)


@functools.cache
def _sqlite_statements() -> tuple[Insert, Insert, Insert, Insert]:
    request = (
        sqlite.insert(REQUESTS)
        .values(_params("r_", REQUESTS))
        .on_conflict_do_nothing()
        .returning(REQUESTS.c.id)
    )
    rest = tuple(
        insert(table).values(
            {
                c.name: bindparam("request_id" if c.name == "request_id" else p + c.name, type_=c.type)
                for c in _columns(table)
            }
        )
        for table, p in ((UNITS, "u_"), (EVENTS, "e_"), (QUEUE, "q_"))
    )
    return (request, *rest)  # type: ignore[return-value]


def insert_new(
    connection: Connection,
    request: dict[str, Any],
    hub: dict[str, Any],
    event: dict[str, Any],
    outbox: dict[str, Any],
    saved: Saved | None = None,
) -> int | None:
    """Writes the four rows (five with `saved`); returns the new request's id, or None when the tracking number or
    the external id was taken (nothing written). A key saved before raises IntegrityError."""
    params = {
        **{f"r_{k}": v for k, v in request.items()},
        **{f"u_{k}": v for k, v in hub.items()},
        **{f"e_{k}": v for k, v in event.items()},
        **{f"q_{k}": v for k, v in outbox.items()},
    }
    if saved is not None:
        params |= {
            "k_principal": saved.principal,
            "k_key": saved.key,
            "k_fingerprint": saved.fingerprint,
            "k_status_code": saved.status_code,
        }
    if connection.dialect.name == "postgresql":
        omit = _omitted(params)
        for name in omit:
            del params[name]
        if saved is not None:
            params |= {"k_before": saved.before, "k_after": saved.after}
        return connection.execute(_postgresql_statement(omit, saved is not None), params).scalar()
    first, units, events, queue = _sqlite_statements()
    new_id = connection.execute(first, params).scalar()
    if new_id is None:
        return None
    params["request_id"] = new_id
    for statement in (units, events, queue):
        connection.execute(statement, params)
    if saved is not None:
        params["k_text"] = f"{saved.before}{new_id}{saved.after}"
        connection.execute(_SQLITE_SAVED, params)
    return int(new_id)


def attach(session: Session, obj: object, new_id: int) -> None:
    """Makes `obj` (written with Core) the session's persistent object for its row, as if just loaded."""
    obj.id = new_id  # type: ignore[attr-defined]
    make_transient_to_detached(obj)
    session.add(obj)
