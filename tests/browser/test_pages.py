"""The public pages open in a real browser in both languages (a screenshot of each), and a resident signs in."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .support import PASSWORD, LiveServer, screenshot

# path, name of the screenshot, the page's heading in Chinese and in English
PAGES = [
    ("/", "home", "告诉城市哪里需要解决", "Tell the city what needs fixing"),
    ("/issues", "issues", "公开诉求", "Public issues"),
    ("/login", "login", "登录", "Sign in"),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("path", "name", "zh", "en"), PAGES, ids=[p[1] for p in PAGES])
def test_public_page_renders(
    live_server: LiveServer, mobile_page: Page, path: str, name: str, zh: str, en: str, lang: str
) -> None:
    page = mobile_page
    page.goto(live_server.url(path + ("?lang=en" if lang == "en" else "")))
    expect(page.locator("html")).to_have_attribute("lang", "en" if lang == "en" else "zh-Hans")
    expect(page.get_by_role("heading", name=en if lang == "en" else zh, level=1)).to_be_visible()
    # Pages with a map draw the city's own areas, fetched from the server.
    for city_map in page.locator(".map").all():
        expect(city_map.locator("path.leaflet-interactive").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, f"{name}-{lang}")


def test_resident_signs_in_and_sees_own_requests(live_server: LiveServer, mobile_page: Page) -> None:
    page = mobile_page
    page.goto(live_server.url("/login"))
    page.get_by_label("用户名").fill("resident")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("heading", name="登录", level=1)).to_be_visible()
    expect(page.locator("#password[aria-invalid=true]")).to_be_visible()

    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url("**/track")
    expect(page.get_by_role("heading", name="我的诉求")).to_be_visible()
    screenshot(page, "track-signed-in-zh")
