"""An entity objects to its own published credit record (identity level 2 by default, issue 17): visitors and
residents below the level are led to the step-up and back to the form; a real-name verified person files it
under their name and capacity, and the credit officer finds it in the objections to decide (both databases)."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from chengzhi.config import Settings
from chengzhi.credit import access, service
from chengzhi.credit.models import CreditObjection
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.org.models import Role, User

from .factories import City, make_user
from .test_credit_rules import generated_codes
from .test_pages_admin import sign_in
from .test_pages_staff import sign_in as sign_in_staff

CODES = generated_codes(2, seed=1717)


def _records(settings: Settings, city: City) -> tuple[int, int]:
    """A published penalty of the first entity, and one of the second's."""
    today = access.today(settings)
    ids = []
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "credit", Role.credit_officer, "city")
        for code, name in ((CODES[0], "甲餐饮有限公司"), (CODES[1], "乙超市有限公司")):
            entity = service.save_entity(
                session, service.EntityData(code, name), today - dt.timedelta(days=60)
            )
            record = service.RecordData("penalty", "销售过期食品", "《食品安全法》", today - dt.timedelta(days=30),
                                        severity="general", source_unit_id=city.units["D1-water"].id)  # fmt: skip
            ids.append(service.add_record(session, entity, record, today - dt.timedelta(days=30)).id)
    return ids[0], ids[1]


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found
    return found.group(1)


def test_objecting_needs_level_two_and_files_an_objection_the_officer_decides(
    client: TestClient, settings: Settings, city: City
) -> None:
    assert settings.identity_levels["object_credit_record"] == 2
    mine, other = _records(settings, city)
    path = f"/credit/{CODES[0]}/records/{mine}/objection"
    entity_page = client.get(f"/credit/{CODES[0]}")
    assert f'href="{path}"' in entity_page.text, "each published record offers the objection"
    step_up = f"/verify?level=2&next=%2Fcredit%2F{CODES[0]}%2Frecords%2F{mine}%2Fobjection"
    assert client.get(path, follow_redirects=False).headers["location"] == step_up  # a visitor
    sign_in(client, "resident")
    assert client.get(path, follow_redirects=False).headers["location"] == step_up  # level 0 or 1: not enough
    refused = client.post(path, data={"csrf_token": "x", "capacity": "agent", "reason": "x" * 20})
    assert refused.status_code == 200 and refused.url.path == "/verify", (
        "a POST below the level files nothing"
    )

    # Level 2: a real name verified by an identity provider (reached through OIDC: tests/test_oidc.py).
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        session.execute(
            update(User)
            .where(User.username == "resident")
            .values(display_name="王小明", real_name_verified_at=utcnow())
        )
    form = client.get(path, params={"lang": "en"})
    assert (
        form.status_code == 200 and "Object to a credit record" in form.text and "销售过期食品" in form.text
    )
    bad = client.post(path, data={"csrf_token": _csrf(form.text), "reason": "short"}, params={"lang": "en"})
    assert bad.status_code == 422
    assert "Say in what capacity you object." in bad.text and "10 characters or more" in bad.text
    reason = "该处罚已被行政复议撤销，附复议决定书编号。"
    filed = client.post(
        path, data={"csrf_token": _csrf(form.text), "capacity": "legal_rep", "reason": reason}
    )
    assert filed.status_code == 201 and 'id="objection-filed"' in filed.text
    again = client.post(path, data={"csrf_token": _csrf(form.text), "capacity": "agent", "reason": reason})
    assert again.status_code == 422 and "already has an objection under review" in again.text, (
        "one objection under review per record"
    )
    wrong_entity = client.get(f"/credit/{CODES[0]}/records/{other}/objection")
    assert wrong_entity.status_code == 404
    assert client.get(f"/credit/{CODES[0]}/records/abc/objection").status_code == 404

    with get_sessionmaker(settings.database_url)() as session:
        objection = session.scalars(select(CreditObjection)).one()
        user_id = session.scalars(select(User.id).where(User.username == "resident")).one()
        assert objection.record_id == mine and objection.reason == reason and objection.status == "open"
        assert objection.filed_by == f"王小明 [legal_rep] #u{user_id}"
        assert objection.due_on == access.today(settings) + dt.timedelta(days=settings.credit_objection_days)

    # The credit officer finds it with the staff-filed ones, and decides it.
    client.post("/logout", data={"csrf_token": _csrf(client.get("/logout").text)})
    sign_in_staff(client, "credit")
    listed = client.get("/api/v1/credit/objections").json()
    assert [(o["id"], o["filed_by"]) for o in listed] == [(objection.id, objection.filed_by)]
