"""Engine, sessions and the declarative base; nothing domain-specific."""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    MetaData,
    and_,
    create_engine,
    event,
    true,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator

from chengzhi.config import get_settings

# The largest id a client may name: primary keys are 32-bit INTEGER columns on PostgreSQL.
MAX_ID = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes stored in UTC on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite begins transactions only before INSERT/UPDATE/DELETE, so a SAVEPOINT issued first opened (and its
    # RELEASE committed) a transaction of its own: a later rollback left half a unit of work behind. SQLAlchemy
    # emits BEGIN itself instead (see _sqlite_begin), as its documentation recommends.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Sessions that will write ask for BEGIN IMMEDIATE (deps.get_session): the write lock is then awaited at
    # BEGIN (busy_timeout), instead of a later write failing at once with "database is locked".
    immediate = connection.get_execution_options().get("sqlite_begin_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class FairGate:
    """A reentrant lock that lets waiting threads in in the order they came. A `threading.Lock` wakes whichever
    waiter the scheduler runs first, and the thread that has just released it (the triage worker between two
    batches, say) usually takes it again before the woken one runs: a writer in a loop starved the others."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[tuple[int, threading.Lock]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None:
                self._owner, self._depth = me, 1
                return
            ticket = threading.Lock()
            ticket.acquire()
            self._waiting.append((me, ticket))
        ticket.acquire()  # released by `release`, which has made this thread the owner already

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a gate this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner, ticket = self._waiting.popleft()
                self._depth = 1
                ticket.release()
            else:
                self._owner = None

    def waiting(self) -> int:
        """How many threads wait for the gate."""
        return len(self._waiting)

    def __enter__(self) -> FairGate:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


@lru_cache(maxsize=32)
def sqlite_write_gate(database: str | None) -> FairGate:
    """One gate per SQLite database in this process, taken by its busiest writers (intake, the triage worker's
    batches, the emergency lane) around their write transactions: they queue here, first come first served, and the
    next one runs as soon as the gate is free. Left to SQLite's busy handler, waiting writers poll, and this SQLite
    build (no usleep) sleeps whole seconds between polls, which made a submission's p99 several seconds under 32
    concurrent clients."""
    return FairGate()


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Statement parameters hold personal data (phones, names): keep them out of error messages and logs.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # A ping costs a round trip per checkout (one per API call); without it a connection the server dropped fails
    # the statement that finds it, and SQLAlchemy then replaces every pooled connection older than the failure.
    # Recycling bounds a connection's age (idle timeouts of the server, proxies and firewalls).
    settings = get_settings()
    kwargs.setdefault("pool_pre_ping", settings.database_pool_pre_ping)
    kwargs.setdefault("pool_recycle", settings.database_pool_recycle_seconds)
    return create_engine(url, **kwargs)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    return make_engine(url)


@lru_cache(maxsize=8)
def autocommit_engine(url: str) -> Engine:
    """The engine of `url` (its pool) with every statement committed by itself: a single statement that writes
    all it must is then one round trip, without BEGIN and COMMIT of their own."""
    return get_engine(url).execution_options(isolation_level="AUTOCOMMIT")


@lru_cache(maxsize=8)
def get_sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


class PathPrefix(ColumnElement[bool]):
    """`column` starts with `prefix` (a materialised unit path such as "/1/4/"), in a form each database can
    answer from an index: SQLite's LIKE is case-insensitive and so never uses a plain index, but its default
    binary collation orders strings byte by byte, so the prefix is also a range. PostgreSQL keeps LIKE (a range
    would be wrong under a locale collation, which ignores punctuation)."""

    inherit_cache = True
    type = Boolean()

    def __init__(self, column: ColumnElement[str], prefix: str) -> None:
        self.column = column
        self.prefix = prefix


@compiles(PathPrefix)
def _prefix_default(element: PathPrefix, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.startswith(element.prefix), **kw)


@compiles(PathPrefix, "sqlite")
def _prefix_sqlite(element: PathPrefix, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = element.prefix
    if not prefix:
        return compiler.process(true(), **kw)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    clause = and_(element.column >= prefix, element.column < upper)
    return compiler.process(clause, **kw)


def path_prefix(column: ColumnElement[str] | InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    return PathPrefix(column, prefix)  # type: ignore[arg-type]
