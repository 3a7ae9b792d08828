"""The API's lean acknowledgement (requests/acknowledge.py) is the answer the pydantic models gave: the same keys
in the same order and the same values, for every kind of caller, with and without a category, in both languages;
and through the API, the saved answer under an Idempotency-Key is the 201's body (both databases)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.idempotency import IdempotencyRecord
from chengzhi.requests import acknowledge, schemas
from chengzhi.requests import service as svc
from chengzhi.requests.api_common import request_public
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City
from .steps import POINTS, actor

CASES = [
    ("operator", "phone", "road", {"size": "small"}, "zh"),
    ("operator", "phone", None, {}, "en"),
    ("resident", "web", "litter", {}, "en"),
    ("dispatcher", "phone", "water", {}, "zh"),
    (None, "web", None, {}, "zh"),
    (None, "web", "litter", {}, "en"),
]


@pytest.mark.being_triaged
@pytest.mark.parametrize(("by", "channel", "category", "attributes", "lang"), CASES)
def test_the_lean_answer_is_what_the_models_gave(
    session: Session,
    settings: Settings,
    city: City,
    by: str | None,
    channel: str,
    category: str | None,
    attributes: dict[str, Any],
    lang: str,
) -> None:
    lon, lat = POINTS["D1S1C1"]
    who = actor(session, by)
    token = svc.new_photo_token() if who.is_anonymous else None
    data = svc.Submission(
        text="路面有大坑，车辆经过很危险",
        channel=channel,
        category_code=category,
        lat=lat,
        lon=lon,
        address="新华路 1 号",
        contact_name="张三",
        contact_phone="13912345678",
        attributes=attributes,
        language=lang,
    )
    answer = svc.Acknowledgement(render=lambda r: acknowledge.created(r, session, who, lang, token))
    received = svc.receive(session, who, data, settings, acknowledgement=answer)
    request = session.get(Request, received.row["id"])
    assert request is not None
    public = request_public(
        session, who, request, lang, contact_visible=True, fresh=True, unit_paths=[received.hub_path]
    )
    expected = schemas.RequestCreated(request=public, photo_token=token).model_dump(mode="json")
    session.commit()
    given = json.loads(received.acknowledgement)
    assert given == expected
    assert list(given["request"]) == list(expected["request"])  # the same order too
    assert given["request"]["being_triaged"] is True


def test_a_microsecond_free_time_is_written_as_pydantic_writes_it() -> None:
    moment = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
    model = schemas.EventPublic(
        seq=1, action="receive", action_name="", at=moment, actor=None, unit=None, note=None, payload={}
    )
    assert acknowledge._when(moment) == model.model_dump(mode="json")["at"] == "2026-12-07T09:30:00Z"
    later = moment.replace(microsecond=120)
    assert acknowledge._when(later) == "2026-12-07T09:30:00.000120Z"


def test_the_saved_answer_is_the_201s_body(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    headers = auth(client, "operator") | {"Idempotency-Key": "lean-1"}
    lon, lat = POINTS["D1S1C1"]
    body = {"text": "井盖丢了 -7350713201", "channel": "phone", "lat": lat, "lon": lon, "category": "litter"}
    first = client.post("/api/v1/requests", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.headers["content-type"] == "application/json"
    created = first.json()
    assert created["request"]["text"] == body["text"]  # the id's stand-in in a text stays as written
    saved = session.scalar(select(IdempotencyRecord.response).where(IdempotencyRecord.key == "lean-1"))
    assert saved == created
    again = client.post("/api/v1/requests", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == created
    assert session.scalar(select(Request.id).where(Request.id == created["request"]["id"])) is not None
