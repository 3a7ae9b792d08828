"""Short transactions for a sending job, apart from the job's own."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


def short_sessions(session: Session) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """A reader and a writer (which takes SQLite's write lock at BEGIN) on the job session's engine: no
    transaction stays open while another system answers. The job's own transaction (PostgreSQL's advisory lock:
    one runner at a time) stays open around them and writes nothing but its run record."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    writer = (
        engine.execution_options(sqlite_begin_immediate=True) if engine.dialect.name == "sqlite" else engine
    )
    return sessionmaker(bind=engine, expire_on_commit=False), sessionmaker(
        bind=writer, expire_on_commit=False
    )
