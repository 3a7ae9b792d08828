"""`chengzhi demo --staged`, what `make run` runs beside the server: the city is built in a staging file and copied in
at the end, so the server's own writes meanwhile go through (on SQLite they wait for the copy only), and the rows it
wrote stay."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, transaction
from chengzhi.demo.generate import generate_demo_city
from chengzhi.jobs.models import JobRun
from chengzhi.migrate import upgrade
from chengzhi.org.models import User
from chengzhi.requests.models import Request

NOW = dt.datetime(2026, 11, 20, 4, 30, tzinfo=dt.UTC)


def _server_writes(settings: Settings, holder: str) -> None:
    """A write of the running server (its scheduler records each job run)."""
    with transaction(get_sessionmaker(settings.database_url)) as session:
        session.add(JobRun(job="overdue", holder=holder, started_at=NOW, finished_at=NOW, result={}))


@pytest.mark.slow
def test_a_staged_city_is_built_while_the_server_writes(settings: Settings) -> None:
    upgrade(settings.database_url)
    _server_writes(settings, "before")
    done: dict[str, Any] = {}

    def build() -> None:
        done["summary"] = generate_demo_city(settings, seed=7, n_requests=40, now=NOW, staged=True)

    builder = threading.Thread(target=build)
    builder.start()
    writes = 0
    while builder.is_alive():
        _server_writes(settings, "meanwhile")  # raises if the database stays locked past the busy timeout
        writes += 1
        time.sleep(0.2)
    builder.join()
    summary = done["summary"]
    assert summary["created"] is True and summary["requests"] == 40, summary
    assert "copy" in summary["seconds"]
    assert writes >= 3  # the server wrote while the city was being built
    with get_sessionmaker(settings.database_url)() as session:
        holders = {
            holder: count
            for holder, count in session.execute(select(JobRun.holder, func.count()).group_by(JobRun.holder))
        }
        assert holders == {"before": 1, "meanwhile": writes}
        assert session.scalar(select(func.count()).select_from(Request)) == 40
        assert session.scalar(select(func.count()).where(User.username == "admin")) == 1
