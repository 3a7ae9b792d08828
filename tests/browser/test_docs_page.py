"""The API documentation at /docs renders fully in a real browser without anything from outside."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .support import LiveServer, Recorder, screenshot


def test_swagger_ui_renders_offline(live_server: LiveServer, desktop_page: Page, recorder: Recorder) -> None:
    page = desktop_page
    page.goto(live_server.url("/docs"))
    # The operations list is built by Swagger UI's JavaScript from /openapi.json: it appears only when the
    # vendored bundle and the spec both loaded.
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    expect(page.get_by_text("/api/v1/health").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "docs")
    assert any(url.endswith("/openapi.json") for url in recorder.requests), recorder.requests
    assert not recorder.outside_requests(), recorder.outside_requests()


def test_recorder_tells_loopback_from_outside() -> None:
    recorder = Recorder(
        requests=[
            "http://127.0.0.1:8000/docs",
            "http://localhost:8000/x",
            "http://[::1]:8000/y",
            "data:image/png;base64,AAAA",
            "https://unpkg.com/swagger-ui-dist/swagger-ui.css",
            "http://127.0.0.2.example.org/z",
        ]
    )
    assert recorder.outside_requests() == [
        "https://unpkg.com/swagger-ui-dist/swagger-ui.css",
        "http://127.0.0.2.example.org/z",
    ]
