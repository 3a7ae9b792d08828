"""The real Open311 clients from PyPI against a live server process (uvicorn on a free loopback port):
`georeport` for every read it supports, in JSON and in XML; `civicbot` posting requests with attributes, sent for
real (confirm="SEND", its 0.5 s delay between calls turned off)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from civicbot import Endpoint, Open311Client
from civicbot.http import HttpError, HttpTransport, RateLimiter
from georeport import GeoReport
from requests import HTTPError
from sqlalchemy import select

from chengzhi.categories.service import get_category, update_category
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.jobs.service import run_job
from chengzhi.migrate import upgrade
from chengzhi.requests.models import Request

from .factories import build_city
from .open311_helpers import LiveServer, make_key, start_server

# Two live servers in processes of their own.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Settings, str]]:
    workdir = tmp_path_factory.mktemp("open311-live")
    url = f"sqlite:///{workdir / 'live.db'}"
    upgrade(url)
    settings = Settings(database_url=url, environment="test", scheduler_enabled=False)
    with get_sessionmaker(url)() as session, session.begin():
        build_city(session)
        update_category(
            session,
            get_category(session, "litter"),
            attributes=[
                {
                    "code": "kinds",
                    "datatype": "multivaluelist",
                    "description": "什么垃圾",
                    "values": [{"key": "glass", "name": "玻璃"}, {"key": "metal", "name": "金属"}],
                },
                {"code": "bags", "datatype": "number", "description": "几袋"},
            ],
        )
        update_category(session, get_category(session, "bus"), service_type="batch")
    key = make_key(settings, "civicbot")
    server = start_server(url, workdir)
    try:
        yield server, settings, key
    finally:
        server.stop()


def civicbot_client(server: LiveServer) -> Open311Client:
    endpoint = Endpoint(
        id="chengzhi",
        name="Chengzhi",
        base_url=f"{server.url}/open311/v2",
        write=True,
        api_key_required_for_write=False,
    )
    # No delay between calls (the default waits 0.5 s per host).
    transport = HttpTransport(rate_limiter=RateLimiter(min_interval=0.0))
    return Open311Client(endpoint, transport=transport, jurisdiction_id="city")


def stored(settings: Settings, number: str) -> Request:
    with get_sessionmaker(settings.database_url)() as session:
        row = session.scalar(select(Request).where(Request.tracking_number == number))
        assert row is not None, number
        return row


def test_civicbot_posts_requests_with_attributes(live: tuple[LiveServer, Settings, str]) -> None:
    server, settings, key = live
    client = civicbot_client(server)
    sent = client.create_request(
        "road",
        dry_run=False,
        confirm="SEND",
        api_key=key,
        validate_remote=True,  # reads the service list and the definition first, as an app would
        lat=0.2,
        lng=0.2,
        description="人行道塌了一个大坑",
        attributes={"size": "large"},
        email="resident@example.org",
        first_name="小明",
    )
    assert sent.dry_run is False
    number = sent.response[0]["service_request_id"]
    row = stored(settings, number)
    assert (
        row.channel == "open311" and row.attributes == {"size": "large"} and row.text == "人行道塌了一个大坑"
    )

    many = client.create_request(
        "litter",
        dry_run=False,
        confirm="SEND",
        api_key=key,
        validate_remote=True,
        lat=0.7,
        lng=1.2,
        description="垃圾堆放",
        attributes={"kinds": ["glass", "metal"], "bags": 3},
        phone="13900001111",
    )
    row = stored(settings, many.response[0]["service_request_id"])
    assert row.attributes == {"kinds": ["glass", "metal"], "bags": 3.0}
    assert client.get_request(number)["service_code"] == "road"
    assert number in {
        r["service_request_id"] for r in client.list_requests(service_code="road", page_size=10)
    }


def test_civicbot_batch_token_and_errors(live: tuple[LiveServer, Settings, str]) -> None:
    server, settings, key = live
    client = civicbot_client(server)
    sent = client.create_request(
        "bus", dry_run=False, confirm="SEND", api_key=key, lat=0.5, lng=0.5, email="a@example.org"
    )
    token = sent.response[0]["token"]
    assert client.get_token(token) == [{"service_request_id": None, "token": token}]
    run_job(get_sessionmaker(settings.database_url), settings, "open311_batch")
    number = client.get_token(token)[0]["service_request_id"]
    assert stored(settings, number).channel == "open311"
    with pytest.raises(HttpError) as refused:
        client.create_request("road", dry_run=False, confirm="SEND", api_key=None, lat=0.2, lng=0.2)
    assert refused.value.status == 403 and '"code":403' in refused.value.body
    with pytest.raises(HttpError) as missing:
        client.create_request(
            "road", dry_run=False, confirm="SEND", api_key=key, lat=0.2, lng=0.2, email="a@b.cn"
        )
    assert missing.value.status == 400 and "size" in missing.value.body


def _as_list(value: Any) -> list[Any]:
    """xmltodict gives one element as a dict, several as a list."""
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_everything(live: tuple[LiveServer, Settings, str], fmt: str) -> None:
    server, _settings, key = live
    sent = civicbot_client(server).create_request(
        "road",
        dry_run=False,
        confirm="SEND",
        api_key=key,
        lat=0.2,
        lng=0.7,
        attributes={"size": "small"},
        email="b@example.org",
        description=f"georeport {fmt}",
    )
    number = sent.response[0]["service_request_id"]
    client = GeoReport(f"{server.url}/open311/v2", jurisdiction="city", output_format=fmt)

    services = _as_list(client.get_service_list())
    assert {s["service_code"] for s in services} == {"litter", "road", "water", "bus"}

    definition = client.get_service_definition("road")
    attribute = _as_list(definition["attributes"]["attribute"] if fmt == "xml" else definition["attributes"])[
        0
    ]
    assert definition["service_code"] == "road" and attribute["code"] == "size"
    values = _as_list(attribute["values"]["value"] if fmt == "xml" else attribute["values"])
    assert [v["key"] for v in values] == ["small", "large"]

    every = _as_list(client.get_service_requests())
    assert number in {r["service_request_id"] for r in every}
    roads = _as_list(client.get_service_requests(service_code="road", status="open"))
    assert roads and all(r["service_code"] == "road" and r["status"] == "open" for r in roads)
    chosen = client.get_service_requests(service_request_id=number)
    assert _as_list(chosen)[0]["service_request_id"] == number

    now = datetime.now(UTC)
    window = client.get_service_requests(
        start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_date=(now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert number in {r["service_request_id"] for r in _as_list(window)}

    one = client.get_service_request(number)
    assert one["service_request_id"] == number and one["description"] == f"georeport {fmt}"
    assert one["status"] == "open" and one["service_name"] == "道路破损"

    with pytest.raises(HTTPError):
        client.get_service_request("00000000000000")
    with pytest.raises(HTTPError):
        GeoReport(f"{server.url}/open311/v2", jurisdiction="elsewhere", output_format=fmt).get_service_list()
