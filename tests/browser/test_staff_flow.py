"""The life of one request in a real browser: a resident reports it on a phone with a map point and a photo; a
dispatcher dispatches it (a refused attempt first, its error next to the field); the community's handler signs,
contacts the resident and replies; the resident rates the reply. Then a supervisor finds an overdue request on the
overdue board and adds a note, and a visitor says "me too" on the public list (htmx, in place).

Each staff member signs in on the desktop through /login; the pages' own forms do every step.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.jobs.service import detect_overdue

from ..steps import dispatch, submit
from .support import PASSWORD, LiveServer, screenshot, wait_triaged
from .test_resident import _photo

PHONE = "13655557777"
REPLY = "已安排环卫工人清运，并加装了一个垃圾桶。"


def _sign_in(page: Page, server: LiveServer, username: str, next_path: str = "/staff") -> None:
    page.context.clear_cookies()
    page.goto(server.url(f"/login?next={next_path}"))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"**{next_path}")


def _report(page: Page, server: LiveServer, tmp_path: Path) -> str:
    page.goto(server.url("/submit"))
    page.get_by_label("您要反映什么问题？").fill("菜市场门口垃圾堆了三天，没人清理。")
    page.get_by_label("类别", exact=True).select_option("litter")
    city_map = page.get_by_role("region", name="城市地图")
    expect(city_map.locator("path.leaflet-interactive").first).to_be_visible()
    box = city_map.bounding_box()
    assert box is not None
    city_map.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.4})
    expect(city_map.locator(".leaflet-marker-icon")).to_have_count(1)
    page.get_by_label("照片").set_input_files(_photo(tmp_path))
    page.get_by_label("姓名", exact=True).fill("李娜")
    page.get_by_label("电话", exact=True).fill(PHONE)
    page.get_by_label("我同意为办理此诉求使用我的联系方式。").check()
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.get_by_role("heading", name="诉求已受理", level=1)).to_be_visible()
    number = page.locator("p.number").inner_text().strip()
    assert re.fullmatch(r"\d{6,20}", number), number
    return number


def _open_step(page: Page, code: str) -> None:
    step = page.locator(f"#act-{code}")
    if step.get_attribute("open") is None:
        step.locator("summary").click()
    expect(step.locator("form")).to_be_visible()


def _take_step(page: Page, code: str, notice: str) -> None:
    page.locator(f"#act-{code}").locator("button[type=submit]").click()
    expect(page.get_by_role("status")).to_have_text(notice)


def test_a_request_from_report_to_rating(
    live_server: LiveServer, mobile_page: Page, desktop_page: Page, tmp_path: Path
) -> None:
    number = _report(mobile_page, live_server, tmp_path)
    # The server's triage worker reads it before the staff's writes (its batch holds SQLite's one write lock).
    wait_triaged(live_server, number)

    # The dispatcher finds it in the inbox and dispatches it to the community.
    staff = desktop_page
    _sign_in(staff, live_server, "dispatcher")
    expect(staff.get_by_role("heading", name="工单", level=1)).to_be_visible()
    screenshot(staff, "staff-inbox-zh")
    staff.get_by_role("link", name=number).click()
    expect(staff.get_by_role("heading", name="派单建议")).to_be_visible()
    _open_step(staff, "dispatch")
    form = staff.locator("#act-dispatch")
    form.get_by_label("主办单位").select_option("")
    form.get_by_label("给承办单位的说明（可选）").fill("请今天内清理")
    form.locator("button[type=submit]").click()
    # Refused: the reason next to the field, the form still open, what was typed kept.
    expect(staff.locator("#dispatch-lead_unit_id-error")).to_have_text("请选择承办单位。")
    expect(staff.get_by_label("给承办单位的说明（可选）")).to_have_value("请今天内清理")
    screenshot(staff, "staff-request-refused-zh")
    staff.locator("#act-dispatch").get_by_label("主办单位").select_option(label="D1S1C1中文")
    _take_step(staff, "dispatch", "已派单。")
    expect(staff.locator("dl.facts").first).to_contain_text("D1S1C1中文")
    screenshot(staff, "staff-request-dispatched-zh")

    # The community's handler signs, records the call and replies.
    _sign_in(staff, live_server, "d1s1c1-handler", f"/staff/requests/{number}")
    expect(staff.locator("dl.facts").last).to_contain_text(
        PHONE
    )  # the handler must call: the number is shown
    _open_step(staff, "sign")
    _take_step(staff, "sign", "已签收。")
    _open_step(staff, "contact")
    staff.locator("#act-contact").get_by_label("备注（可选）").fill("电话联系了李女士，约定下午处理")
    _take_step(staff, "contact", "联系情况已记录。")
    _open_step(staff, "reply")
    staff.get_by_label("答复诉求人").fill(REPLY)
    screenshot(staff, "staff-request-reply-zh")
    _take_step(staff, "reply", "答复已记录。")
    expect(staff.locator("ol.timeline > li")).to_have_count(5)

    # The resident rates the reply on the phone.
    resident = mobile_page
    resident.goto(live_server.url("/track"))
    resident.get_by_label("诉求编号", exact=True).fill(number)
    resident.get_by_label("手机号后四位").fill(PHONE[-4:])
    resident.get_by_role("button", name="查询诉求", exact=True).click()
    expect(resident.get_by_text(REPLY)).to_be_visible()
    resident.get_by_role("group", name="问题是否已解决？").get_by_label("是", exact=True).check()
    resident.get_by_label("您的满意程度？").select_option("5")
    resident.get_by_role("button", name="提交评价").click()
    expect(resident.get_by_text("5/5")).to_be_visible()

    # Back on the staff page: rated, nothing left for the handler but what the workflow allows.
    staff.reload()
    expect(staff.locator("dl.facts").first).to_contain_text("已回访")


def test_supervisor_adds_a_note_from_the_overdue_board(live_server: LiveServer, desktop_page: Page) -> None:
    settings = Settings(database_url=live_server.database_url, environment="test")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    with get_sessionmaker(live_server.database_url)() as session:
        late = submit(session, settings, long_ago, phone="13600001111")
        dispatch(session, settings, late, "D1S1C1", long_ago)
        session.commit()
        detect_overdue(session, settings, dt.datetime.now(dt.UTC))
        session.commit()
        number = late.tracking_number
    get_engine(live_server.database_url).dispose()

    page = desktop_page
    _sign_in(page, live_server, "supervisor", "/staff/overdue")
    expect(page.get_by_role("heading", name="超期督办看板", level=1)).to_be_visible()
    row = page.locator("tr", has=page.get_by_role("link", name=number))
    expect(row).to_contain_text("签收")
    screenshot(page, "staff-overdue-zh")
    row.get_by_label("督办意见").fill("请今天内签收并联系居民")
    row.get_by_role("button", name="添加督办意见").click()
    expect(page.get_by_role("status")).to_have_text("督办意见已添加。")
    page.get_by_role("link", name=number).click()
    expect(page.locator("ol.timeline")).to_contain_text("请今天内签收并联系居民")
    screenshot(page, "staff-request-supervised-zh")


def test_visitor_says_me_too(live_server: LiveServer, mobile_page: Page) -> None:
    """Support needs identity level 1 (a verified phone): the visitor is led through a code and back to the list."""
    page = mobile_page
    page.context.clear_cookies()
    page.goto(live_server.url("/issues?lang=en"))
    card = page.locator("li.card").first
    expect(card).to_be_visible()
    card.get_by_role("button", name=re.compile("^Me too")).click()
    page.wait_for_url(re.compile(r".*/verify\?level=1&next=%2Fissues%23issue-\d+$"))
    expect(page.locator("#visitor-intro")).to_contain_text("identity level 1")
    page.get_by_label("Mobile phone number").fill("13700002222")
    page.get_by_role("button", name="Send a code", exact=True).click()
    code = re.search(r"(\d{6})", page.locator("#demo-code").inner_text())  # recorded, not sent, in tests
    assert code
    screenshot(page, "issues-me-too-verify-en")
    page.get_by_label("One-time code").fill(code.group(1))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r".*/issues#issue-\d+$"))
    card = page.locator("li.card").first
    card.get_by_role("button", name=re.compile("^Me too")).click()
    expect(card.get_by_text("You said: me too")).to_be_visible()
    expect(card).to_contain_text("1 residents have the same problem")
    screenshot(page, "issues-me-too-en")
    page.reload()
    expect(page.locator("li.card").first.get_by_text("You said: me too")).to_be_visible()
