"""Process caches kept true across processes by generation counters (chengzhi/generations.py, migration 0036).

The triggers are tested on both databases by writing the tables with plain SQL (as another process, the CLI or an
administrator would); the caches by changing rows behind the app's back and calling the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from chengzhi import generations
from chengzhi.config import Settings
from chengzhi.db import get_engine, utcnow
from chengzhi.org import service as org_service

from .conftest import auth
from .factories import City


def _generation(settings: Settings, name: str) -> int:
    with get_engine(settings.database_url).connect() as conn:
        value = conn.execute(
            text("SELECT generation FROM cache_generations WHERE name = :n"), {"n": name}
        ).scalar()
    return int(value or 0)


def _sql(settings: Settings, statement: str, **params: Any) -> None:
    """A write from another connection, committed: what another process would do."""
    with get_engine(settings.database_url).begin() as conn:
        conn.execute(text(statement), params)


@pytest.mark.parametrize(
    ("statement", "moved"),
    [
        ("UPDATE users SET active = active WHERE username = 'operator'", {"auth"}),
        ("UPDATE users SET display_name = 'x' WHERE username = 'operator'", {"auth"}),
        ("DELETE FROM role_assignments WHERE id = (SELECT min(id) FROM role_assignments)", {"auth"}),
        ("UPDATE units SET name_en = 'Renamed' WHERE code = 'D1'", {"auth", "units"}),
        ("UPDATE categories SET active = false WHERE code = 'litter'", {"categories"}),
        ("UPDATE api_tokens SET revoked = true", {"auth"}),
        # Any write of a user's row, even one no cache holds (the cost: a failed sign-in empties the token cache).
        ("UPDATE users SET failed_logins = failed_logins + 1 WHERE username = 'operator'", {"auth"}),
        ("UPDATE request_events SET note = note", set()),
    ],
)
def test_a_write_to_a_watched_table_moves_its_generations(
    settings: Settings, session: Session, city: City, statement: str, moved: set[str]
) -> None:
    org_service.issue_token(session, city.users["operator"], days=30)
    session.commit()
    before = {name: _generation(settings, name) for name in generations.GENERATIONS}
    _sql(settings, statement)
    after = {name: _generation(settings, name) for name in generations.GENERATIONS}
    assert {name for name in generations.GENERATIONS if after[name] != before[name]} == moved


def test_a_generation_deleted_comes_back_at_the_next_write(settings: Settings, city: City) -> None:
    _sql(settings, "DELETE FROM cache_generations")
    _sql(settings, "UPDATE categories SET name_en = 'Litter' WHERE code = 'litter'")
    assert _generation(settings, "categories") == 1


def _submit(client: TestClient, headers: dict[str, str], category: str = "litter") -> Any:
    body = {
        "text": "垃圾没人清理",
        "category": category,
        "lat": 0.2,
        "lon": 0.2,
        "contact_phone": "13912345678",
    }
    return client.post("/api/v1/requests", json={**body, "channel": "phone"}, headers=headers)


def test_a_token_revoked_elsewhere_stops_working_once_the_generations_are_read(
    client: TestClient, city: City
) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    headers = auth(client, "operator")
    generations.configure(60)  # read the counters at most once a minute
    try:
        assert _submit(client, headers).status_code == 201  # reads the counters and caches the actor
        _sql(settings, "UPDATE api_tokens SET revoked = true")
        # Within the interval the process still trusts what it read: the documented staleness.
        assert _submit(client, headers).status_code == 201
        generations.configure(0)
        refused = _submit(client, headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "token_invalid"
    finally:
        generations.configure(0)


def test_a_role_withdrawn_elsewhere_is_seen_by_the_next_call(client: TestClient, city: City) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    headers = auth(client, "operator")
    assert _submit(client, headers).status_code == 201
    _sql(
        settings,
        "DELETE FROM role_assignments WHERE user_id = (SELECT id FROM users WHERE username = 'operator')",
    )
    refused = _submit(client, headers)  # the phone channel needs an operator
    assert refused.status_code == 403, refused.text


def test_a_category_withdrawn_elsewhere_is_refused_at_intake(client: TestClient, city: City) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    headers = auth(client, "operator")
    assert _submit(client, headers).status_code == 201
    _sql(settings, "UPDATE categories SET active = false WHERE code = 'litter'")
    refused = _submit(client, headers)
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "category_not_found"


def test_the_cached_city_hub_is_the_sessions_own_object(session: Session, city: City) -> None:
    first = org_service.city_hub(session)
    session.close()
    second = org_service.city_hub(session)
    assert second.id == city.units["city"].id
    assert second in session  # merged into this session, not the cached copy itself
    assert first is not second


def test_an_expired_token_is_refused_although_its_actor_is_cached(
    client: TestClient, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = auth(client, "operator")
    generations.configure(60)
    try:
        assert _submit(client, headers).status_code == 201
        # Time passes and no counter moves: the expiry kept with the cached actor is checked on every use.
        later = utcnow() + dt.timedelta(days=3650)
        monkeypatch.setattr(org_service, "utcnow", lambda: later)
        refused = _submit(client, headers)
        assert refused.status_code == 401, refused.text
    finally:
        generations.configure(0)
