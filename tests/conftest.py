"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each in a database of its own.

PostgreSQL is found at CHENGZHI_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth). Where no server
answers, the PostgreSQL variants are skipped with the reason shown, except under CI=true, where that fails.
Each test starts from empty tables (truncated after every test), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chengzhi import ratelimit
from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.migrate import upgrade
from chengzhi.models import Base
from chengzhi.routing import rules

from .factories import City, build_city

POSTGRES_ADMIN_URL = os.environ.get(
    "CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string()}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    reason = _postgres_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"chengzhi_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'chengzhi-test.db'}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each kind (the schema comes from the Alembic migrations, not create_all)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    upgrade(url)
    return url


def _truncate(url: str) -> None:
    engine = get_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    yield Settings(
        database_url=db_url,
        environment="test",
        scheduler_enabled=False,
        media_dir=tmp_path / "media",
        rate_limit_storage="memory://",
    )
    _truncate(db_url)
    rules.invalidate()
    ratelimit._limiter.cache_clear()


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with get_sessionmaker(settings.database_url)() as session:
        yield session


@pytest.fixture
def city(settings: Settings) -> City:
    """A small city with districts, streets, communities, departments, categories and one user per role."""
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        built = build_city(session)
    rules.invalidate()
    return built


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(client: TestClient, username: str, password: str = "demo-password-1") -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
