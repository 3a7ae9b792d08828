"""A resident follows a request through its handling and rates the answer on the tracking page.

The staff's steps (dispatch, sign, contact, reply) are taken through the API here: the resident's side is what runs
in the browser.
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from .support import PASSWORD, LiveServer, screenshot, wait_triaged

PHONE = "13700001234"
REPLY = "垃圾已清运完毕，并增加了清运频次。"


def _token(server: LiveServer, username: str) -> dict[str, str]:
    response = httpx.post(server.url("/api/v1/auth/token"), json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _handled_request(server: LiveServer) -> str:
    """An anonymous web report in community D1S1C1, dispatched, signed, contacted and replied to."""
    created = httpx.post(
        server.url("/api/v1/requests"),
        json={
            "text": "楼下垃圾站满了，气味很大。",
            "category": "litter",
            "lat": 0.2,
            "lon": 0.2,
            "contact_phone": PHONE,
        },
    )
    assert created.status_code == 201, created.text
    number: str = created.json()["request"]["tracking_number"]
    # The server's triage worker reads it (and routes it) before the steps' writes: its batch holds SQLite's lock.
    wait_triaged(server, number)
    dispatcher = _token(server, "dispatcher")
    detail = httpx.get(server.url(f"/api/v1/requests/{number}"), headers=dispatcher).json()
    lead = detail["routing"]["unit"]["id"]
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("dispatcher", "dispatch", {"lead_unit_id": lead}),
        ("d1s1c1-handler", "sign", None),
        ("d1s1c1-handler", "contact", {"note": "电话联系了报告人"}),
        ("d1s1c1-handler", "reply", {"text": REPLY}),
    ]
    for username, step, body in steps:
        response = httpx.post(
            server.url(f"/api/v1/requests/{number}/{step}"), json=body, headers=_token(server, username)
        )
        assert response.status_code == 200, (step, response.text)
    return number


def test_resident_rates_the_reply(live_server: LiveServer, mobile_page: Page) -> None:
    number = _handled_request(live_server)
    page = mobile_page
    page.goto(live_server.url(f"/track?number={number}"))
    page.get_by_label("诉求编号", exact=True).fill(number)
    page.get_by_label("手机号后四位").fill(PHONE[-4:])
    page.get_by_role("button", name="查询诉求", exact=True).click()

    timeline = page.locator("ol.timeline > li")
    expect(timeline).to_have_count(5)  # received, dispatched, signed, contacted, replied
    expect(page.get_by_text(REPLY)).to_be_visible()
    expect(page.get_by_role("heading", name="评价办理结果")).to_be_visible()

    solved = page.get_by_role("group", name="问题是否已解决？")
    solved.get_by_label("是", exact=True).check()
    page.get_by_label("您的满意程度？").select_option("5")
    page.get_by_label("意见（选填）").fill("处理及时，谢谢！")
    screenshot(page, "track-rate-zh")
    page.get_by_role("button", name="提交评价").click()

    expect(page.get_by_role("status")).to_be_visible()
    expect(page.get_by_text("5/5")).to_be_visible()
    expect(page.get_by_role("heading", name="评价办理结果")).to_have_count(0)
    expect(timeline).to_have_count(6)
    screenshot(page, "track-rated-zh")

    stored = httpx.get(
        live_server.url(f"/api/v1/requests/{number}"), headers=_token(live_server, "supervisor")
    ).json()
    assert stored["status"] == "reviewed"
    assert stored["events"][-1]["action"] == "review"
