"""`chengzhi open311 keys ...` and `chengzhi open311 endpoints ...`: keys printed once and stored as hashes,
listed, revoked; endpoints set with their key from the environment, never shown."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner, Result

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.open311.models import Open311Endpoint, Open311Key

from .conftest import Configure
from .open311_helpers import V2

pytestmark = pytest.mark.usefixtures("city")

Invoke = Callable[..., Result]


@pytest.fixture
def run(configure: Configure) -> Invoke:
    runner = CliRunner()
    configure()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_keys_create_list_revoke(run: Invoke, client: TestClient, settings: Settings) -> None:
    created = run("open311", "keys", "create", "--name", "civic-app", "--rate", "5/minute")
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    assert key.startswith("o311_") and len(key) > 30
    with get_sessionmaker(settings.database_url)() as session:
        stored = session.scalar(select(Open311Key))
        assert (
            stored is not None and stored.rate == "5/minute" and key not in (stored.key_hash, stored.prefix)
        )
    form = {"api_key": key, "service_code": "litter", "lat": "0.2", "long": "0.2", "email": "a@example.org"}
    assert client.post(f"{V2}/requests.json", data=form).status_code == 201
    listed = run("open311", "keys", "list")
    assert "civic-app" in listed.output and "5/minute" in listed.output and "active" in listed.output
    assert key not in listed.output
    assert run("open311", "keys", "create", "--name", "civic-app").exit_code == 2
    assert run("open311", "keys", "create", "--name", "x", "--rate", "lots").exit_code == 2
    assert run("open311", "keys", "create", "--name", "y", "--unit", "nowhere").exit_code == 2
    assert run("open311", "keys", "revoke", "civic-app").exit_code == 0
    assert "revoked" in run("open311", "keys", "list").output
    assert client.post(f"{V2}/requests.json", data=form).status_code == 403
    assert run("open311", "keys", "revoke", "nobody").exit_code == 2


def test_endpoints_set_list_disable(run: Invoke, settings: Settings) -> None:
    secret = "their-secret-key-123"
    done = run(
        "open311",
        "endpoints",
        "set",
        "D1-water",
        "--url",
        "https://water.example/open311/v2/",
        "--jurisdiction",
        "water",
        "--service-code",
        "water=WTR-01",
        env={"CHENGZHI_OPEN311_ENDPOINT_KEY": secret},
    )
    assert done.exit_code == 0, done.output
    listed = run("open311", "endpoints", "list")
    assert "D1-water" in listed.output and "https://water.example/open311/v2" in listed.output
    assert secret not in listed.output and "active" in listed.output
    with get_sessionmaker(settings.database_url)() as session:
        endpoint = session.scalar(select(Open311Endpoint))
        assert endpoint is not None and secret not in endpoint.api_key_sealed
        assert endpoint.service_codes == {"water": "WTR-01"} and endpoint.jurisdiction_id == "water"
    bad = run(
        "open311",
        "endpoints",
        "set",
        "D1-water",
        "--url",
        "ftp://x",
        env={"CHENGZHI_OPEN311_ENDPOINT_KEY": secret},
    )
    assert bad.exit_code == 2
    assert run("open311", "endpoints", "disable", "D1-water").exit_code == 0
    assert "disabled" in run("open311", "endpoints", "list").output
    assert run("open311", "endpoints", "disable", "D2-water").exit_code == 2


def test_recorded_lists_what_was_recorded_instead_of_sent(run: Invoke, settings: Settings) -> None:
    from chengzhi.outbound import Message
    from chengzhi.outbound.record import RecordingSink

    sink = RecordingSink("open311", get_sessionmaker(settings.database_url))
    for n in (1, 2):
        sink.send(
            Message(
                channel="open311",
                to="https://water.example/open311/v2/requests.json",
                body={"service_code": "WTR-01", "description": f"停水 {n}"},
                idempotency_key=f"chengzhi-delivery-{n}-T{n}",
                reference=f"T{n}",
                secrets={"api_key": "their-secret"},
            )
        )
    listed = run("open311", "recorded")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == ["T2", "T1"]
    assert "停水 2" in lines[0] and "water.example" in lines[0] and "their-secret" not in listed.output
    assert len(run("open311", "recorded", "--limit", "1").output.strip().splitlines()) == 1
