"""The whole life of a request through the API, on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import auth
from .factories import City


def test_request_from_intake_to_rating(client: TestClient, city: City) -> None:
    resident = auth(client, "resident")
    created = client.post(
        "/api/v1/requests",
        json={
            "text": "小区门口垃圾堆积三天无人清理",
            "category": "litter",
            "lat": 0.2,
            "lon": 0.2,
            "contact_phone": "13912345678",
        },
        headers=resident,
    )
    assert created.status_code == 201, created.text
    number = created.json()["request"]["tracking_number"]
    assert created.json()["request"]["status"] == "received"

    dispatcher = auth(client, "dispatcher")
    detail = client.get(f"/api/v1/requests/{number}", headers=dispatcher).json()
    assert detail["routing"]["unit"]["code"] == "D1S1C1"
    assert detail["contact"]["masked"] is True
    assert detail["contact"]["phone"] == "139****5678"
    lead = detail["routing"]["unit"]["id"]
    response = client.post(
        f"/api/v1/requests/{number}/dispatch", json={"lead_unit_id": lead}, headers=dispatcher
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dispatched"

    handler = auth(client, "d1s1c1-handler")
    assert (
        client.get(f"/api/v1/requests/{number}", headers=handler).json()["contact"]["phone"] == "13912345678"
    )
    for step, body in (("sign", None), ("contact", {"note": "电话联系"}), ("reply", {"text": "已清理完毕"})):
        response = client.post(f"/api/v1/requests/{number}/{step}", json=body, headers=handler)
        assert response.status_code == 200, (step, response.text)

    response = client.post(
        f"/api/v1/requests/{number}/review", json={"resolved": True, "satisfaction": 5}, headers=resident
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reviewed"
    assert [e["action"] for e in body["events"]] == [
        "receive",
        "dispatch",
        "sign",
        "contact",
        "reply",
        "review",
    ]


def test_illegal_step_is_409_with_reason(client: TestClient, city: City) -> None:
    operator = auth(client, "operator")
    created = client.post("/api/v1/requests", json={"text": "咨询", "channel": "phone"}, headers=operator)
    number = created.json()["request"]["tracking_number"]
    handler = auth(client, "d1s1-handler")
    response = client.post(f"/api/v1/requests/{number}/sign", headers=handler)
    assert response.status_code in (404, 409)
    dispatcher = auth(client, "dispatcher")
    response = client.post(
        f"/api/v1/requests/{number}/review",
        json={"resolved": True, "satisfaction": 3},
        headers=dispatcher | {"Accept-Language": "en"},
    )
    assert response.status_code == 409
    assert "received" in response.json()["error"]["message"]
