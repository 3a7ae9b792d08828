"""Intake by token (PostgreSQL): an API client's submission is one statement that has committed when it returns
(no BEGIN or COMMIT round trip of its own); anonymous submissions, and SQLite, keep a transaction. Either way a
201 means committed, and a retry with the same key is answered from the saved answer."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_engine
from chengzhi.idempotency import IdempotencyRecord
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City
from .steps import POINTS

LON, LAT = POINTS["D1S1C1"]
BODY = {"text": "井盖缺失，很危险", "channel": "phone", "lat": LAT, "lon": LON}


def _states_after_intake(client: TestClient, settings: Settings, **kw: Any) -> list[str]:
    """For each statement that wrote a request: whether its connection was still in a transaction after it."""
    engine = get_engine(settings.database_url)
    states: list[str] = []

    def after(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "INSERT INTO requests" in statement:
            dbapi = conn.connection.dbapi_connection
            if engine.dialect.name == "postgresql":
                idle = dbapi.info.transaction_status == TransactionStatus.IDLE
            else:
                idle = not dbapi.in_transaction
            states.append("committed" if idle else "in a transaction")

    event.listen(engine, "after_cursor_execute", after)
    try:
        answer = client.post("/api/v1/requests", **kw)
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert answer.status_code == 201, answer.text
    return states


def test_a_token_submission_commits_in_its_one_statement_on_postgresql(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    headers = auth(client, "operator") | {"Idempotency-Key": "by-token-1"}
    states = _states_after_intake(client, settings, json=BODY, headers=headers)
    expected = "in a transaction" if settings.is_sqlite else "committed"
    assert states == [expected]
    # The request, its outbox row and its saved answer are there, and a retry is answered from it.
    assert session.scalar(select(func.count()).select_from(Request)) == 1
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
    again = client.post("/api/v1/requests", json=BODY, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert session.scalar(select(func.count()).select_from(Request)) == 1
    # The same key with another body: nothing written by the refused statement.
    other = client.post("/api/v1/requests", json=BODY | {"text": "另一件事"}, headers=headers)
    assert other.status_code == 409
    assert session.scalar(select(func.count()).select_from(Request)) == 1


def test_an_anonymous_submission_keeps_its_transaction(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    body = {"text": "路灯坏了", "lat": LAT, "lon": LON, "contact_phone": "13912345678"}
    assert _states_after_intake(client, settings, json=body) == ["in a transaction"]
    assert session.scalar(select(func.count()).select_from(Request)) == 1
