"""Staff steps taken from the pages, on both databases: one form per allowed step, errors next to their field with
what was typed kept, post/redirect/get on success, bulk dispatch, the overdue board."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.jobs.service import detect_overdue
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.models import RequestEvent

from .factories import City
from .steps import actor, dispatch, submit, unit_id
from .test_pages_staff import sign_in


def csrf(client: TestClient, path: str = "/staff") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def act(
    client: TestClient, number: str, action: str, data: dict[str, Any] | None = None, **extra: object
) -> Any:
    """The test client's response, which also holds the page's template context."""
    form = {"csrf_token": csrf(client, f"/staff/requests/{number}"), **(data or {})}
    return client.post(f"/staff/requests/{number}/act/{action}", data=form, follow_redirects=False, **extra)


def fresh(session: Session, request: RequestRow) -> RequestRow:
    session.rollback()  # ends the test's read snapshot (SQLite WAL)
    session.expire_all()
    row = session.get(RequestRow, request.id)
    assert row is not None
    return row


def actions_of(session: Session, request: RequestRow) -> list[str]:
    session.rollback()  # ends the test's read snapshot (SQLite WAL)
    session.expire_all()
    query = (
        select(RequestEvent.action).where(RequestEvent.request_id == request.id).order_by(RequestEvent.seq)
    )
    return list(session.scalars(query))


def test_dispatcher_dispatches_with_the_unit_picker(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    request = submit(session, settings, dt.datetime.now(dt.UTC), where="D1S1C1")
    session.commit()
    sign_in(client, "dispatcher")
    page = client.get(f"/staff/requests/{request.tracking_number}")
    assert page.status_code == 200
    codes = [a.code for a in page.context["page"].actions]
    assert "dispatch" in codes and "merge" in codes and "sign" not in codes
    # The suggested unit is preselected in the picker; the form has a label for every field.
    suggested = page.context["page"].suggested_unit_id
    assert suggested is not None
    assert re.search(rf'<option value="{suggested}" selected>', page.text)
    for field in ("dispatch-lead_unit_id", "dispatch-co_unit_ids", "dispatch-category", "dispatch-note"):
        assert f'for="{field}"' in page.text and f'id="{field}"' in page.text

    lead = unit_id(session, "D1S1C1")
    done = act(client, request.tracking_number, "dispatch", {"lead_unit_id": str(lead), "note": "请尽快处理"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/staff/requests/{request.tracking_number}?done=dispatch"
    row = fresh(session, request)
    assert (row.status, row.lead_unit_id) == ("dispatched", lead)
    shown = client.get(done.headers["location"])
    assert shown.context["page"].forms.notice == "已派单。"
    assert "请尽快处理" in shown.text


def test_refused_steps_show_the_reason_next_to_the_field_and_keep_the_text(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    request = submit(session, settings, dt.datetime.now(dt.UTC))
    session.commit()
    number = request.tracking_number
    sign_in(client, "dispatcher")
    missing = act(client, number, "dispatch", {"lead_unit_id": "", "note": "我写的说明"})
    assert missing.status_code == 422
    forms = missing.context["page"].forms
    assert forms.action == "dispatch"
    assert forms.errors.get("lead_unit_id") == "请选择承办单位。"
    assert 'id="dispatch-lead_unit_id-error"' in missing.text
    assert 'aria-describedby="dispatch-lead_unit_id-error"' in missing.text
    assert "我写的说明</textarea>" in missing.text
    assert '<details id="act-dispatch" open>' in missing.text
    # A unit that does not exist, a city as the target, co-unit = lead: the service's reason, at its field.
    city_id = unit_id(session, "city")
    wrong = act(client, number, "dispatch", {"lead_unit_id": str(city_id)}, params={"lang": "en"})
    assert wrong.status_code == 422
    assert wrong.context["page"].forms.errors.get("lead_unit_id")
    lead = unit_id(session, "D1S1C1")
    both = act(client, number, "dispatch", {"lead_unit_id": str(lead), "co_unit_ids": [str(lead)]})
    assert both.status_code == 422
    assert both.context["page"].forms.errors.get("co_unit_ids")
    junk = act(client, number, "dispatch", {"lead_unit_id": "12x"})
    assert junk.status_code == 422
    # A forged or missing CSRF token, an unknown step: refused, nothing written.
    forged = client.post(
        f"/staff/requests/{number}/act/dispatch",
        data={"csrf_token": "nope", "lead_unit_id": str(lead)},
        follow_redirects=False,
    )
    assert forged.status_code == 422
    assert forged.context["page"].forms.errors.get("form")
    unknown = act(client, number, "explode", {})
    assert unknown.status_code == 422
    # The language chosen with ?lang=en above is remembered by its cookie.
    assert unknown.context["page"].forms.errors.get("form") == "This step does not exist."
    assert (
        act(client, number, "explode", {}, params={"lang": "zh"}).context["page"].forms.errors.get("form")
        == "没有这个操作。"
    )
    assert fresh(session, request).status == "received"
    assert actions_of(session, request) == ["receive"]
    # A request one may not see: the 404 page, not a hint that it exists.
    sign_in(client, "d1s1c1-handler")
    assert act(client, number, "sign", {}).status_code == 404


def test_handler_signs_contacts_and_replies(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    request = submit(session, settings, now)
    dispatch(session, settings, request, "D1S1C1", now)
    session.commit()
    number = request.tracking_number
    sign_in(client, "d1s1c1-handler")
    page = client.get(f"/staff/requests/{number}", params={"lang": "en"})
    assert [a.name for a in page.context["page"].actions][:2] == ["Sign for it", "Return to the dispatcher"]
    assert "dispatch" not in [a.code for a in page.context["page"].actions]
    assert act(client, number, "sign").status_code == 303
    # Signing twice: the workflow's reason, not a crash.
    again = act(client, number, "sign")
    assert again.status_code == 409
    assert "it cannot be signed" in again.context["page"].forms.errors.get("form")
    assert act(client, number, "contact", {"note": "电话联系了张先生"}).status_code == 303
    empty = act(client, number, "reply", {"text": "   "}, params={"lang": "en"})
    assert empty.status_code == 422
    assert empty.context["page"].forms.errors.get("text") == "Fill in this field."
    long = act(client, number, "reply", {"text": "长" * 4001})
    assert long.status_code == 422 and "4000" in long.context["page"].forms.errors.get("text")
    assert act(client, number, "reply", {"text": "垃圾已清运。"}).status_code == 303
    assert actions_of(session, request) == ["receive", "dispatch", "sign", "contact", "reply"]
    row = fresh(session, request)
    assert row.status == "replied" and row.reply_text == "垃圾已清运。"
    # A dispatcher's step is not the handler's to take.
    refused = act(client, number, "close", {})
    assert refused.status_code == 403
    assert refused.context["page"].forms.errors.get("form")


def test_return_extension_supervision_and_review(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    first = submit(session, settings, now)
    second = submit(session, settings, now, phone="13900001111")
    dispatch(session, settings, first, "D1S1C1", now)
    dispatch(session, settings, second, "D1S1C1", now)
    session.commit()
    sign_in(client, "d1s1c1-handler")
    no_reason = act(client, first.tracking_number, "return", {"reason": ""})
    assert no_reason.status_code == 422 and no_reason.context["page"].forms.errors.get("reason")
    assert act(client, first.tracking_number, "return", {"reason": "不属于本社区"}).status_code == 303
    assert fresh(session, first).status == "returned"

    assert act(client, second.tracking_number, "sign").status_code == 303
    bad_days = act(client, second.tracking_number, "request_extension", {"days": "abc", "reason": "需要施工"})
    assert bad_days.status_code == 422
    assert bad_days.context["page"].forms.errors.get("days")
    assert 'value="abc"' in bad_days.text
    ok = act(client, second.tracking_number, "request_extension", {"days": "3", "reason": "需要施工"})
    assert ok.status_code == 303
    sign_in(client, "supervisor")
    codes = [a.code for a in client.get(f"/staff/requests/{second.tracking_number}").context["page"].actions]
    assert {"approve_extension", "refuse_extension", "supervise"} <= set(codes)
    assert act(client, second.tracking_number, "approve_extension", {"note": "同意"}).status_code == 303
    empty_note = act(client, second.tracking_number, "supervise", {"note": ""})
    assert empty_note.status_code == 422 and empty_note.context["page"].forms.errors.get("note")
    assert act(client, second.tracking_number, "supervise", {"note": "请本周内完成"}).status_code == 303
    assert fresh(session, second).extension_days == 3

    handler = actor(session, "d1s1c1-handler")
    row = fresh(session, second)
    svc.contact_resident(session, handler, row, "电话联系")
    svc.reply_request(session, handler, row, "已修好", settings)
    session.commit()
    unrated = act(client, second.tracking_number, "review", {"resolved": "maybe", "satisfaction": "9"})
    assert unrated.status_code == 422
    assert set(unrated.context["page"].forms.errors.messages) == {"resolved", "satisfaction"}
    visit = act(client, second.tracking_number, "review", {"resolved": "yes", "satisfaction": "4"})
    assert visit.status_code == 303
    row = fresh(session, second)
    assert (row.status, row.satisfaction, row.resolved) == ("reviewed", 4, True)


def test_co_handle_and_merge(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    now = dt.datetime.now(dt.UTC)
    first = submit(session, settings, now)
    second = submit(session, settings, now, phone="13900002222")
    dispatch(session, settings, first, "D1S1C1", now)
    session.commit()
    sign_in(client, "dispatcher")
    none = act(client, first.tracking_number, "co_handle", {})
    assert none.status_code == 422 and none.context["page"].forms.errors.get("unit_ids")
    water = unit_id(session, "D1-water")
    assert act(client, first.tracking_number, "co_handle", {"unit_ids": [str(water)]}).status_code == 303
    assert water in fresh(session, first).co_unit_ids
    unknown = act(client, second.tracking_number, "merge", {"into": "26010100000000"})
    assert unknown.status_code == 422 and unknown.context["page"].forms.errors.get("into")
    itself = act(client, second.tracking_number, "merge", {"into": second.tracking_number})
    assert itself.status_code == 422 and itself.context["page"].forms.errors.get("into")
    merged = act(client, second.tracking_number, "merge", {"into": first.tracking_number})
    assert merged.status_code == 303
    assert fresh(session, second).issue_id is not None
    assert fresh(session, second).issue_id == fresh(session, first).issue_id


def test_bulk_dispatch_reports_each_request(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    waiting = [submit(session, settings, now, phone=f"1390000{i:04d}") for i in range(3)]
    dispatch(session, settings, waiting[2], "D1S1C1", now)  # taken meanwhile: refused in the batch
    session.commit()
    sign_in(client, "dispatcher")
    inbox = client.get("/staff")
    page = inbox.context["page"]
    assert page.can_dispatch
    assert page.dispatchable == {waiting[0].tracking_number, waiting[1].tracking_number}
    assert f'value="{waiting[0].tracking_number}"' in inbox.text and 'form="bulk"' in inbox.text
    lead = unit_id(session, "D1S1C1")
    numbers = [w.tracking_number for w in waiting]
    response = client.post(
        "/staff/bulk-dispatch",
        data={"csrf_token": csrf(client), "number": numbers, "lead_unit_id": str(lead)},
    )
    assert response.status_code == 200
    result = response.context["page"]
    assert (result.done, result.refused) == (2, 1)
    assert [o.ok for o in result.outcomes] == [True, True, False]
    assert all(fresh(session, w).lead_unit_id == lead for w in waiting[:2])
    # Nothing ticked, no unit, forged token: a message, nothing written.
    for data in (
        {"lead_unit_id": str(lead)},
        {"number": numbers[:1]},
        {"number": numbers, "csrf_token": "x"},
    ):
        refused = client.post("/staff/bulk-dispatch", data={"csrf_token": csrf(client), **data})
        assert refused.status_code == 422
        assert refused.context["page"].error
    # Handlers do not get the bulk form.
    sign_in(client, "d1s1c1-handler")
    assert client.get("/staff").context["page"].can_dispatch is False
    assert 'id="bulk"' not in client.get("/staff").text


def test_supervisor_sees_overdue_requests_and_adds_a_note(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    late = submit(session, settings, long_ago)
    dispatch(session, settings, late, "D1S1C1", long_ago)
    on_time = submit(session, settings, dt.datetime.now(dt.UTC), phone="13900003333")
    dispatch(session, settings, on_time, "D1S1C1", dt.datetime.now(dt.UTC))
    session.commit()
    assert detect_overdue(session, settings, dt.datetime.now(dt.UTC))["marked"] == 1
    session.commit()
    sign_in(client, "supervisor")
    board = client.get("/staff/overdue")
    assert board.status_code == 200
    page = board.context["page"]
    assert page.total == 1
    assert [r.tracking_number for r in page.rows] == [late.tracking_number]
    assert page.rows[0].can_supervise and page.rows[0].late_hours > 24
    assert page.rows[0].stage == "签收"
    assert page.counts[0].count == 1 and "lead_unit=" in page.counts[0].url
    drill = client.get(page.counts[0].url)
    assert [i.tracking_number for i in drill.context["page"].items] == [late.tracking_number]
    noted = client.post(
        f"/staff/requests/{late.tracking_number}/act/supervise",
        data={"csrf_token": csrf(client, "/staff/overdue"), "note": "今天内签收", "next": "/staff/overdue"},
        follow_redirects=False,
    )
    assert noted.status_code == 303 and noted.headers["location"] == "/staff/overdue?done=supervise"
    assert client.get(noted.headers["location"]).context["page"].notice == "督办意见已添加。"
    assert actions_of(session, late)[-1] == "supervise"
    # No open redirects: a foreign `next` falls back to the request page.
    away = client.post(
        f"/staff/requests/{late.tracking_number}/act/supervise",
        data={"csrf_token": csrf(client), "note": "再次督办", "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert away.headers["location"].startswith(f"/staff/requests/{late.tracking_number}?")
    # A handler sees the board of its own scope, without the supervision form.
    sign_in(client, "d1s1c1-handler")
    mine = client.get("/staff/overdue").context["page"]
    assert [r.can_supervise for r in mine.rows] == [False]


def test_inbox_stage_and_date_filters_with_counts(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = submit(session, settings, now - dt.timedelta(days=10), phone="13900004444")
    new = submit(session, settings, now, phone="13900005555")
    dispatch(session, settings, new, "D1S1C1", now)
    session.commit()
    sign_in(client, "dispatcher")
    everything = client.get("/staff").context["page"]
    assert everything.total == 2
    assert {c.status: c.count for c in everything.counts} == {"received": 1, "dispatched": 1}
    waiting = client.get("/staff", params={"stage": "intake"}).context["page"]
    assert [i.tracking_number for i in waiting.items] == [old.tracking_number]
    handling = client.get("/staff", params={"stage": "handling"}).context["page"]
    assert [i.tracking_number for i in handling.items] == [new.tracking_number]
    clash = client.get("/staff", params={"stage": "done", "status": "received"}).context["page"]
    assert clash.items == [] and clash.total == 0
    today = dt.datetime.now(dt.UTC).astimezone().date()
    since = (today - dt.timedelta(days=2)).isoformat()
    recent = client.get("/staff", params={"from": since}).context["page"]
    assert [i.tracking_number for i in recent.items] == [new.tracking_number]
    assert recent.filters.received_from == since
    before = client.get("/staff", params={"to": (today - dt.timedelta(days=5)).isoformat()}).context["page"]
    assert [i.tracking_number for i in before.items] == [old.tracking_number]
    nonsense = client.get("/staff", params={"from": "yesterday", "stage": "x", "lead_unit": "-1"})
    assert nonsense.status_code == 200 and nonsense.context["page"].total == 2


def test_staff_see_the_residents_photos(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    import io

    from PIL import Image

    request = submit(session, settings, dt.datetime.now(dt.UTC))
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, format="PNG")
    svc.add_photo(session, request, out.getvalue(), settings)
    session.commit()
    sign_in(client, "dispatcher")
    page = client.get(f"/staff/requests/{request.tracking_number}")
    urls = page.context["page"].photo_urls
    assert len(urls) == 1 and f'<img src="{urls[0]}"' in page.text
    photo = client.get(urls[0])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"


def test_overdue_board_pages_by_due_time(
    client: TestClient, city: City, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chengzhi.requests import staff_actions

    monkeypatch.setattr(staff_actions, "BOARD_SIZE", 2)
    now = dt.datetime.now(dt.UTC)
    late = []
    for days in (30, 20, 10):  # the longest overdue first
        row = submit(session, settings, now - dt.timedelta(days=days), phone=f"139000{days:05d}")
        dispatch(session, settings, row, "D1S1C1", now - dt.timedelta(days=days))
        late.append(row.tracking_number)
    session.commit()
    detect_overdue(session, settings, now)
    session.commit()
    sign_in(client, "supervisor")
    first = client.get("/staff/overdue").context["page"]
    assert [r.tracking_number for r in first.rows] == late[:2]
    assert first.total == 3 and first.next_url
    second = client.get(first.next_url).context["page"]
    assert [r.tracking_number for r in second.rows] == late[2:]
    assert second.next_url is None and second.first_url == "/staff/overdue"
    assert (
        client.get("/staff/overdue", params={"after": "garbage"}).context["page"].rows[0].tracking_number
        == late[0]
    )


def test_dispatcher_merges_a_duplicate_with_one_button(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    first = submit(session, settings, now - dt.timedelta(hours=1))
    again = submit(session, settings, now, phone="13900009999")  # same place, same category, same words
    unrelated = submit(session, settings, now, category="bus", where="D2S2C2", phone="13900008888")
    session.commit()
    sign_in(client, "dispatcher")
    page = client.get(f"/staff/requests/{again.tracking_number}").context["page"]
    shown = [d.tracking_number for d in page.duplicates]
    assert first.tracking_number in shown
    assert unrelated.tracking_number not in shown
    assert all(0 < d.score <= 100 and d.reasons for d in page.duplicates)
    merged = act(client, again.tracking_number, "merge", {"into": first.tracking_number})
    assert merged.status_code == 303
    assert fresh(session, again).issue_id is not None
    assert fresh(session, again).issue_id == fresh(session, first).issue_id
    # Handlers, who may not merge, are not offered candidates.
    sign_in(client, "d1s1c1-handler")
    dispatch(session, settings, fresh(session, unrelated), "D1S1C1", now)
    session.commit()
    assert client.get(f"/staff/requests/{unrelated.tracking_number}").context["page"].duplicates == []
