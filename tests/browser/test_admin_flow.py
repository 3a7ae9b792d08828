"""An administrator in a real browser: signs in, uploads a unit's area from a GeoJSON file (a bad file first, whose
error shows next to the field), sees it on the map, and creates a category with time limits and a question.
Every admin page is saved as a screenshot (test-artifacts/admin-*.png), on a desktop and at 360 px.

The area uploaded is the community's own rectangle from tests/factories.py, so that the other browser tests sharing
the live server route exactly as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from ..factories import rectangle
from .support import PASSWORD, LiveServer, screenshot

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [0.4, 0.4], [0.4, 0], [0, 0.4], [0, 0]]]}


def _sign_in(page: Page, server: LiveServer, next_path: str = "/staff/admin") -> None:
    page.goto(server.url(f"/login?next={next_path}"))
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"**{next_path}")


def _unit_id(server: LiveServer, code: str) -> int:
    units = httpx.get(server.url("/api/v1/units")).json()
    found: int = next(u["id"] for u in units if u["code"] == code)
    return found


def test_admin_uploads_an_area_and_creates_a_category(
    live_server: LiveServer, desktop_page: Page, tmp_path: Path
) -> None:
    page = desktop_page
    _sign_in(page, live_server)
    expect(page.get_by_role("heading", name="系统管理", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="系统管理").first).to_be_visible()
    screenshot(page, "admin-home-zh")

    # The unit tree, a search, and the community's page.
    page.get_by_role("link", name="单位与辖区").first.click()
    expect(page.get_by_role("heading", name="单位与辖区", level=1)).to_be_visible()
    screenshot(page, "admin-units-zh")
    page.get_by_label("按名称或编码搜索单位").fill("D1S1C1")
    page.get_by_label("按名称或编码搜索单位").press("Enter")
    expect(page.get_by_role("heading", name="与“D1S1C1”匹配的单位")).to_be_visible()
    page.get_by_role("link", name="D1S1C1中文").click()
    expect(page.get_by_role("heading", name="D1S1C1中文", level=1)).to_be_visible()

    # A self-intersecting polygon: refused, the message next to the file field.
    bad = tmp_path / "bowtie.geojson"
    bad.write_text(json.dumps(BOWTIE), encoding="utf-8")
    page.get_by_label("上传辖区范围（GeoJSON 文件）").set_input_files(str(bad))
    page.get_by_role("button", name="保存辖区范围").click()
    expect(page.locator("#area-error")).to_contain_text("多边形在 0.2, 0.2（经度, 纬度）附近自相交。")
    expect(page.locator("#area[aria-invalid=true]")).to_be_visible()
    screenshot(page, "admin-unit-area-error-zh")

    # A file over the limit is refused in the page, before the server would refuse the whole body.
    huge = tmp_path / "huge.geojson"
    huge.write_bytes(b" " * (6 * 1024 * 1024))
    page.get_by_label("上传辖区范围（GeoJSON 文件）").set_input_files(str(huge))
    page.get_by_role("button", name="保存辖区范围").click()
    expect(page.locator("#area-error")).to_have_text("文件过大：不能超过 2 MB。")
    expect(page.get_by_label("上传辖区范围（GeoJSON 文件）")).to_be_focused()

    # The community's own rectangle as a Feature: saved, drawn on the map from the server's copy.
    good = tmp_path / "d1s1c1.geojson"
    feature = {"type": "Feature", "properties": {"name": "D1S1C1"}, "geometry": rectangle(0, 0, 0.5, 0.5)}
    good.write_text(json.dumps(feature, ensure_ascii=False, indent=2), encoding="utf-8")
    page.get_by_label("上传辖区范围（GeoJSON 文件）").set_input_files(str(good))
    page.get_by_role("button", name="保存辖区范围").click()
    page.wait_for_url("**?done=area")
    expect(page.get_by_role("status")).to_have_text("辖区范围已保存，此后的诉求将按此范围派单。")
    expect(page.locator("#area-map path.leaflet-interactive")).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "admin-unit-zh")
    stored = httpx.get(live_server.url(f"/api/v1/units/{_unit_id(live_server, 'D1S1C1')}/area")).json()
    assert stored["geometry"] == rectangle(0, 0, 0.5, 0.5)

    page.goto(live_server.url(f"/staff/admin/units/new?parent={_unit_id(live_server, 'D1S1')}"))
    expect(page.get_by_label("上级单位")).to_have_value(str(_unit_id(live_server, "D1S1")))
    screenshot(page, "admin-unit-new-zh")

    # A new category: a wrong time limit first, then the whole form.
    page.get_by_role("link", name="诉求类别").first.click()
    expect(page.get_by_role("heading", name="诉求类别", level=1)).to_be_visible()
    screenshot(page, "admin-categories-zh")
    page.get_by_role("link", name="新建类别").click()
    page.get_by_label("编码", exact=True).fill("noise")
    page.get_by_label("中文名称").fill("噪声扰民")
    page.get_by_label("英文名称").fill("Noise")
    page.get_by_label("中文分组").fill("环境")
    page.get_by_label("英文分组").fill("Environment")
    page.get_by_label("承办单位类型").select_option("street")
    page.get_by_label("优先级").select_option("high")
    page.get_by_label("签收", exact=True).fill("30m")
    page.get_by_label("联系诉求人").fill("2h")
    page.get_by_label("答复", exact=True).fill("3x")
    page.get_by_label("回访").fill("7wd")
    page.get_by_label("问题编码").fill("when")
    page.get_by_label("问题内容").fill("什么时候最吵？")
    page.get_by_label("回答类型").select_option("singlevaluelist")
    page.get_by_label("必须回答").check()
    page.get_by_label("可选值（仅列表类回答）").fill("day = 白天\nnight = 夜间")
    page.get_by_role("button", name="创建类别").click()
    expect(page.locator("#limit_reply-error")).to_contain_text("时限“3x”无效")
    expect(page.get_by_label("中文名称")).to_have_value("噪声扰民")
    expect(page.get_by_label("可选值（仅列表类回答）").first).to_have_value("day = 白天\nnight = 夜间")
    screenshot(page, "admin-category-error-zh")
    page.get_by_label("答复", exact=True).fill("3d")
    page.get_by_role("button", name="创建类别").click()
    page.wait_for_url("**/staff/admin/categories/noise?done=created")
    expect(page.get_by_role("status")).to_have_text("类别已创建。")
    screenshot(page, "admin-category-zh")
    created = httpx.get(live_server.url("/api/v1/categories/noise")).json()
    assert created["time_limits"] == {"sign": "30m", "contact": "2h", "reply": "3d", "review": "7wd"}
    assert created["default_priority"] == "high" and created["handler_kind"] == "street"
    assert created["attributes"][0]["code"] == "when" and created["attributes"][0]["required"] is True
    assert [v["key"] for v in created["attributes"][0]["values"]] == ["day", "night"]

    # Users and roles: the list with masked phones, a user's page, the new-user form.
    page.get_by_role("link", name="用户与角色").first.click()
    expect(page.get_by_role("heading", name="用户与角色", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name="138****0000").first).to_be_visible()
    screenshot(page, "admin-users-zh")
    page.get_by_role("link", name="d1s1-handler").click()
    expect(page.get_by_role("heading", name="授予角色")).to_be_visible()
    screenshot(page, "admin-user-zh")
    # Grant a role: the unit list filtered by typing, then chosen.
    page.get_by_role("combobox", name="角色", exact=True).select_option("supervisor")
    page.get_by_label("筛选单位").fill("D2S1C2")
    expect(page.locator("#unit option:not([hidden])")).to_have_count(2)  # "Choose…" and the match
    page.get_by_label("所在单位").select_option(str(_unit_id(live_server, "D2S1C2")))
    page.get_by_role("button", name="授予角色").click()
    expect(page.get_by_role("status")).to_have_text("角色已授予。")
    expect(page.get_by_role("listitem").filter(has_text="督办员")).to_contain_text("D2S1C2中文")
    page.goto(live_server.url("/staff/admin/users/new"))
    expect(page.get_by_role("heading", name="新建用户", level=1)).to_be_visible()
    screenshot(page, "admin-user-new-zh")


ADMIN_PAGES = [
    ("/staff/admin", "home", "Administration"),
    ("/staff/admin/units", "units", "Units and areas"),
    ("/staff/admin/categories", "categories", "Categories"),
    ("/staff/admin/categories/litter", "category", "Category litter"),
    ("/staff/admin/users", "users", "Users and roles"),
    ("/staff/admin/users/new", "user-new", "New user"),
]


@pytest.mark.parametrize(("path", "name", "heading"), ADMIN_PAGES, ids=[p[1] for p in ADMIN_PAGES])
def test_admin_pages_fit_a_phone_in_english(
    live_server: LiveServer, mobile_page: Page, path: str, name: str, heading: str
) -> None:
    """At 360 px nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    page = mobile_page
    _sign_in(page, live_server, path)
    page.goto(live_server.url(path + "?lang=en"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{path} is {width} px wide at 360 px"
    screenshot(page, f"admin-{name}-en-360")
    page.goto(live_server.url(path + "?lang=zh"))


def test_keyboard_reaches_the_area_upload(live_server: LiveServer, desktop_page: Page) -> None:
    page = desktop_page
    _sign_in(page, live_server, f"/staff/admin/units/{_unit_id(live_server, 'D2S1')}")
    page.locator("#area").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="保存辖区范围")).to_be_focused()
