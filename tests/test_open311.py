"""Open311 GeoReport v2 conformance: every row of the specification's table (../shared/design/STANDARDS.md), in
JSON and XML, with its error cases, on both databases; the extensions; keys and their rate limits."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengzhi.categories.service import get_category, update_category
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.jobs.service import run_job
from chengzhi.open311 import keys
from chengzhi.open311.models import Open311Key, Open311Token
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City
from .open311_helpers import V2, make_key, xml_items, xml_object

pytestmark = pytest.mark.usefixtures("city")


def errors(response: httpx.Response, status: int) -> str:
    """The response is the spec's error list with this status; returns the description."""
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("text/xml"):
        root, items = xml_items(response.content)
        assert root == "errors"
    else:
        items = response.json()
    assert isinstance(items, list) and len(items) == 1
    assert int(items[0]["code"]) == status and items[0]["description"]
    return str(items[0]["description"])


def post(client: TestClient, key: str | None, fmt: str = "json", **fields: object) -> httpx.Response:
    form = {"service_code": "litter", "lat": "0.2", "long": "0.2", "email": "a@example.org", **fields}
    if key is not None:
        form["api_key"] = key
    response: httpx.Response = client.post(
        f"{V2}/requests.{fmt}", data={k: v for k, v in form.items() if v is not None}
    )
    return response


# ---------------------------------------------------------------- discovery, services, definitions


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery(client: TestClient, fmt: str) -> None:
    response = client.get(f"{V2}/discovery.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        body = response.json()
        endpoint = body["endpoints"][0]
    else:
        root, body = xml_object(response.content)
        assert root == "discovery"
        endpoint = body["endpoints"][0]
    assert {"changeset", "contact", "key_service"} <= set(body)
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] in ("production", "test")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_list_every_active_category(client: TestClient, fmt: str, city: City) -> None:
    response = client.get(f"{V2}/services.{fmt}", params={"lang": "en"})
    assert response.status_code == 200
    if fmt == "json":
        items = response.json()
    else:
        root, items = xml_items(response.content)
        assert root == "services"
    by_code = {i["service_code"]: i for i in items}
    assert set(by_code) == set(city.categories)
    road = by_code["road"]
    assert road["service_name"] == "Road damage" and road["type"] == "realtime"
    assert str(road["metadata"]).lower() == "true" and str(by_code["litter"]["metadata"]).lower() == "false"
    assert {"description", "keywords", "group"} <= set(road)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definition_from_the_categorys_questions(client: TestClient, fmt: str) -> None:
    response = client.get(f"{V2}/services/road.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        body = response.json()
    else:
        root, body = xml_object(response.content)
        assert root == "service_definition"
    assert body["service_code"] == "road"
    attribute = body["attributes"][0]
    assert attribute["code"] == "size" and attribute["datatype"] == "singlevaluelist"
    assert str(attribute["required"]).lower() == "true" and str(attribute["variable"]).lower() == "true"
    assert [v["key"] for v in attribute["values"]] == ["small", "large"]
    assert {"datatype_description", "order", "description"} <= set(attribute)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_and_jurisdiction_are_404(client: TestClient, fmt: str) -> None:
    errors(client.get(f"{V2}/services/nope.{fmt}"), 404)
    errors(client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": "elsewhere.example"}), 404)
    errors(client.get(f"{V2}/services/road.{fmt}", params={"jurisdiction_id": "elsewhere.example"}), 404)
    errors(client.get(f"{V2}/requests.{fmt}", params={"jurisdiction_id": "elsewhere.example"}), 404)
    # Our own jurisdiction (the city unit's code by default) and an empty one are accepted.
    assert client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": "city"}).status_code == 200
    assert client.get(f"{V2}/services.{fmt}", params={"jurisdiction_id": ""}).status_code == 200


def test_unknown_resource_and_format(client: TestClient) -> None:
    errors(client.get(f"{V2}/nothing.json"), 404)
    assert client.get(f"{V2}/services.csv").headers["content-type"].startswith("text/xml")
    errors(client.get(f"{V2}/services.csv"), 404)


# ---------------------------------------------------------------- POST requests


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_enters_the_workflow_with_attributes(client: TestClient, settings: Settings, fmt: str) -> None:
    key = make_key(settings)
    response = post(
        client,
        key,
        fmt,
        service_code="road",
        description="路面塌陷 call 13912345678",
        first_name="三",
        last_name="张",
        phone="13912345678",
        **{"attribute[size]": "large"},
    )
    assert response.status_code == 201, response.text
    if fmt == "json":
        item = response.json()[0]
    else:
        root, items = xml_items(response.content)
        assert root == "service_requests"
        item = items[0]
    number = item["service_request_id"]
    assert "service_notice" in item and "account_id" in item
    with get_sessionmaker(settings.database_url)() as session:
        row = session.scalar(select(Request).where(Request.tracking_number == number))
        assert row is not None
        assert row.channel == "open311" and row.status == "received" and row.category is not None
        assert row.category.code == "road" and row.attributes == {"size": "large"}
        assert row.contact_phone == "13912345678" and row.contact_name == "三 张"
    # The core's routing suggests where it goes, as for any request.
    staff = auth(client, "dispatcher")
    routing = client.get(f"/api/v1/requests/{number}/routing", headers=staff)
    assert routing.status_code == 200 and routing.json()["unit"]["code"] == "D1S1"


def test_multivalued_attribute(client: TestClient, settings: Settings) -> None:
    admin = auth(client, "admin")
    question = {
        "code": "kinds",
        "datatype": "multivaluelist",
        "variable": True,
        "required": False,
        "order": 1,
        "description": "什么垃圾",
        "datatype_description": "",
        "values": [
            {"key": "glass", "name": "玻璃"},
            {"key": "paper", "name": "纸"},
            {"key": "metal", "name": "金属"},
        ],
    }
    assert (
        client.patch("/api/v1/categories/litter", json={"attributes": [question]}, headers=admin).status_code
        == 200
    )
    key = make_key(settings)
    response = client.post(
        f"{V2}/requests.json",
        data={
            "api_key": key,
            "service_code": "litter",
            "address_string": "中山路 1 号",
            "email": "a@example.org",
            "attribute[kinds][]": ["glass", "metal"],
        },
    )
    assert response.status_code == 201, response.text
    number = response.json()[0]["service_request_id"]
    with get_sessionmaker(settings.database_url)() as session:
        row = session.scalar(select(Request).where(Request.tracking_number == number))
        assert (
            row is not None
            and row.attributes == {"kinds": ["glass", "metal"]}
            and row.address == "中山路 1 号"
        )
    bad = client.post(
        f"{V2}/requests.json",
        data={
            "api_key": key,
            "service_code": "litter",
            "lat": "0.2",
            "long": "0.2",
            "email": "a@example.org",
            "attribute[kinds][]": ["glass", "gold"],
        },
    )
    errors(bad, 400)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_errors(client: TestClient, settings: Settings, fmt: str) -> None:
    key = make_key(settings)
    assert "api_key" in errors(post(client, None, fmt), 403)
    errors(post(client, "o311_not-a-key", fmt), 403)
    errors(post(client, key, fmt, service_code=None), 400)
    errors(post(client, key, fmt, service_code="nope"), 404)
    errors(post(client, key, fmt, lat=None, long=None), 400)  # no location
    errors(post(client, key, fmt, long=None), 400)  # lat without long
    errors(post(client, key, fmt, lat="north"), 400)
    errors(post(client, key, fmt, lat="91"), 400)
    errors(post(client, key, fmt, lat="5", long="5"), 400)  # outside the city
    errors(post(client, key, fmt, description="x" * 4001), 400)
    errors(post(client, key, fmt, service_code="road"), 400)  # a required attribute missing
    errors(post(client, key, fmt, service_code="road", **{"attribute[size]": "huge"}), 400)
    errors(post(client, key, fmt, **{"attribute[colour]": "red"}), 400)  # a question the service does not ask
    errors(post(client, key, fmt, email=None), 400)  # nobody could be reached
    errors(post(client, key, fmt, jurisdiction_id="elsewhere.example"), 404)
    errors(post(client, key, fmt, media_url="javascript:alert(1)"), 400)
    # Empty optional arguments count as absent; 4,000 characters are fine.
    assert post(client, key, fmt, address_string="", phone="", description="x" * 4000).status_code == 201
    with get_sessionmaker(settings.database_url)() as session:
        assert (
            session.scalar(select(Request.id).where(Request.channel == "open311").limit(2).offset(1)) is None
        )


def test_a_revoked_key_is_refused_and_each_key_has_its_own_rate(
    client: TestClient, settings: Settings
) -> None:
    slow = make_key(settings, "slow", rate="2/minute")
    fast = make_key(settings, "fast", rate="100/minute")
    assert post(client, slow).status_code == 201
    assert post(client, slow).status_code == 201
    limited = post(client, slow)
    errors(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert post(client, fast).status_code == 201
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        keys.revoke_key(session, "fast")
    errors(post(client, fast), 403)
    with get_sessionmaker(settings.database_url)() as session:
        stored = session.scalars(select(Open311Key)).all()
        assert all(len(k.key_hash) == 64 and fast not in (k.key_hash, k.prefix) for k in stored)


def test_idempotency_key_returns_the_first_answer(client: TestClient, settings: Settings) -> None:
    key = make_key(settings)
    form = {"api_key": key, "service_code": "litter", "lat": "0.2", "long": "0.2", "email": "a@example.org"}
    first = client.post(f"{V2}/requests.json", data=form, headers={"Idempotency-Key": "delivery-1"})
    again = client.post(f"{V2}/requests.xml", data=form, headers={"Idempotency-Key": "delivery-1"})
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert xml_items(again.content)[1][0]["service_request_id"] == first.json()[0]["service_request_id"]
    with get_sessionmaker(settings.database_url)() as session:
        assert len(session.scalars(select(Request.id)).all()) == 1


# ---------------------------------------------------------------- batch services and tokens


def service_type(settings: Settings, code: str, kind: str) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        update_category(session, get_category(session, code), service_type=kind)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_batch_service_returns_a_token_that_resolves_to_an_id(
    client: TestClient, settings: Settings, fmt: str
) -> None:
    service_type(settings, "bus", "batch")
    key = make_key(settings)
    # A bad batch request is refused at once, not later.
    errors(post(client, key, fmt, service_code="bus", lat="5", long="5"), 400)
    response = post(client, key, fmt, service_code="bus", description="公交晚点")
    assert response.status_code == 201
    item = response.json()[0] if fmt == "json" else xml_items(response.content)[1][0]
    assert "service_request_id" not in item
    token = item["token"]
    pending = client.get(f"{V2}/tokens/{token}.json").json()
    assert pending == [{"service_request_id": None, "token": token}]
    assert run_job(get_sessionmaker(settings.database_url), settings, "open311_batch") == {
        "entered": 1,
        "refused": 0,
    }
    resolved = client.get(f"{V2}/tokens/{token}.{fmt}")
    assert resolved.status_code == 200
    if fmt == "json":
        number = resolved.json()[0]["service_request_id"]
    else:
        number = xml_items(resolved.content)[1][0]["service_request_id"]
    one_response = client.get(f"{V2}/requests/{number}.json")
    assert one_response.status_code == 200, (number, one_response.text)
    one = one_response.json()[0]
    assert one["service_code"] == "bus" and one["status"] == "open"
    with get_sessionmaker(settings.database_url)() as session:
        stored = session.scalar(select(Open311Token))
        assert stored is not None and stored.payload == {}  # contact details are not kept beside the request
    errors(client.get(f"{V2}/tokens/unknown.{fmt}"), 404)


def test_blackbox_service_returns_no_id(client: TestClient, settings: Settings) -> None:
    service_type(settings, "bus", "blackbox")
    item = post(client, make_key(settings), service_code="bus").json()[0]
    assert "service_request_id" not in item and "token" not in item and item["service_notice"]
    with get_sessionmaker(settings.database_url)() as session:
        assert session.scalar(select(Request.channel)) == "open311"


# ---------------------------------------------------------------- GET requests


def _seed(settings: Settings, now: dt.datetime) -> list[str]:
    """Requests received 1, 10, 100 and 200 days ago; the first one handled to the reply."""
    from . import steps

    numbers = []
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        for days, category in ((1, "litter"), (10, "road"), (100, "litter"), (200, "water")):
            row = steps.submit(session, settings, now - dt.timedelta(days=days), category=category)
            numbers.append(row.tracking_number)
            if days == 1:
                steps.dispatch(session, settings, row, "D1S1C1", now - dt.timedelta(hours=20))
                steps.handle(session, settings, row, "d1s1c1-handler", now - dt.timedelta(hours=19))
    return numbers


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_filters_and_defaults(client: TestClient, settings: Settings, fmt: str) -> None:
    now = dt.datetime.now(dt.UTC)
    day1, day10, day100, day200 = _seed(settings, now)

    def numbers(**params: str) -> list[str]:
        response = client.get(f"{V2}/requests.{fmt}", params=params)
        assert response.status_code == 200, response.text
        if fmt == "json":
            return [i["service_request_id"] for i in response.json()]
        root, items = xml_items(response.content)
        assert root == "service_requests"
        return [i["service_request_id"] for i in items]

    assert numbers() == [day1, day10]  # the last 90 days, newest first
    assert numbers(status="closed") == [day1]  # replied counts as closed
    assert numbers(status="open") == [day10]
    assert numbers(status="open,closed") == [day1, day10]
    assert numbers(service_code="road") == [day10]
    assert numbers(service_code="road,litter") == [day1, day10]
    start = (now - dt.timedelta(days=150)).isoformat()
    end = (now - dt.timedelta(days=61)).isoformat()
    assert numbers(start_date=start, end_date=end) == [day100]
    # Only a start: start + 90 days.
    assert numbers(start_date=(now - dt.timedelta(days=210)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [day200]
    assert numbers(end_date=(now - dt.timedelta(days=50)).isoformat()) == [day100]
    # The ids override every other filter, even outside the window.
    assert sorted(numbers(service_request_id=f"{day200},{day1}", status="open")) == sorted([day200, day1])
    assert numbers(page_size="1") == [day1] and numbers(page_size="1", page="2") == [day10]
    assert numbers(page="3", page_size="1") == []
    assert numbers(status="", service_code="") == [day1, day10]  # empty arguments count as absent


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_errors(client: TestClient, fmt: str) -> None:
    url = f"{V2}/requests.{fmt}"
    assert "90" in errors(
        client.get(url, params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}),
        400,
    )
    errors(
        client.get(url, params={"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}),
        400,
    )
    errors(client.get(url, params={"start_date": "yesterday"}), 400)
    errors(client.get(url, params={"status": "pending"}), 400)
    errors(client.get(url, params={"page": "0"}), 400)
    errors(client.get(url, params={"page_size": "1001"}), 400)
    errors(client.get(url, params={"page_size": "ten"}), 400)
    errors(client.get(url, params={"service_code": "nope"}), 404)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_one_request_is_a_list_of_one_with_every_field(
    client: TestClient, settings: Settings, fmt: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    day1 = _seed(settings, now)[0]
    response = client.get(f"{V2}/requests/{day1}.{fmt}", params={"lang": "en"})
    assert response.status_code == 200
    if fmt == "json":
        items = response.json()
    else:
        root, items = xml_items(response.content)
        assert root == "service_requests"
    assert len(items) == 1
    item = items[0]
    fields = {
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    }
    assert set(item) == fields
    assert (
        item["status"] == "closed" and item["status_notes"] == "replied" and item["service_code"] == "litter"
    )
    assert item["agency_responsible"] == "D1S1C1"
    assert dt.datetime.fromisoformat(item["requested_datetime"]).utcoffset() == dt.timedelta(hours=8)
    assert "13912345678" not in json.dumps(items)  # no contact details in public
    errors(client.get(f"{V2}/requests/00000000000000.{fmt}"), 404)
    errors(client.get(f"{V2}/requests/{day1}.{fmt}", params={"jurisdiction_id": "elsewhere"}), 404)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_extensions_add_the_public_timeline(client: TestClient, settings: Settings, fmt: str) -> None:
    day1 = _seed(settings, dt.datetime.now(dt.UTC))[0]
    response = client.get(f"{V2}/requests/{day1}.{fmt}", params={"extensions": "true", "lang": "en"})
    item = response.json()[0] if fmt == "json" else xml_items(response.content)[1][0]
    assert [n["type"] for n in item["notes"]] == ["receive", "dispatch", "sign", "contact", "reply"]
    assert item["notes"][-1]["description"] == "replied: 已处理"
    assert "电话联系" not in json.dumps(item)  # internal notes stay inside
    assert item["extended_attributes"]["status"] == "FIXED"
    plain = client.get(f"{V2}/requests.json").json()[0]
    assert "notes" not in plain


# ---------------------------------------------------------------- servicerequestupdates


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_updates_by_date_range(client: TestClient, settings: Settings, fmt: str) -> None:
    now = dt.datetime.now(dt.UTC)
    day1 = _seed(settings, now)[0]
    key = make_key(settings)
    errors(client.get(f"{V2}/servicerequestupdates.{fmt}"), 403)
    response = client.get(
        f"{V2}/servicerequestupdates.{fmt}",
        params={
            "api_key": key,
            "start_date": (now - dt.timedelta(days=2)).isoformat(),
            "end_date": now.isoformat(),
        },
    )
    assert response.status_code == 200
    if fmt == "json":
        items = response.json()
    else:
        root, items = xml_items(response.content)
        assert root == "service_request_updates"
    mine = [i for i in items if i["service_request_id"] == day1]
    assert [i["status"] for i in mine] == ["OPEN", "INVESTIGATING", "IN_PROGRESS", "FIXED"]
    assert mine[-1]["description"] == "已处理" and all(i["update_id"] and i["updated_datetime"] for i in mine)
    errors(
        client.get(
            f"{V2}/servicerequestupdates.{fmt}",
            params={"api_key": key, "start_date": "2020-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        ),
        400,
    )


def test_post_updates_move_our_workflow(client: TestClient, settings: Settings) -> None:
    from . import steps

    now = dt.datetime.now(dt.UTC)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        row = steps.submit(session, settings, now - dt.timedelta(hours=2), category="water")
        steps.dispatch(session, settings, row, "D1-water", now - dt.timedelta(hours=1))
        number = row.tracking_number
    water = make_key(settings, "water-system", unit="D1-water")
    other = make_key(settings, "other-system", unit="D2-water")
    unbound = make_key(settings, "app")

    def push(key: str, update_id: str, status: str, fmt: str = "json", **extra: str) -> httpx.Response:
        form = {
            "api_key": key,
            "service_request_id": number,
            "update_id": update_id,
            "status": status,
            "updated_datetime": now.isoformat(),
            "description": "抢修完成",
            **extra,
        }
        response: httpx.Response = client.post(f"{V2}/servicerequestupdates.{fmt}", data=form)
        return response

    errors(push(unbound, "u1", "FIXED"), 403)
    errors(push(other, "u1", "FIXED"), 403)  # not the lead unit
    errors(push("nope", "u1", "FIXED"), 403)
    errors(push(water, "u1", "SOLVED"), 400)
    errors(push(water, "u1", "FIXED", updated_datetime="soon"), 400)
    errors(push(water, "u1", "FIXED", service_request_id="00000000000000"), 404)
    errors(client.post(f"{V2}/servicerequestupdates.xml", data={"api_key": water}), 400)
    investigating = push(water, "u1", "INVESTIGATING", "xml")
    assert investigating.status_code == 200, investigating.text
    root, items = xml_items(investigating.content)
    assert root == "service_request_updates" and items[0]["update_id"]
    fixed = push(water, "u2", "FIXED")
    assert fixed.status_code == 200
    again = push(water, "u2", "FIXED")  # the same update twice is applied once
    assert again.json() == fixed.json()
    staff = auth(client, "dispatcher")
    body = client.get(f"/api/v1/requests/{number}", headers=staff).json()
    assert body["status"] == "replied" and body["reply"] == "抢修完成"
    assert [e["action"] for e in body["events"]][-3:] == ["sign", "contact", "reply"]
    assert client.get(f"{V2}/requests/{number}.json").json()[0]["status"] == "closed"
    # Going back is refused with the workflow's reason.
    assert "已答复" in errors(push(water, "u3", "NOT_COUNCILS_RESPONSIBILITY"), 400)


def test_not_responsible_returns_the_request(client: TestClient, settings: Settings) -> None:
    from . import steps

    now = dt.datetime.now(dt.UTC)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        row = steps.submit(session, settings, now - dt.timedelta(hours=2), category="water")
        steps.dispatch(session, settings, row, "D1-water", now - dt.timedelta(hours=1))
        number = row.tracking_number
    water = make_key(settings, "water-system", unit="D1-water")
    response = client.post(
        f"{V2}/servicerequestupdates.json",
        data={
            "api_key": water,
            "service_request_id": number,
            "update_id": "9",
            "status": "NOT_COUNCILS_RESPONSIBILITY",
            "updated_datetime": now.isoformat(),
            "description": "不属于本单位",
        },
    )
    assert response.status_code == 200, response.text
    body = client.get(f"/api/v1/requests/{number}", headers=auth(client, "dispatcher")).json()
    assert body["status"] == "returned" and body["events"][-1]["note"] == "不属于本单位"


def test_no_500_for_odd_input(client: TestClient, settings: Settings) -> None:
    key = make_key(settings)
    odd = ["\x00", "' OR 1=1 --", "9" * 400, "-1", "1e309", "<x/>"]
    for value in odd:
        for name in ("service_code", "lat", "description", "address_string", "attribute[size]", "email"):
            response = post(client, key, "xml", **{name: value})
            assert response.status_code in (201, 400, 404), (name, value, response.text)
        for path in ("requests", "servicerequestupdates"):
            for name in ("start_date", "service_request_id", "page", "status", "service_code"):
                response = client.get(f"{V2}/{path}.json", params={name: value, "api_key": key})
                assert response.status_code in (200, 400, 404), (path, name, value, response.text)
        response = client.get(f"{V2}/requests/{quote(value)}.json")
        assert response.status_code in (200, 400, 404)


def test_other_methods_get_the_spec_error(client: TestClient) -> None:
    errors(client.post(f"{V2}/services.json"), 400)
    errors(client.delete(f"{V2}/requests.json"), 400)
    errors(client.put(f"{V2}/requests/123.xml"), 400)
    errors(client.patch(f"{V2}/nothing.json"), 404)
    errors(client.post(f"{V2}/nothing.json"), 404)
    assert client.delete(f"{V2}/requests.xml").headers["content-type"].startswith("text/xml")


def test_datetimes_carry_the_citys_offset_through_summer_time() -> None:
    from zoneinfo import ZoneInfo

    from chengzhi.open311.formats import when

    shanghai, berlin = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
    assert (
        when(dt.datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=dt.UTC), shanghai)
        == "2026-01-01T20:00:00+08:00"
    )
    assert when(dt.datetime(2026, 1, 1, 12), shanghai) == "2026-01-01T20:00:00+08:00"  # naive: UTC
    minus5 = dt.timezone(dt.timedelta(hours=-5))
    assert when(dt.datetime(2026, 1, 1, 12, tzinfo=minus5), shanghai) == "2026-01-02T01:00:00+08:00"
    assert when(dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC), berlin) == "2026-07-01T14:00:00+02:00"
    assert when(dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC), berlin) == "2026-03-29T01:59:00+01:00"
    assert when(dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC), berlin) == "2026-03-29T03:00:00+02:00"
    assert when(None, berlin) is None
