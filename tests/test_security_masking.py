"""Personal data typed into free text is masked wherever the reader has no right to it: public pages (`/`,
`/issues`), Open311 reads (descriptions, `extensions=true` notes), `servicerequestupdates` (except for the key of
the unit that leads the request), and the API and pages of staff without contact rights (title, text, reply,
timeline notes, the resident's account name as an actor). One module does the masking:
`chengzhi.security.masking`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.requests import service as svc
from chengzhi.security.masking import contains_personal_data, is_id_card, mask_text

from . import steps
from .factories import City
from .open311_helpers import V2, make_key
from .test_api_errors import SUBMIT, created_number, token_headers, valid_submission
from .test_pages_staff import sign_in

PHONE, ID_CARD, EMAIL, NAME = "13812345678", "11010519491231002X", "li.si@example.com", "王小明"
PLANTED = (PHONE, ID_CARD, EMAIL, NAME, "12345678")
TITLE = f"联系人：{NAME} 电话{PHONE} 身份证{ID_CARD}"
TEXT = f"楼道堆物，请联系 {EMAIL} 或 010-12345678"
REPLY = f"已清理。如有问题请联系{NAME}，电话{PHONE}，邮箱{EMAIL}"


def assert_clean(text: str, where: str) -> None:
    for value in PLANTED:
        assert value not in text, (where, value)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678", "电话138****5678"),
        ("手机 +86 138-1234-5678。", "手机 138****5678。"),
        ("座机(010)62345678转8", "座机010****5678转8"),
        ("身份证号11010519491231002x", "身份证号**************002x"),
        ("邮箱 li.si@example.com 联系", "邮箱 l***@example.com 联系"),
        ("联系人：王小明 电话", "联系人：王** 电话"),
        ("Jane Smith <jane@example.org>", "J********* <j***@example.org>"),
        ("3号楼2单元路灯不亮", "3号楼2单元路灯不亮"),
    ],
)
def test_mask_text_finds_personal_data(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert contains_personal_data(text) == (text != masked)


def test_id_cards_are_recognised_by_their_check_character() -> None:
    assert is_id_card(ID_CARD) and not is_id_card("110105194912310021")
    # A number with a wrong check character is not an ID card: kept for staff, hidden on public pages.
    assert mask_text("订单110105194912310021") == "订单110105194912310021"
    assert mask_text("订单110105194912310021", public=True) == "订单" + "*" * 18


def test_public_pages_mask_titles(client: TestClient, city: City) -> None:
    resident = token_headers(client, "resident")
    created_number(client.post(SUBMIT, json=valid_submission(title=TITLE, text=TEXT), headers=resident))
    for path in ("/", "/issues"):
        page = client.get(path)
        assert page.status_code == 200
        assert_clean(page.text, path)
        assert "电话***********" in page.text, path  # published: the whole number hidden


def _replied(settings: Settings) -> str:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        row = steps.submit(session, settings, now)
        row.title, row.text, row.contact_name = TITLE, TEXT, NAME
        steps.dispatch(session, settings, row, "D1S1C1", now)
        who = steps.actor(session, "d1s1c1-handler")
        svc.sign_request(session, who, row, now)
        svc.contact_resident(session, who, row, f"已联系{NAME}", now)
        svc.reply_request(session, who, row, REPLY, settings, now + dt.timedelta(minutes=5))
        return row.tracking_number


def test_open311_reads_mask_descriptions_and_notes(
    client: TestClient, settings: Settings, city: City
) -> None:
    number = _replied(settings)
    for fmt in ("json", "xml"):
        one = client.get(f"{V2}/requests/{number}.{fmt}", params={"extensions": "true"})
        listed = client.get(f"{V2}/requests.{fmt}", params={"extensions": "true"})
        for response in (one, listed):
            assert response.status_code == 200
            assert_clean(response.text, fmt)
    notes = client.get(f"{V2}/requests/{number}.json", params={"extensions": "true"}).json()[0]["notes"]
    assert any("电话***********" in n["description"] for n in notes)


def test_service_request_updates_unmasked_only_for_the_leading_units_key(
    client: TestClient, settings: Settings, city: City
) -> None:
    number = _replied(settings)
    now = dt.datetime.now(dt.UTC)
    window = {"start_date": (now - dt.timedelta(days=1)).isoformat(), "end_date": now.isoformat()}

    def replies(key: str) -> list[str]:
        got = client.get(f"{V2}/servicerequestupdates.json", params={"api_key": key, **window})
        assert got.status_code == 200, got.text
        return [i["description"] for i in got.json() if i["service_request_id"] == number]

    unbound = replies(make_key(settings, "app"))
    elsewhere = replies(make_key(settings, "other", unit="D2-water"))
    own = replies(make_key(settings, "community", unit="D1S1C1"))
    for texts, where in ((unbound, "unbound"), (elsewhere, "another unit")):
        assert texts and all(t != REPLY for t in texts), where
        assert_clean(json.dumps(texts, ensure_ascii=False), where)
    assert REPLY in own


def test_staff_without_contact_rights_read_masked_text(
    client: TestClient, settings: Settings, city: City
) -> None:
    number = _replied(settings)
    leader = client.get(f"{SUBMIT}/{number}", headers=token_headers(client, "leader")).json()
    assert leader["contact"]["masked"] is True
    assert_clean(json.dumps(leader, ensure_ascii=False), "leader's API view")
    assert "138****5678" in leader["title"]
    actors = {
        e["actor"]
        for e in client.get(f"{SUBMIT}/{number}/events", headers=token_headers(client, "leader")).json()
    }
    assert "resident" not in actors and "r*******" in actors, actors
    handler = client.get(f"{SUBMIT}/{number}", headers=token_headers(client, "d1s1c1-handler")).json()
    assert handler["contact"]["masked"] is False
    assert handler["title"] == TITLE and handler["reply"] == REPLY
    assert "resident" in {e["actor"] for e in handler["events"]}
    sign_in(client, "leader")
    page = client.get(f"/staff/requests/{number}")
    assert page.status_code == 200
    assert_clean(page.text, "leader's staff page")


def test_the_inbox_masks_titles_for_roles_without_contact_rights(client: TestClient, city: City) -> None:
    resident = token_headers(client, "resident")
    created_number(client.post(SUBMIT, json=valid_submission(title=TITLE), headers=resident))
    sign_in(client, "dispatcher")
    page = client.get("/staff")
    assert page.status_code == 200 and "138****5678" in page.text
    assert_clean(page.text, "dispatcher's inbox")
