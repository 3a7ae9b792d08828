"""Delivery to a department's own Open311 system, proven with two running Chengzhi instances on loopback (two
uvicorn processes, two databases): the city hub dispatches to a unit configured with the department's endpoint;
the delivery fails while the department is down (retried with backoff, visible to the dispatcher), succeeds once
it is up; the department handles the request in its own workflow, and the hub's periodic job pulls the updates
into the hub's workflow."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.migrate import upgrade
from chengzhi.open311 import delivery
from chengzhi.open311.models import Open311Delivery, Open311Endpoint
from chengzhi.org.service import get_unit_by_code
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request
from chengzhi.security.secretbox import SealError, seal, unseal

from .factories import PASSWORD, build_city
from .open311_helpers import LiveServer, free_port, make_key, start_server
from .patience import WORK_SECONDS
from .steps import actor, submit


def wait_for(
    what: str, check: Callable[[], Any], servers: list[LiveServer], seconds: float = WORK_SECONDS
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    logs = "\n".join(s.tail() for s in servers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def token(base: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def city_database(path: Path) -> Settings:
    url = f"sqlite:///{path}"
    upgrade(url)
    with get_sessionmaker(url)() as session, session.begin():
        build_city(session)
    return Settings(database_url=url, environment="test", scheduler_enabled=False)


@pytest.fixture
def two_cities(settings: Settings, city: object, tmp_path: Path) -> Iterator[tuple[Settings, Settings, Path]]:
    """The hub on the test database (SQLite and PostgreSQL), the department on a SQLite file of its own. The hub
    really sends (outbound mode `send`; the test environment's default is to record)."""
    hub = settings.model_copy(update={"outbound_mode": "send"})
    yield hub, city_database(tmp_path / "department.db"), tmp_path


@pytest.mark.slow
def test_hub_delivers_to_a_department_system_and_pulls_its_updates(
    two_cities: tuple[Settings, Settings, Path],
) -> None:
    hub_settings, department_settings, workdir = two_cities
    # The department issues the hub a key; the hub stores it sealed with the unit's endpoint.
    department_key = make_key(department_settings, "city-hub")
    department_port = free_port()
    department_url = f"http://127.0.0.1:{department_port}"
    with get_sessionmaker(hub_settings.database_url)() as session, session.begin():
        unit = get_unit_by_code(session, "D1-water")
        delivery.set_endpoint(
            session,
            hub_settings,
            unit,
            f"{department_url}/open311/v2/",
            department_key,
            jurisdiction_id="city",
        )
        sealed = session.scalar(select(Open311Endpoint.api_key_sealed))
        assert sealed is not None and department_key not in sealed
        # A resident's request about water, received by the hub.
        number = submit(session, hub_settings, dt.datetime.now(dt.UTC), category="water").tracking_number

    hub = start_server(
        hub_settings.database_url,
        workdir,
        {
            "CHENGZHI_SCHEDULER_ENABLED": "true",
            "CHENGZHI_SCHEDULER_INTERVAL_SECONDS": "0.5",
            "CHENGZHI_OUTBOUND_MODE": "send",
            "CHENGZHI_OPEN311_RETRY_SECONDS": "1",
            "CHENGZHI_OPEN311_RETRY_MAX_SECONDS": "2",
        },
    )
    servers = [hub]
    try:
        dispatcher = token(hub.url, "dispatcher")
        water_id = httpx.get(f"{hub.url}/api/v1/units", headers=dispatcher).json()
        water = next(
            u["id"]
            for u in (water_id["items"] if isinstance(water_id, dict) else water_id)
            if u["code"] == "D1-water"
        )
        dispatched = httpx.post(
            f"{hub.url}/api/v1/requests/{number}/dispatch", json={"lead_unit_id": water}, headers=dispatcher
        )
        assert dispatched.status_code == 200, dispatched.text

        # The department's system is down: the delivery fails, is retried, and the dispatcher sees why.
        def failing() -> dict[str, Any] | None:
            items = httpx.get(f"{hub.url}/api/v1/requests/{number}/deliveries", headers=dispatcher).json()
            return items[0] if items and items[0]["attempts"] >= 2 else None

        failed = wait_for("two failed attempts", failing, servers)
        assert failed["state"] == "pending" and failed["last_error"] and failed["next_attempt_at"]
        assert failed["unit"]["code"] == "D1-water" and failed["remote_id"] is None
        resident = token(hub.url, "resident")
        assert (
            httpx.get(f"{hub.url}/api/v1/requests/{number}/deliveries", headers=resident).status_code == 403
        )

        department = start_server(
            department_settings.database_url,
            workdir,
            {"CHENGZHI_SCHEDULER_ENABLED": "false"},
            port=department_port,
        )
        servers.append(department)

        def delivered() -> dict[str, Any] | None:
            items = httpx.get(f"{hub.url}/api/v1/requests/{number}/deliveries", headers=dispatcher).json()
            return items[0] if items[0]["state"] == "delivered" else None

        done = wait_for("the delivery", delivered, servers)
        remote = done["remote_id"]
        assert remote and done["last_error"] is None and done["attempts"] >= 3

        # In the department's own system: a new open311 request with the resident's text and contact.
        their_dispatcher = token(department.url, "dispatcher")
        theirs = httpx.get(f"{department.url}/api/v1/requests/{remote}", headers=their_dispatcher).json()
        assert theirs["channel"] == "open311" and theirs["category"]["code"] == "water"
        assert theirs["text"] == "water at D1S1C1" and theirs["contact"]["phone"] == "139****5678"
        with get_sessionmaker(department_settings.database_url)() as session:
            row = session.scalar(select(Request).where(Request.tracking_number == remote))
            assert row is not None and row.contact_phone == "13912345678" and row.source == "open311"
        units = httpx.get(f"{department.url}/api/v1/units", headers=their_dispatcher).json()
        their_water = next(
            u["id"] for u in (units["items"] if isinstance(units, dict) else units) if u["code"] == "D1-water"
        )
        step = httpx.post(
            f"{department.url}/api/v1/requests/{remote}/dispatch",
            json={"lead_unit_id": their_water},
            headers=their_dispatcher,
        )
        assert step.status_code == 200, step.text
        handler = token(department.url, "d1-water-handler")
        for path, body in (
            ("sign", {}),
            ("contact", {"note": "已电话联系"}),
            ("reply", {"text": "管道已抢修，已恢复供水"}),
        ):
            step = httpx.post(f"{department.url}/api/v1/requests/{remote}/{path}", json=body, headers=handler)
            assert step.status_code == 200, (path, step.text)

        # The hub's periodic job pulls the department's updates into the hub's workflow.
        def replied() -> dict[str, Any] | None:
            body = httpx.get(f"{hub.url}/api/v1/requests/{number}", headers=dispatcher).json()
            return body if body["status"] == "replied" else None

        ours = wait_for("the department's reply at the hub", replied, servers)
        assert ours["reply"] == "管道已抢修，已恢复供水"
        assert [e["action"] for e in ours["events"]][-3:] == ["sign", "contact", "reply"]
        public = httpx.get(
            f"{hub.url}/open311/v2/requests/{number}.json", params={"extensions": "true"}
        ).json()[0]
        assert public["status"] == "closed" and public["extended_attributes"]["status"] == "FIXED"
        # Pulled again, nothing moves twice.
        time.sleep(1.5)
        again = httpx.get(f"{hub.url}/api/v1/requests/{number}", headers=dispatcher).json()
        assert len(again["events"]) == len(ours["events"])
        # Every round of the Open311 jobs ran through (none failed, e.g. on a database lock).
        assert "periodic job open311" not in hub.log.read_text(errors="replace")
    finally:
        for server in servers:
            server.stop()


def test_dispatch_writes_the_outbox_row_in_its_own_transaction(
    two_cities: tuple[Settings, Settings, Path],
) -> None:
    hub_settings, _department, _workdir = two_cities
    now = dt.datetime.now(dt.UTC)
    factory = get_sessionmaker(hub_settings.database_url)
    with factory() as session, session.begin():
        delivery.set_endpoint(
            session, hub_settings, get_unit_by_code(session, "D1-water"), "http://127.0.0.1:9", "k"
        )
        kept = submit(session, hub_settings, now, category="water")
        dropped = submit(session, hub_settings, now, category="water")
        other = submit(session, hub_settings, now, category="litter")
    water = get_unit_by_code(factory(), "D1-water").id
    with factory() as session, session.begin():
        request = svc.get_request(session, actor(session, "dispatcher"), kept.id)
        svc.dispatch_request(session, actor(session, "dispatcher"), request, water, hub_settings, now=now)
    try:
        with factory() as session, session.begin():
            request = svc.get_request(session, actor(session, "dispatcher"), dropped.id)
            svc.dispatch_request(session, actor(session, "dispatcher"), request, water, hub_settings, now=now)
            raise RuntimeError("the dispatch is rolled back")
    except RuntimeError:
        pass
    with factory() as session, session.begin():
        request = svc.get_request(session, actor(session, "dispatcher"), other.id)
        community = get_unit_by_code(session, "D1S1C1").id
        svc.dispatch_request(session, actor(session, "dispatcher"), request, community, hub_settings, now=now)
    with factory() as session:
        rows = session.scalars(select(Open311Delivery)).all()
        assert [(r.request_id, r.state, r.attempts) for r in rows] == [(kept.id, "pending", 0)]
    # Re-dispatched elsewhere before it could be delivered: cancelled, not sent.
    with factory() as session, session.begin():
        request = svc.get_request(session, actor(session, "dispatcher"), kept.id)
        svc.return_request(session, actor(session, "d1-water-handler"), request, "不归我们", now)
        svc.dispatch_request(
            session,
            actor(session, "dispatcher"),
            request,
            get_unit_by_code(session, "D1S1").id,
            hub_settings,
            now=now,
        )
    with factory() as session, session.begin():
        assert delivery.deliver(session, hub_settings, now + dt.timedelta(seconds=1)) == {
            "delivered": 0,
            "failed": 0,
            "cancelled": 1,
        }


def test_sealed_keys() -> None:
    sealed = seal("their-key", "a" * 40)
    assert "their-key" not in sealed and unseal(sealed, "a" * 40) == "their-key"
    assert seal("their-key", "a" * 40) != sealed  # a fresh nonce each time
    with pytest.raises(SealError):
        unseal(sealed, "b" * 40)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SealError):
        unseal(tampered, "a" * 40)


def test_the_staff_page_panel_shows_a_failed_delivery(two_cities: tuple[Settings, Settings, Path]) -> None:
    from zoneinfo import ZoneInfo

    from chengzhi.web.templating import templates

    hub_settings, _department, _workdir = two_cities
    now = dt.datetime.now(dt.UTC)
    factory = get_sessionmaker(hub_settings.database_url)
    with factory() as session, session.begin():
        water = get_unit_by_code(session, "D1-water")
        delivery.set_endpoint(session, hub_settings, water, "http://127.0.0.1:9/open311/v2", "k")
        request = submit(session, hub_settings, now, category="water")
        svc.dispatch_request(session, actor(session, "dispatcher"), request, water.id, hub_settings, now=now)
    with factory() as session, session.begin():
        assert delivery.deliver(session, hub_settings, now) == {"delivered": 0, "failed": 1, "cancelled": 0}
    with factory() as session:
        row = session.scalar(select(Request).where(Request.id == request.id))
        assert row is not None
        assert (
            delivery.page_panel(
                session, svc.get_request(session, actor(session, "dispatcher"), row.id), "en", ZoneInfo("UTC")
            )
            is not None
        )
        for lang in ("zh", "en"):
            panel = delivery.page_panel(session, row, lang, ZoneInfo("Asia/Shanghai"))
            html = templates(lang).env.get_template("_open311_deliveries.html").render(open311=panel)
            assert ("Delivery by Open311" if lang == "en" else "Open311 投递") in html
            assert ("last error" if lang == "en" else "上次失败") in html and "D1-water" in html
    # Nothing to show for a request never delivered by Open311.
    with factory() as session:
        other = submit(session, hub_settings, now, category="litter")
        assert delivery.page_panel(session, other, "zh", ZoneInfo("UTC")) is None
        html = templates("zh").env.get_template("_open311_deliveries.html").render(open311=None)
        assert "<section" not in html
