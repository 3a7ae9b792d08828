"""A resident on a phone: reports a problem with a map point and a photo, gets a number, tracks it; in both languages.

Elements are found by their labels and roles, as a screen reader would find them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from .support import PASSWORD, LiveServer, screenshot, wait_triaged


@dataclass(frozen=True)
class Words:
    """The visible words of the pages in one language (Chinese is the default, English with ?lang=en)."""

    query: str
    report: str
    text: str
    category: str
    map: str
    photos: str
    name: str
    phone: str
    consent: str
    send: str
    received: str
    track_link: str
    track_title: str
    number: str
    last4: str
    show: str
    timeline: str


ZH = Words(
    query="",
    report="反映问题",
    text="您要反映什么问题？",
    category="类别",
    map="城市地图",
    photos="照片",
    name="姓名",
    phone="电话",
    consent="我同意为办理此诉求使用我的联系方式。",
    send="提交",
    received="诉求已受理",
    track_link="查询此诉求",
    track_title="查询诉求进度",
    number="诉求编号",
    last4="手机号后四位",
    show="查询诉求",
    timeline="办理经过",
)
EN = Words(
    query="?lang=en",
    report="Report a problem",
    text="What is the problem?",
    category="Category",
    map="Map of the city",
    photos="Photos",
    name="Name",
    phone="Phone",
    consent="I agree that my contact details are used to handle this request.",
    send="Send",
    received="Request received",
    track_link="Track this request",
    track_title="Track a request",
    number="Tracking number",
    last4="Last four digits of your phone number",
    show="Show my request",
    timeline="What happened",
)


def _photo(folder: Path) -> Path:
    path = folder / "pothole.png"
    image = Image.new("RGB", (64, 48), (120, 110, 100))
    for x in range(20, 44):
        for y in range(16, 32):
            image.putpixel((x, y), (40, 40, 40))
    image.save(path, format="PNG")
    return path


def _staff_get(server: LiveServer, path: str) -> dict[str, Any]:
    token = httpx.post(
        server.url("/api/v1/auth/token"), json={"username": "operator", "password": PASSWORD}
    ).json()["access_token"]
    response = httpx.get(server.url(path), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("words", [ZH, EN], ids=["zh", "en"])
def test_resident_reports_with_point_and_photo_then_tracks(
    live_server: LiveServer, mobile_page: Page, tmp_path: Path, words: Words
) -> None:
    page = mobile_page
    lang = "en" if words is EN else "zh"
    phone = "13912345678" if words is ZH else "13987654321"
    text = (
        "小区门口的垃圾桶满了，三天没人清运。"
        if words is ZH
        else "The bins at the gate are full for three days."
    )

    page.goto(live_server.url("/submit" + words.query))
    expect(page.get_by_role("heading", name=words.report, level=1)).to_be_visible()
    page.get_by_label(words.text).fill(text)
    page.get_by_label(words.category, exact=True).select_option("litter")

    # The map shows the city's own areas (no tiles from outside); a tap places the point.
    city_map = page.get_by_role("region", name=words.map)
    expect(city_map.locator("path.leaflet-interactive").first).to_be_visible()
    box = city_map.bounding_box()
    assert box is not None
    city_map.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.4})
    expect(city_map.locator(".leaflet-marker-icon")).to_have_count(1)
    lat = float(page.locator("#lat").input_value())
    lon = float(page.locator("#lon").input_value())
    assert 0 < lat < 1 and 0 < lon < 2, (lat, lon)

    page.get_by_label(words.photos).set_input_files(_photo(tmp_path))
    page.get_by_label(words.name, exact=True).fill("王芳" if words is ZH else "Fang Wang")
    page.get_by_label(words.phone, exact=True).fill(phone)
    page.get_by_label(words.consent).check()
    screenshot(page, f"submit-{lang}")
    page.get_by_role("button", name=words.send, exact=True).click()

    expect(page.get_by_role("heading", name=words.received, level=1)).to_be_visible()
    number = page.locator("p.number").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Za-z-]{6,20}", number), number
    expect(page.get_by_role("link", name=words.track_link)).to_be_visible()
    screenshot(page, f"submitted-{lang}")
    # The server's triage worker reads it before the next writes (its batch holds SQLite's one write lock).
    wait_triaged(live_server, number)

    # What the server stored: the point, the category and the photo, as staff see it.
    stored = _staff_get(live_server, f"/api/v1/requests/{number}")
    assert stored["category"]["code"] == "litter"
    assert stored["lat"] == pytest.approx(lat, abs=1e-6) and stored["lon"] == pytest.approx(lon, abs=1e-6)
    assert len(stored["photos"]) == 1
    assert stored["text"] == text

    page.goto(live_server.url("/track" + words.query))
    expect(page.get_by_role("heading", name=words.track_title, level=1)).to_be_visible()
    page.get_by_label(words.number, exact=True).fill(number)
    page.get_by_label(words.last4).fill(phone[-4:])
    page.get_by_role("button", name=words.show, exact=True).click()

    expect(page.get_by_role("heading", name=words.timeline)).to_be_visible()
    expect(page.get_by_text(number, exact=True).first).to_be_visible()
    expect(page.locator("ol.timeline > li").first).to_be_visible()
    screenshot(page, f"track-{lang}")
