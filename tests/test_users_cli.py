"""`chengzhi users create`: every role can be given, an unknown one is refused with the list of roles."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings, get_settings
from chengzhi.db import get_sessionmaker
from chengzhi.org.models import Role, User

pytestmark = pytest.mark.usefixtures("city")


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    try:
        env = {"CHENGZHI_DATABASE_URL": settings.database_url, "CHENGZHI_NEW_PASSWORD": "a-long-password-1"}
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output
    finally:
        get_settings.cache_clear()


def test_create_analyst_and_refuse_unknown_role(settings: Settings) -> None:
    code, output = _run(settings, "users", "create", "ana", "--role", "analyst", "--unit", "city")
    assert code == 0, output
    with get_sessionmaker(settings.database_url)() as session:
        user = session.scalar(select(User).where(User.username == "ana"))
        assert user is not None and [r.role for r in user.roles] == [Role.analyst]
    code, output = _run(settings, "users", "create", "bob", "--role", "boss", "--unit", "city")
    assert code == 2
    assert "unknown role 'boss'" in output and "analyst" in output and "dispatcher" in output
    _, helptext = _run(settings, "users", "create", "--help")
    assert "analyst" in helptext
