"""Errors a browser causes come back as pages in its language, never as JSON or a stack trace; API clients keep
the JSON envelope. The report form's body may carry all its photos."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.photos import photos_of

from .factories import City

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_too_large_bodies_get_a_page_in_browsers_and_json_for_api_clients(
    client: TestClient, settings: Settings
) -> None:
    big = b"x" * (settings.max_photo_bytes * settings.max_photos_per_request + 2 * 1024 * 1024)
    page = client.post("/submit", content=big, headers={**HTML, "Content-Type": "application/octet-stream"})
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "请求体过大" in page.text and "请返回上一页" in page.text
    english = client.post(
        "/submit?lang=en", content=big, headers={**HTML, "Content-Type": "application/octet-stream"}
    )
    assert "The request body is too large" in english.text
    api = client.post("/api/v1/requests", content=big, headers={"Content-Type": "application/json"})
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "body_too_large"


def _png(size: int) -> bytes:
    """A PNG of about `size` bytes (noise does not compress)."""
    import os

    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_report_form_may_carry_several_photos(client: TestClient, city: City, settings: Settings) -> None:
    """Two photos of 3 MB are more than one photo's limit together, but within what the form allows."""
    photo = _png(3 * 1024 * 1024)
    assert len(photo) > settings.max_photo_bytes / 2
    form = client.get("/submit")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/submit",
        data={
            "csrf_token": token,
            "text": "路灯坏了",
            "category": "litter",
            "lat": "0.2",
            "lon": "0.2",
            "contact_phone": "13900001234",
            "consent": "yes",
        },
        files=[("photos", ("a.png", photo, "image/png")), ("photos", ("b.png", photo, "image/png"))],
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[response.text.find("<main") :][
        :1500
    ]  # the form's errors
    number = response.headers["location"].rsplit("/", 1)[-1]
    with get_sessionmaker(settings.database_url)() as session:
        row = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
        assert row is not None
        assert len(photos_of(session, row)) == 2


def test_wrong_method_gets_a_page(client: TestClient) -> None:
    page = client.delete("/submit", headers=HTML)
    assert page.status_code == 405
    assert page.headers["content-type"].startswith("text/html")
    assert "该地址不支持此请求方法" in page.text
    api = client.delete("/api/v1/requests")
    assert api.status_code == 405 and api.json()["error"]["code"] == "method_not_allowed"
