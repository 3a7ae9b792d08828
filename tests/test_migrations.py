"""Migrations tested as code: an empty database upgraded to head matches the models exactly (the autogenerate diff
is empty), every revision goes down and up again, and a database holding rows keeps them through the upgrade (and
down and up again), on SQLite and on PostgreSQL, each in a database of its own."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chengzhi.db import make_engine
from chengzhi.migrate import MIGRATIONS, alembic_config, downgrade, upgrade
from chengzhi.models import Base
from chengzhi.opendata.models import SEARCH_FTS_TABLES

from .conftest import IN_CI, POSTGRES_ADMIN_URL, _postgres_reason


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, empty, not the shared test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    reason = _postgres_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"chengzhi_migrations_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _diff(url: str) -> list[Any]:
    """What autogenerate would write to bring the database to the models (empty when they match)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    # SQLite's FTS5 index of the datasets (migration 0045) is made of tables no model maps.
                    "include_name": lambda name, kind, _: not (kind == "table" and name in SEARCH_FTS_TABLES),
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models(empty_url: str) -> None:
    assert _tables(empty_url) == set()
    upgrade(empty_url)
    unmapped = SEARCH_FTS_TABLES if empty_url.startswith("sqlite") else set()
    assert _tables(empty_url) == set(Base.metadata.tables) | {"alembic_version"} | unmapped
    assert _diff(empty_url) == []
    assert _revision(empty_url) == ScriptDirectory.from_config(alembic_config(empty_url)).get_current_head()


def test_every_revision_goes_down_and_up_again(empty_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    chain = [r.revision for r in script.walk_revisions("base", "heads")]  # head first
    upgrade(empty_url)
    for revision in chain:
        below = script.get_revision(revision).down_revision
        downgrade(empty_url, str(below) if below else "base")
        assert _revision(empty_url) == below
    assert _tables(empty_url) <= {"alembic_version"}, "base leaves no tables behind"
    upgrade(empty_url)
    assert _diff(empty_url) == []
    # Upgrading an up-to-date database is a no-op.
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_the_check_would_see_a_difference(empty_url: str) -> None:
    """Not vacuous: a database missing a column, or with an extra table, shows up in the diff."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    diff = _diff(empty_url)
    assert any(change[0] == "remove_table" and change[1].name == "stray" for change in diff), diff


def test_revisions_form_one_line_with_readable_names() -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1, "branches must be merged"
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.py", path.name), path.name
        source = path.read_text(encoding="utf-8")
        assert re.search(rf'^revision: str = "{path.name[:4]}"$', source, re.MULTILINE), path.name
        assert "def downgrade() -> None:" in source and "\n    pass\n" not in source.split("def downgrade")[1]


# ---------------------------------------------------------------- upgrading a database that holds rows

# Written with plain SQL against the schema of the revision named, not with today's models: the rows are what a
# database of that time held. (The idea is simonw/llm's migration tests: build an old schema, fill it, migrate.)
OLD_ROWS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "0001": [
        (
            "units",
            {
                "id": 1,
                "code": "city",
                "name_zh": "市",
                "name_en": "City",
                "kind": "city",
                "path": "1/",
                "active": True,
                "created_at": "T0",
            },
        ),
        (
            "units",
            {
                "id": 2,
                "code": "D1-water",
                "name_zh": "水务局",
                "name_en": "Water",
                "kind": "department",
                "parent_id": 1,
                "path": "1/2/",
                "function": "water",
                "area": None,
                "active": True,
                "created_at": "T0",
            },
        ),
        (
            "users",
            {
                "id": 1,
                "username": "dispatcher",
                "display_name": "调度员",
                "password_hash": "x$y",
                "phone": "13800000000",
                "email": "d@example.cn",
                "language": "zh",
                "active": True,
                "created_at": "T0",
            },
        ),
        (
            "users",
            {
                "id": 2,
                "username": "water",
                "display_name": "水务",
                "language": "en",
                "active": False,
                "created_at": "T0",
            },
        ),
        ("role_assignments", {"id": 1, "user_id": 2, "unit_id": 2, "role": "handler"}),
        (
            "api_tokens",
            {
                "id": 1,
                "user_id": 1,
                "token_hash": "h" * 64,
                "name": "api",
                "created_at": "T0",
                "expires_at": "T1",
                "revoked": False,
            },
        ),
        (
            "categories",
            {
                "id": 1,
                "code": "water",
                "name_zh": "供水",
                "name_en": "Water supply",
                "group_zh": "市政",
                "group_en": "Utilities",
                "description": "停水",
                "keywords": "水",
                "handler_kind": "department",
                "handler_function": "water",
                "default_priority": "normal",
                "time_limits": '{"sign": "30m", "reply": "5wd"}',
                "attributes": '[{"code": "floor", "datatype": "string"}]',
                "service_type": "realtime",
                "active": True,
                "created_at": "T0",
            },
        ),
        ("issues", {"id": 1, "title": "停水", "created_at": "T0"}),
        (
            "requests",
            {
                "id": 1,
                "tracking_number": "20260301000001",
                "title": "停水",
                "text": "三号楼停水 13800000000",
                "channel": "web",
                "language": "zh",
                "priority": "urgent",
                "category_id": 1,
                "lat": 39.9,
                "lon": 116.4,
                "address": "三号楼",
                "contact_name": "王",
                "contact_phone": "13800000000",
                "contact_email": "w@example.cn",
                "phone_last4": "0000",
                "submitter_id": None,
                "receiving_unit_id": 1,
                "attributes": '{"floor": "3"}',
                "source": "web",
                "external_id": None,
                "received_at": "T0",
                "status": "dispatched",
                "lead_unit_id": 2,
                "co_unit_ids": "[]",
                "issue_id": 1,
                "extension_pending": False,
                "extension_days": 0,
                "deadlines": '{"sign": "2026-03-01T08:30:00+00:00"}',
                "due_at": "T1",
                "overdue_stage": None,
                "ever_overdue": False,
                "answered_at_intake": False,
                "reopen_count": 0,
                "return_count": 1,
                "updated_at": "T0",
                "event_count": 2,
                "dispatched_at": "T0",
            },
        ),
        (
            "requests",
            {
                "id": 2,
                "tracking_number": "20260301000002",
                "title": "",
                "text": "路灯坏了",
                "channel": "phone",
                "language": "en",
                "priority": "normal",
                "receiving_unit_id": 1,
                "attributes": "{}",
                "source": "import",
                "external_id": "old-7",
                "received_at": "T0",
                "status": "closed",
                "co_unit_ids": "[2]",
                "extension_pending": False,
                "extension_days": 3,
                "deadlines": "{}",
                "ever_overdue": True,
                "answered_at_intake": True,
                "reopen_count": 1,
                "return_count": 0,
                "updated_at": "T1",
                "event_count": 0,
                "resolved": True,
                "satisfaction": 3,
                "reply_text": "已修好",
                "replied_at": "T1",
                "closed_at": "T1",
            },
        ),
        (
            "request_events",
            {
                "id": 1,
                "request_id": 1,
                "seq": 1,
                "action": "receive",
                "actor_id": None,
                "at": "T0",
                "payload": "{}",
                "note": None,
            },
        ),
        (
            "request_events",
            {
                "id": 2,
                "request_id": 1,
                "seq": 2,
                "action": "dispatch",
                "actor_id": 1,
                "actor_unit_id": 1,
                "at": "T0",
                "payload": '{"lead_unit_id": 2}',
                "note": "请处理",
            },
        ),
        ("request_units", {"id": 1, "request_id": 1, "unit_id": 2, "unit_path": "1/2/", "role": "lead"}),
        (
            "photos",
            {
                "id": 1,
                "request_id": 1,
                "content_type": "image/jpeg",
                "size": 1234,
                "width": 640,
                "height": 480,
                "sha256": "a" * 64,
                "stored_name": "aa/aaaa.jpg",
                "created_at": "T0",
            },
        ),
        ("photo_tokens", {"id": 1, "request_id": 1, "token_hash": "p" * 64, "expires_at": "T1"}),
        (
            "idempotency_records",
            {
                "id": 1,
                "principal": "user:1",
                "key": "k-1",
                "fingerprint": "f" * 64,
                "status_code": 201,
                "response": '{"id": 1}',
                "created_at": "T0",
            },
        ),
        (
            "job_runs",
            {
                "id": 1,
                "job": "overdue",
                "holder": "host:1",
                "started_at": "T0",
                "finished_at": "T1",
                "result": '{"marked": 0}',
            },
        ),
    ],
    "0010": [
        ("request_supports", {"id": 1, "request_id": 1, "supporter": "s" * 64, "created_at": "T1"}),
        (
            "request_triage",
            {
                "request_id": 1,
                "place_lat": 39.9,
                "place_lon": 116.4,
                "place_unit_id": 2,
                "place_matches": '["三号楼"]',
                "urgent": True,
                "urgency_matches": '["停水"]',
                "text_note": None,
                "created_at": "T0",
            },
        ),
        (
            "open311_keys",
            {
                "id": 1,
                "name": "app",
                "key_hash": "k" * 64,
                "prefix": "o311_abcdefg",
                "rate": "60/minute",
                "unit_id": 2,
                "user_id": 2,
                "created_at": "T0",
            },
        ),
        (
            "open311_endpoints",
            {
                "id": 1,
                "unit_id": 2,
                "url": "https://water.example.cn/open311/v2",
                "jurisdiction_id": "water",
                "api_key_sealed": "sealed",
                "service_codes": '{"water": "W-1"}',
                "active": True,
                "user_id": 2,
                "created_at": "T0",
            },
        ),
        (
            "open311_deliveries",
            {
                "id": 1,
                "request_id": 1,
                "event_id": 2,
                "endpoint_id": 1,
                "unit_id": 2,
                "state": "delivered",
                "attempts": 2,
                "next_attempt_at": "T0",
                "last_attempt_at": "T1",
                "remote_id": "R-9",
                "created_at": "T0",
                "delivered_at": "T1",
            },
        ),
        (
            "open311_tokens",
            {
                "id": 1,
                "token": "tok",
                "key_id": 1,
                "payload": "{}",
                "request_id": 2,
                "created_at": "T0",
                "resolved_at": "T1",
            },
        ),
    ],
}
TIMES = {
    "T0": dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC),
    "T1": dt.datetime(2026, 3, 2, 9, 30, 15, tzinfo=dt.UTC),
}


def _insert_old_rows(url: str, revision: str) -> None:
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.begin() as conn:
            for table, values in OLD_ROWS[revision]:
                params = {
                    # As each driver stores a UTC time: SQLite a naive text, PostgreSQL a timestamptz.
                    k: (TIMES[v].replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else TIMES[v])
                    if isinstance(v, str) and v in TIMES
                    else v
                    for k, v in values.items()
                }
                columns = ", ".join(params)
                marks = ", ".join(f":{k}" for k in params)
                conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), params)
    finally:
        engine.dispose()


def _expected(value: Any) -> Any:
    return TIMES[value] if isinstance(value, str) and value in TIMES else value


def _check_rows(url: str, revisions: Sequence[str]) -> None:
    """Every row written at those revisions reads back through today's models with the values written."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            for revision in revisions:
                for table_name, values in OLD_ROWS[revision]:
                    table = Base.metadata.tables[table_name]
                    key = {c.name: values[c.name] for c in table.primary_key.columns}
                    # Only the columns written: a later revision may add columns this one does not have yet.
                    columns = [table.c[name] for name in values]
                    row = (
                        session.execute(select(*columns).where(*(table.c[k] == v for k, v in key.items())))
                        .mappings()
                        .one()
                    )
                    for column, value in values.items():
                        stored = row[column]
                        if isinstance(stored, (dict, list)):
                            value = json.loads(value)
                        assert stored == _expected(value), (table_name, key, column, stored, value)
    finally:
        engine.dispose()


def _read(url: str, sql: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_upgrading_a_database_that_holds_rows_keeps_them(empty_url: str) -> None:
    """Rows written at 0001, then more at 0010, survive the upgrade to head with their values; the columns added
    since take their defaults; down to 0001 and up again, the rows of 0001's tables are still there."""
    upgrade(empty_url, "0001")
    _insert_old_rows(empty_url, "0001")
    upgrade(empty_url, "0010")
    _check_rows(empty_url, ["0001"])
    _insert_old_rows(empty_url, "0010")
    upgrade(empty_url)
    assert _diff(empty_url) == []
    _check_rows(empty_url, ["0001", "0010"])
    # Added after the rows were written: the defaults the migrations give.
    assert _read(empty_url, "SELECT id, support_count FROM requests ORDER BY id") == [(1, 0), (2, 0)]
    assert _read(empty_url, "SELECT id, anonymised_at FROM requests ORDER BY id") == [(1, None), (2, None)]
    assert _read(
        empty_url, "SELECT model_version, category_suggestions, category_sure FROM request_triage"
    ) == [(None, None, False)]

    script = ScriptDirectory.from_config(alembic_config(empty_url))
    head = script.get_current_head()
    downgrade(empty_url, "0001")
    assert _revision(empty_url) == "0001"
    assert _read(empty_url, "SELECT COUNT(*) FROM requests") == [(2,)]
    assert "request_supports" not in _tables(empty_url)
    upgrade(empty_url)
    assert _revision(empty_url) == head and _diff(empty_url) == []
    _check_rows(empty_url, ["0001"])
    assert _read(empty_url, "SELECT COUNT(*) FROM open311_deliveries") == [(0,)]


# ---------------------------------------------------------------- 0032: credit periods corrected, rows present


def _credit_rows(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO credit_entities (id, uscc, name, kind, status, created_at) "
                "VALUES (1, '91350100M000100Y43', 'A', 'enterprise', 'active', :t)"
            ), {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})  # fmt: skip
            penalty = (
                "INSERT INTO credit_records (id, entity_id, kind, severity, title, legal_basis, decided_on, "
                "rule_set, publish_until, created_at) VALUES (:id, 1, 'penalty', :sev, 't', 'b', :d, :rs, :pu, :t)"
            )
            t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            for rid, sev, day, rules, until in (
                (1, "general", dt.date(2022, 6, 1), "2019", dt.date(2025, 6, 1)),  # 36 -> 12 months
                (2, "general", dt.date(2023, 3, 1), "2023", dt.date(2024, 3, 1)),  # now judged by 2019
                (3, "minor", dt.date(2023, 2, 1), "2023", dt.date(2023, 2, 1)),  # 2019: published 12 months
                (4, "serious", dt.date(2023, 5, 1), "2023", dt.date(2026, 5, 1)),  # unchanged
                (5, "general", dt.date(2026, 5, 1), "2026", dt.date(2027, 5, 1)),  # unchanged
            ):
                conn.execute(
                    text(penalty), {"id": rid, "sev": sev, "d": day, "rs": rules, "pu": until, "t": t}
                )
            conn.execute(text(
                "INSERT INTO credit_list_entries (id, entity_id, list_kind, rule, record_id, listed_on, "
                "publish_until, created_at) VALUES (1, 1, 'black', 'repeat_general', 2, :l, :pu, :t)"
            ), {"l": dt.date(2023, 3, 1), "pu": dt.date(2024, 3, 1), "t": t})  # fmt: skip
    finally:
        engine.dispose()


def test_0032_recomputes_the_publication_of_existing_penalties(empty_url: str) -> None:
    upgrade(empty_url, "0028")
    _credit_rows(empty_url)
    upgrade(empty_url, "0032")
    rows = _read(empty_url, "SELECT id, rule_set, publish_until FROM credit_records ORDER BY id")
    assert [(i, r, str(u)[:10]) for i, r, u in rows] == [
        (1, "2019", "2023-06-01"),
        (2, "2019", "2024-03-01"),
        (3, "2019", "2024-02-01"),
        (4, "2023", "2026-05-01"),
        (5, "2026", "2027-05-01"),
    ]
    # The repeat entry (record 2 after record 1) now ends when the earlier penalty stopped being published.
    assert [str(u)[:10] for (u,) in _read(empty_url, "SELECT publish_until FROM credit_list_entries")] == [
        "2023-06-01"
    ]
    downgrade(empty_url, "0028")
    rows = _read(empty_url, "SELECT id, rule_set, publish_until FROM credit_records ORDER BY id")
    assert [(i, r, str(u)[:10]) for i, r, u in rows] == [
        (1, "2019", "2025-06-01"),
        (2, "2023", "2024-03-01"),
        (3, "2023", "2023-02-01"),
        (4, "2023", "2026-05-01"),
        (5, "2026", "2027-05-01"),
    ]


def test_focus_topics_keep_their_rows_across_0034(empty_url: str) -> None:
    """0034 adds focus_topics.hot_issue_id: a topic written before keeps its values, without a hot issue; down
    to 0028 the column goes and the topic stays."""
    upgrade(empty_url, "0028")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO focus_topics (id, month, title, description, co_unit_ids, goal, state, votes,"
                    " created_at) VALUES (1, '2026-12', '停车难', '', '[]', '', 'candidate', 3, :at)"
                ),
                {"at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC)},
            )
    finally:
        engine.dispose()
    upgrade(empty_url, "0034")
    assert _read(empty_url, "SELECT id, title, votes, hot_issue_id FROM focus_topics") == [
        (1, "停车难", 3, None)
    ]
    downgrade(empty_url, "0028")
    assert _read(empty_url, "SELECT id, title, votes FROM focus_topics") == [(1, "停车难", 3)]
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_0045_indexes_the_datasets_already_written(empty_url: str) -> None:
    """0045 cuts the text of the datasets already written into words and indexes it (PostgreSQL's tsvector,
    SQLite's FTS5 table); later writes keep the index; down to 0036 the index goes and the rows stay."""
    upgrade(empty_url, "0036")
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO units (id, code, name_zh, name_en, kind, path, active, created_at) "
                "VALUES (1, 'city', '市', 'City', 'city', '1/', :t, :at)"
            ), {"t": True, "at": at})  # fmt: skip
            conn.execute(text(
                "INSERT INTO od_datasets (id, name, title, title_en, notes, unit_id, open_level, status, license_id,"
                " frequency, themes, contact_name, contact_email, version, search_text, quality, downloads,"
                " api_calls, created_at, modified_at) VALUES ('d1', 'bus-lines', '公交线路客流统计', 'Bus lines',"
                " '按月统计。', 1, 'unconditional', 'published', 'cc-by-4.0', 'monthly', '[]', '', '', 1,"
                " 'old text', '{}', 0, 0, :at, :at)"
            ), {"at": at})  # fmt: skip
            conn.execute(text("INSERT INTO od_dataset_tags (dataset_id, tag) VALUES ('d1', '交通')"))
    finally:
        engine.dispose()
    upgrade(empty_url, "0045")
    [(title, body)] = _read(empty_url, "SELECT search_title, search_text FROM od_datasets")
    assert title.split()[:5] == ["bus", "lines", "公交线路", "客流", "统计"] and "交通" in title.split()
    assert "线路" in title.split() and body.split() == ["按", "月", "统计"]
    if empty_url.startswith("sqlite"):
        found = 'SELECT dataset_id FROM od_search_fts WHERE od_search_fts MATCH \'"线路"* AND "交通"\''
    else:
        found = "SELECT id FROM od_datasets WHERE search_vector @@ to_tsquery('simple', '线路:* & 交通')"
    assert _read(empty_url, found) == [("d1",)]
    # Later writes keep the index (triggers): a new text is found, the old one no longer.
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE od_datasets SET search_title = 'bus 地铁', search_text = ''"))
    finally:
        engine.dispose()
    assert _read(empty_url, found) == []
    assert _read(empty_url, found.replace("线路", "地铁").replace("交通", "bus")) == [("d1",)]
    downgrade(empty_url, "0036")
    assert "od_search_fts" not in _tables(empty_url)
    assert _read(empty_url, "SELECT id, search_text FROM od_datasets") == [
        ("d1", "bus-lines 公交线路客流统计 bus lines 按月统计。")
    ]
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_0057_copies_the_negativity_onto_hot_issue_members(empty_url: str) -> None:
    """0057 adds hot_issue_members.negativity, filled from the text labels (a membership without a label keeps
    none), and the two indexes the ranking of hot issues reads; down to 0056 the column and the indexes go and the
    memberships stay."""
    upgrade(empty_url, "0010")
    _insert_old_rows(empty_url, "0001")
    _insert_old_rows(empty_url, "0010")
    upgrade(empty_url, "0056")
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO hot_issues (id, name, name_locked, place_or_group, top_words, signature, place_keys,"
                " message_count, created_at, updated_at) VALUES (1, '停水', :f, '', '[]', '{}', '[]', 2, :at, :at)"
            ), {"f": False, "at": at})  # fmt: skip
            for request_id in (1, 2):
                conn.execute(text(
                    "INSERT INTO hot_issue_members (request_id, issue_id, similarity, pinned, received_at, person,"
                    " supports, unit_path, title, placed_at) VALUES (:r, 1, 1.0, :f, :at, :p, 0, '/1/', '停水', :at)"
                ), {"r": request_id, "f": False, "at": at, "p": f"r{request_id}"})  # fmt: skip
            conn.execute(text(
                "INSERT INTO warning_text_labels (request_id, negativity, sentiment, message_type, model_version,"
                " labelled_at) VALUES (1, 0.75, 'negative', 'complaint', 'm1', :at)"
            ), {"at": at})  # fmt: skip
    finally:
        engine.dispose()
    upgrade(empty_url, "0057")
    assert _read(empty_url, "SELECT request_id, negativity FROM hot_issue_members ORDER BY request_id") == [
        (1, 0.75),
        (2, None),
    ]
    engine = make_engine(empty_url)
    try:
        indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("hot_issue_members")}
    finally:
        engine.dispose()
    assert indexes["ix_hot_issue_members_received_covering"][0] == "received_at"
    assert indexes["ix_hot_issue_members_scope_received_covering"][:2] == ["unit_path", "received_at"]
    assert _diff(empty_url) == []
    downgrade(empty_url, "0056")
    assert _read(empty_url, "SELECT request_id, issue_id FROM hot_issue_members ORDER BY request_id") == [
        (1, 1),
        (2, 1),
    ]
    engine = make_engine(empty_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("hot_issue_members")}
        names = {str(i["name"]) for i in inspect(engine).get_indexes("hot_issue_members")}
    finally:
        engine.dispose()
    assert "negativity" not in columns and not any("covering" in n for n in names)
    upgrade(empty_url)
    assert _diff(empty_url) == []
