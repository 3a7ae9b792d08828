"""Process caches of rows that rarely change, kept true across processes by generation counters.

Every API call used to read the same few rows again: the caller's token with its roles, the category named, the
city's hub unit. They change a few times a day. Here each process keeps them in memory, and the database keeps one
counter per kind of row (`cache_generations`): triggers (migration 0036) add one to the counter in the same
transaction as any INSERT, UPDATE, DELETE or TRUNCATE of the tables behind it, whoever writes them (the services,
the CLI, an administrator's SQL). A process reads all the counters in one small query, at most once per
`check_seconds` (the setting `cache_check_seconds`, 1 s by default; 0 reads them on every use), and forgets a
cache whose counter moved. So a revoked token, a withdrawn role or an edited category takes effect everywhere
within that interval, in every process, with no broker.

Generations: "auth" (api_tokens, users, role_assignments, units: what an actor is made of), "categories"
(categories), "units" (units).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import BigInteger, Column, String, Table, inspect, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from chengzhi.db import Base

GENERATIONS = ("auth", "categories", "units")
# Which tables move which generation (migration 0036 installs the triggers from this table).
WATCHED: dict[str, tuple[str, ...]] = {
    "api_tokens": ("auth",),
    "users": ("auth",),
    "role_assignments": ("auth",),
    "units": ("auth", "units"),
    "categories": ("categories",),
}

cache_generations = Table(
    "cache_generations",
    Base.metadata,
    Column("name", String(40), primary_key=True),
    Column("generation", BigInteger, nullable=False, default=0),
)

_READ = select(cache_generations.c.name, cache_generations.c.generation)

T = TypeVar("T")


class _Clock:
    """The counters of one database as last read, and when."""

    __slots__ = ("read_at", "values")

    def __init__(self) -> None:
        self.read_at = float("-inf")
        self.values: dict[str, int] = {}


_check_seconds = 1.0
_clocks: dict[URL, _Clock] = {}
_lock = threading.Lock()


def configure(check_seconds: float) -> None:
    """How stale a cache may be in a process that did not make the change (`cache_check_seconds`)."""
    global _check_seconds
    _check_seconds = max(0.0, float(check_seconds))


def current(session: Session, name: str) -> int:
    """The generation `name` of the session's database, read again when the last reading is older than allowed."""
    key = session.get_bind().engine.url
    clock = _clocks.get(key)
    if clock is None:
        with _lock:
            clock = _clocks.setdefault(key, _Clock())
    now = time.monotonic()
    if now - clock.read_at >= _check_seconds:
        values = {row.name: int(row.generation) for row in session.connection().execute(_READ)}
        clock.values, clock.read_at = values, now
    return clock.values.get(name, 0)


class GenerationCache(Generic[T]):
    """A bounded map of values (the oldest dropped first) valid for one generation of one database."""

    def __init__(self, generation: str, maxsize: int = 10_000) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"unknown generation {generation!r}")
        self.generation = generation
        self.maxsize = maxsize
        self._entries: dict[URL, tuple[int, OrderedDict[Hashable, T]]] = {}
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value of `key`, or `load()`'s (cached for this generation). `load` may raise: nothing is
        cached then."""
        database = session.get_bind().engine.url
        generation = current(session, self.generation)
        entry = self._entries.get(database)
        if entry is not None and entry[0] == generation:
            values = entry[1]
            try:
                value = values[key]
            except KeyError:
                pass
            else:
                return value
        value = load()
        with self._lock:
            entry = self._entries.get(database)
            if entry is None or entry[0] != generation:
                entry = (generation, OrderedDict())
                self._entries[database] = entry
            values = entry[1]
            values[key] = value
            if len(values) > self.maxsize:
                values.popitem(last=False)
        return value

    def holds(self, session: Session, key: Hashable) -> bool:
        """Whether `get(key)` would answer from memory now (to load the missing keys of a batch in one query)."""
        entry = self._entries.get(session.get_bind().engine.url)
        return entry is not None and entry[0] == current(session, self.generation) and key in entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_ALL: list[GenerationCache[Any]] = []


def reset() -> None:
    """Forget every cached value and counter (tests; `chengzhi.caches.reset_caches`)."""
    for cache in _ALL:
        cache.clear()
    _clocks.clear()


def detached_copy(obj: T) -> T:
    """A copy of a loaded ORM object that belongs to no session (its loaded columns only), to be cached and handed
    to each session with `attach_copy`."""
    state = inspect(obj)
    mapper = state.mapper
    copy = mapper.class_manager.new_instance()
    loaded = state.dict
    for attribute in mapper.column_attrs:
        if attribute.key in loaded:
            set_committed_value(copy, attribute.key, loaded[attribute.key])
    make_transient_to_detached(copy)
    return copy  # type: ignore[no-any-return]


def attach_copy(session: Session, copy: T) -> T:
    """The session's own persistent instance of a cached copy, without a query (`Session.merge(load=False)`)."""
    return session.merge(copy, load=False)


def cached_copy(cache: GenerationCache[Any], session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """The cached detached copy of the row `load()` finds: shared by every thread, so only ever read (never
    changed, never added to a session). Cheaper than `cached_row` where nothing needs the session's own object."""
    return cache.get(session, key, lambda: detached_copy(load()))  # type: ignore[no-any-return]


def cached_row(cache: GenerationCache[Any], session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """The row `load()` finds, read once per generation and then given to each session from memory."""
    return attach_copy(session, cached_copy(cache, session, key, load))
