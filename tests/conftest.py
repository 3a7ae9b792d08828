"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each in a database of its own.

PostgreSQL is found at CHENGZHI_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth). Where no server
answers, the PostgreSQL variants are skipped with the reason shown, except under CI=true, where that fails.
Each test starts from empty tables (truncated after every test), so tests never see each other's rows.

Hermetic settings: at the start of the session every CHENGZHI_* variable is removed from the environment and the
`.env` file is no longer read, so the developer's own configuration cannot leak into a test. Tests get their
settings from the `settings` fixture; a test that runs a command (which reads the environment) sets it with the
`configure` fixture. After every test `reset_caches()` forgets the process caches.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from chengzhi import generations, reactions
from chengzhi.app import create_app
from chengzhi.caches import reset_caches
from chengzhi.categories.models import Category
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.imports import service as imports_service
from chengzhi.migrate import upgrade
from chengzhi.models import Base
from chengzhi.org.models import Unit
from chengzhi.requests import service as requests_service
from chengzhi.requests.models import Request
from chengzhi.worker import intake as triage_intake
from chengzhi.worker.runner import drain

from . import log_watch
from .factories import City, build_city

POSTGRES_ADMIN_URL = os.environ.get(
    "CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    """No CHENGZHI_* variable and no `.env` file of the developer's reaches the tests (read above, before this)."""
    for name in [name for name in os.environ if name.startswith("CHENGZHI_")]:
        del os.environ[name]
    Settings.model_config["env_file"] = None
    generations.configure(0)
    reset_caches()
    log_watch.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if personal data reached a log record (tests/log_watch.py)."""
    if log_watch.WATCH.leaks:
        shown = "\n  ".join(sorted(set(log_watch.WATCH.leaks))[:50])
        print(f"\nPersonal data in {len(log_watch.WATCH.leaks)} log records (issue 20):\n  {shown}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _postgres_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string()}: {exc}"
    return None


@pytest.fixture(scope="session", autouse=True)
def _reactions() -> None:
    """The cross-domain reactions, as the app and the CLI install them at start-up."""
    reactions.install()


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
        # A throwaway database: commits need not wait for the WAL to reach the disk (no crash is tested).
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
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
    if url not in _MIGRATED:
        upgrade(url)
        _MIGRATED.add(url)
    return url


# Databases migrated by this process: under pytest-xdist's `--dist loadfile` a worker runs a file's SQLite tests,
# then its PostgreSQL ones, then the next file's, and each switch sets `db_url` up again.
_MIGRATED: set[str] = set()


# PostgreSQL: the tables holding rows (one round trip), and every identity sequence a test moved set back to its
# start (what TRUNCATE ... RESTART IDENTITY did).
_FILLED = " UNION ALL ".join(
    f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM {t.name})" for t in Base.metadata.sorted_tables
)
_RESTART_SEQUENCES = (
    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
    "FROM pg_sequences WHERE last_value IS NOT NULL"
)


def _truncate(url: str) -> None:
    """Empty every table. On PostgreSQL only the tables holding rows are emptied, with DELETE in the order of the
    foreign keys: a TRUNCATE of all 89 tables gives each a new file and took 2.4-4 s per test at load 20-25,
    a DELETE of the few filled ones some milliseconds. The identity sequences restart as TRUNCATE's did."""
    engine = get_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            filled = set(conn.scalars(text(_FILLED)))
            for table in tables:
                if table in filled:
                    conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text(_RESTART_SEQUENCES))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    """The settings of a test: built from these values only, never from the environment or a `.env` file."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "scheduler_enabled": False,
        "media_dir": tmp_path / "media",
        "rate_limit_storage": "memory://",
        # The tests run the triage worker themselves (`triage`, and after every call of the `client`).
        "triage_worker_in_app": False,
        # A test process starts hundreds of applications: a full collection at each start would cost minutes, and
        # frozen objects of applications gone would never be freed (tests/test_triage_worker.py turns it on).
        "gc_freeze": False,
        # Every cache use reads the generations, so that a test sees its own changes at once (tests of the
        # interval set their own: tests/test_generations.py).
        "cache_check_seconds": 0,
        # No sentiment model unless a test trains one (a developer's var/models/ must not reach the tests).
        "warning_text_model": str(tmp_path / "models" / "warning-text.model"),
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    yield make_settings(db_url, tmp_path)
    _truncate(db_url)
    reset_caches()


Configure = Callable[..., None]


@pytest.fixture
def configure(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """For tests that run a command, which reads its settings from the environment: `configure(**overrides)` sets
    the CHENGZHI_* variables of the test's settings (database, environment, media directory...) plus `overrides`
    (None removes one), and forgets the cached settings; everything is undone after the test."""

    def apply(**overrides: object) -> None:
        values: dict[str, object] = {
            "database_url": settings.database_url,
            "environment": settings.environment,
            "scheduler_enabled": settings.scheduler_enabled,
            "media_dir": settings.media_dir,
            "rate_limit_storage": settings.rate_limit_storage,
            **overrides,
        }
        for name, value in values.items():
            variable = f"CHENGZHI_{name.upper()}"
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, str(value).lower() if isinstance(value, bool) else str(value))
        reset_caches()

    yield apply
    reset_caches()


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with get_sessionmaker(settings.database_url)() as session:
        yield session


@pytest.fixture
def city(settings: Settings) -> City:
    """A small city with districts, streets, communities, departments, categories and one user per role."""
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        built = build_city(session)
    reset_caches()
    return built


def triage(settings: Settings) -> int:
    """Run the triage worker over everything waiting (what `chengzhi serve` does within a second of intake)."""
    return int(drain(get_sessionmaker(settings.database_url), settings, triage_intake.process))


_TRIAGE_SETTINGS = "chengzhi.tests.triage_settings"
_triaging = threading.local()


def _triage_after_commit(session: Session, transaction: SessionTransaction) -> None:
    """As if the worker kept up: the end of a transaction that received requests is followed by their triage (the
    real worker code, run here so that tests are deterministic), and the session sees its results. Only the
    outermost transaction counts: a savepoint's end (intake's tracking-number retry) commits nothing yet."""
    if transaction.parent is not None or transaction.nested:
        return
    settings = session.info.pop(_TRIAGE_SETTINGS, None)
    if settings is None or getattr(_triaging, "active", False):
        return
    # Read from the loaded state only: an expired attribute would be loaded by a query of the ending transaction.
    pending = [
        obj
        for obj in list(session.identity_map.values())
        if isinstance(obj, Request) and sa_inspect(obj).dict.get("triage_pending")
    ]
    _triaging.active = True
    try:
        triage(settings)
        _show_triage(session, settings, pending)
    finally:
        _triaging.active = False


def _show_triage(session: Session, settings: Settings, pending: list[Request]) -> None:
    """What the worker wrote, set on the test's own instances without a query in its session (which may be about
    to close: expired instances could not load afterwards)."""
    if not pending:
        return
    columns = [c.key for c in Request.__table__.columns]
    with get_sessionmaker(settings.database_url)() as reader:
        rows = {
            r.id: r for r in reader.scalars(select(Request).where(Request.id.in_([p.id for p in pending])))
        }
        for obj in pending:
            row = rows.get(obj.id)
            if row is None:
                continue
            for key in columns:
                set_committed_value(obj, key, getattr(row, key))
            # The related rows: the test's own instances where it holds them, else the reader's (loaded, detached).
            category = row.category_id and session.identity_map.get(identity_key(Category, row.category_id))
            set_committed_value(obj, "category", category or row.category)
            lead = row.lead_unit_id and session.identity_map.get(identity_key(Unit, row.lead_unit_id))
            set_committed_value(obj, "lead_unit", lead or row.lead_unit)


@contextmanager
def triaging_on_commit() -> Iterator[None]:
    """Within it, requests are triaged once their intake commits (see `_triage_after_commit`)."""

    def remembering(original: Callable[..., Any]) -> Callable[..., Any]:
        def intake_and_remember(
            session: Session, actor: Any, data: Any, settings: Settings, *args: Any, **kw: Any
        ) -> Any:
            received = original(session, actor, data, settings, *args, **kw)
            session.info[_TRIAGE_SETTINGS] = settings
            return received

        return intake_and_remember

    with pytest.MonkeyPatch.context() as monkeypatch:
        submit_and_remember = remembering(requests_service.submit_request)
        monkeypatch.setattr(requests_service, "submit_request", submit_and_remember)
        monkeypatch.setattr(
            requests_service, "receive", remembering(requests_service.receive)
        )  # the API's intake
        monkeypatch.setattr(imports_service, "submit_request", submit_and_remember)
        event.listen(Session, "after_transaction_end", _triage_after_commit)
        try:
            yield
        finally:
            event.remove(Session, "after_transaction_end", _triage_after_commit)


@pytest.fixture(autouse=True)
def _triage_on_commit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test sees requests triaged once their intake commits, except those marked `being_triaged`, which
    look at a request before the worker has (and run `triage` themselves)."""
    if request.node.get_closest_marker("being_triaged"):
        yield
        return
    with triaging_on_commit():
        yield


@contextmanager
def own_database(db_url: str, directory: Path) -> Iterator[str]:
    """A migrated database of its own, of the kind of `db_url` (a SQLite file in `directory`, or a database on the
    same PostgreSQL server), dropped afterwards: for a module's shared read-only rows, which the truncation after
    each test of the session's database would remove."""
    if make_url(db_url).get_backend_name() == "sqlite":
        url = f"sqlite:///{directory / 'own.db'}"
    else:
        name = f"{make_url(db_url).database}_{secrets.token_hex(3)}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        if make_url(url).get_backend_name() != "sqlite":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(client: TestClient, username: str, password: str = "demo-password-1") -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
