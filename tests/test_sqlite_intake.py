"""SQLite's one writer: the write gate lets writers in in the order they came (db.FairGate), and the API's
submissions are written by intake's own thread, one after another (requests/api.py `IntakeThread`), while
PostgreSQL's go through the thread pool."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import FairGate, get_engine
from chengzhi.requests.api import IntakeThread
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City
from .steps import POINTS

LON, LAT = POINTS["D1S1C1"]


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_gate_lets_writers_in_in_the_order_they_came() -> None:
    gate = FairGate()
    order: list[int] = []

    def writer(n: int) -> None:
        with gate:
            order.append(n)

    gate.acquire()
    threads = []
    for n in range(8):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        _wait_for(lambda n=n: gate.waiting() == n + 1)
    # The holder leaves and comes straight back: it queues behind those who waited.
    gate.release()
    writer(99)
    for thread in threads:
        thread.join()
    assert order == [*range(8), 99]
    assert gate.waiting() == 0


def test_the_gate_is_reentrant_and_refuses_a_stranger_s_release() -> None:
    gate = FairGate()
    with gate, gate:
        errors: list[BaseException] = []

        def stranger() -> None:
            try:
                gate.release()
            except RuntimeError as exc:
                errors.append(exc)

        thread = threading.Thread(target=stranger)
        thread.start()
        thread.join()
        assert len(errors) == 1
    got = threading.Event()

    def other() -> None:
        with gate:
            got.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(5)
    assert got.is_set()


def test_intake_s_thread_runs_calls_in_order_and_ends_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IntakeThread, "IDLE_SECONDS", 0.05)
    writer = IntakeThread()
    seen: list[tuple[int, str]] = []

    def call(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        if n == 3:
            raise ValueError("three")
        return n * 10

    async def main() -> list[Any]:
        return await asyncio.gather(*(writer.run(call, n) for n in range(6)), return_exceptions=True)

    results = asyncio.run(main())
    assert results[:3] == [0, 10, 20] and isinstance(results[3], ValueError) and results[4:] == [40, 50]
    assert [n for n, _ in seen] == list(range(6))
    assert {name for _, name in seen} == {"chengzhi-intake"}
    _wait_for(lambda: not any(t.name == "chengzhi-intake" for t in threading.enumerate()))
    assert asyncio.run(main())[5] == 50  # and starts again


def test_concurrent_submissions_are_written_by_one_thread_on_sqlite(
    settings: Settings, city: City, session: Session
) -> None:
    app = create_app(settings)
    engine = get_engine(settings.database_url)
    writers: set[str] = set()

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "INSERT INTO requests" in statement:
            writers.add(threading.current_thread().name)

    with TestClient(app) as client:
        headers = auth(client, "operator")

    async def submit_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = {"text": "路面塌陷", "channel": "phone", "lat": LAT, "lon": LON}
            answers = await asyncio.gather(
                *(http.post("/api/v1/requests", json=body, headers=headers) for _ in range(16))
            )
        return [a.status_code for a in answers]

    event.listen(engine, "before_cursor_execute", note)
    try:
        statuses = asyncio.run(submit_all())
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert statuses == [201] * 16
    assert session.scalar(select(func.count()).select_from(Request)) == 16
    if settings.is_sqlite:
        assert writers == {"chengzhi-intake"}
    else:
        assert "chengzhi-intake" not in writers and writers


def test_intake_s_thread_outlives_a_caller_whose_loop_has_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller's event loop that closes before its answer is ready must not end the thread for the others."""
    writer = IntakeThread()
    release = threading.Event()

    def slow() -> str:
        release.wait(10)
        return "late"

    loop = asyncio.new_event_loop()
    task = loop.create_task(writer.run(slow))
    loop.run_until_complete(asyncio.sleep(0.05))  # the call is queued and under way
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    loop.close()
    release.set()

    async def after() -> int:
        return await writer.run(lambda: 42)

    assert asyncio.run(asyncio.wait_for(after(), 10)) == 42
