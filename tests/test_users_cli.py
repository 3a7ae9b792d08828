"""`chengzhi users create`: every role can be given, an unknown one is refused with the list of roles."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.org.models import Role, User

from .conftest import Configure

Run = Callable[..., tuple[int, str]]

pytestmark = pytest.mark.usefixtures("city")


@pytest.fixture
def run(configure: Configure) -> Run:
    configure(new_password="a-long-password-1")

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args))
        return result.exit_code, result.output

    return invoke


def test_create_analyst_and_refuse_unknown_role(settings: Settings, run: Run) -> None:
    code, output = run("users", "create", "ana", "--role", "analyst", "--unit", "city")
    assert code == 0, output
    with get_sessionmaker(settings.database_url)() as session:
        user = session.scalar(select(User).where(User.username == "ana"))
        assert user is not None and [r.role for r in user.roles] == [Role.analyst]
    code, output = run("users", "create", "bob", "--role", "boss", "--unit", "city")
    assert code == 2
    assert "unknown role 'boss'" in output and "analyst" in output and "dispatcher" in output
    _, helptext = run("users", "create", "--help")
    assert "analyst" in helptext
