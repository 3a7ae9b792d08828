"""The partitioned schema of the scaling benchmark (benchmarks/scaling.py, docs/scaling.md) builds on the real
migrated schema, and intake's own insert statement writes into it unchanged. Everything happens in one
transaction that is rolled back: the shared test database keeps its plain tables."""

from __future__ import annotations

import datetime as dt

from benchmarks.scaling import PARTITIONED, months, partition_table
from sqlalchemy import create_engine, text

from chengzhi.migrate import upgrade
from chengzhi.requests import intake_sql


def test_months_cover_the_span_in_month_ranges() -> None:
    ranges = months(dt.date(2024, 12, 7), dt.date(2025, 2, 1))
    assert ranges == [
        (dt.date(2024, 12, 1), dt.date(2025, 1, 1)),
        (dt.date(2025, 1, 1), dt.date(2025, 2, 1)),
        (dt.date(2025, 2, 1), dt.date(2025, 3, 1)),
    ]


def test_partitioned_tables_build_and_take_an_intake(postgresql_url: str) -> None:
    upgrade(postgresql_url)
    engine = create_engine(postgresql_url)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            dropped: list[str] = []
            for table, column in PARTITIONED.items():
                dropped += partition_table(conn, table, column, dt.date(2026, 11, 1), dt.date(2026, 12, 31))
            # Foreign keys into the partitioned tables cannot stay as they were: their referenced key must hold
            # the partition column.
            assert "request_events.fk_request_events_request_id_requests" in dropped
            assert "triage_queue.fk_triage_queue_request_id_requests" in dropped
            keys = conn.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'requests'::regclass AND contype IN ('p', 'u')"
                )
            ).all()
            assert ("pk_requests", "PRIMARY KEY (id, received_at)") in keys
            assert ("uq_requests_tracking_number", "UNIQUE (tracking_number, received_at)") in keys
            conn.execute(
                text(
                    "INSERT INTO units (id, code, name_zh, name_en, kind, path, active, created_at) "
                    "VALUES (9001, 'probe-city', '市', 'City', 'city', '/9001/', true, now())"
                )
            )
            now = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
            request = intake_sql.row(
                intake_sql.REQUESTS,
                {
                    "tracking_number": "26120712345678",
                    "text": "路灯不亮",
                    "channel": "phone",
                    "receiving_unit_id": 9001,
                    "received_at": now,
                    "updated_at": now,
                    "triage_pending": True,
                    "event_count": 1,
                },
            )
            hub = intake_sql.row(intake_sql.UNITS, {"unit_id": 9001, "unit_path": "/9001/", "role": "hub"})
            event = intake_sql.row(intake_sql.EVENTS, {"seq": 1, "action": "receive", "at": now})
            outbox = intake_sql.row(
                intake_sql.QUEUE, {"kind": "intake", "enqueued_at": now, "available_at": now}
            )
            new_id = intake_sql.insert_new(conn, request, hub, event, outbox)
            assert new_id is not None
            where = conn.execute(
                text("SELECT tableoid::regclass::text FROM requests WHERE id = :id"), {"id": new_id}
            ).scalar()
            assert where == "requests_202612"
            # The same tracking number on the same instant is refused as before (nothing written) ...
            assert intake_sql.insert_new(conn, request, hub, event, outbox) is None
            # ... but on another day the partitioned key no longer sees it: uniqueness across months is the
            # application's (the number starts with the day it was given out).
            later = {**request, "received_at": now + dt.timedelta(days=1)}
            assert intake_sql.insert_new(conn, later, hub, event, outbox) is not None
            transaction.rollback()
        with engine.connect() as conn:
            kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'requests'")).scalar()
            assert kind == "r"  # the shared database's table is plain again
    finally:
        engine.dispose()
