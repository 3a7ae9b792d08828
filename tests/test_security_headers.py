"""Browser-side protections on every response: each GET route of the application (path parameters filled with
placeholders), anonymous and signed in, answers with the security headers, whatever its status; no template
holds an inline script or event handler (the CSP would refuse it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.security.headers import content_security_policy

from .factories import City
from .test_api_errors import token_headers

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "chengzhi" / "web" / "templates"
PLACEHOLDERS = {"fmt": "json", "ref": "X1", "number": "X1", "service_code": "litter"}


def get_paths(client: TestClient) -> list[str]:
    """Every GET address of the application, path parameters filled in."""
    paths = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            paths.append(route.path + "/app.css")
            continue
        # FastAPI 0.165 keeps included routers whole: their routes are the router's effective contexts.
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            if "GET" in (getattr(context, "methods", None) or set()):
                paths.append(
                    re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PLACEHOLDERS.get(m.group(1), "1"), context.path)
                )
    return sorted(set(paths))


def assert_protected(path: str, headers: Mapping[str, str]) -> None:
    h = {k.lower(): v for k, v in headers.items()}
    csp = h.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], (
        path
    )
    assert "unsafe-eval" not in csp, path
    assert "frame-ancestors 'none'" in csp, path
    assert h.get("x-content-type-options") == "nosniff", path
    assert h.get("referrer-policy") == "strict-origin-when-cross-origin", path
    assert h.get("x-frame-options") == "DENY", path
    if not path.startswith("/static/"):
        assert "cache-control" in h, path
        if "public" not in h["cache-control"]:
            assert h["cache-control"] == "no-store", path


def test_every_page_and_api_answer_carries_the_headers(client: TestClient, city: City) -> None:
    paths = get_paths(client)
    assert len(paths) > 60, "the routes were not found"
    admin = token_headers(client, "admin")
    for path in paths:
        for headers in ({"accept": "text/html"}, admin):
            response = client.get(path, headers=headers, follow_redirects=False)
            assert response.status_code < 500, (path, response.status_code)
            assert_protected(path, response.headers)
            assert "strict-transport-security" not in response.headers, "HSTS only in production"


def test_errors_and_refused_bodies_carry_them_too(client: TestClient, city: City) -> None:
    for response in (
        client.get("/no/such/page", headers={"accept": "text/html"}),
        client.post("/api/v1/requests", content=b"x" * (7 * 1024 * 1024), headers={"content-type": "a/b"}),
        client.delete("/api/v1/health"),
    ):
        assert_protected("error", response.headers)


def test_pages_with_personal_data_are_not_stored(client: TestClient, city: City) -> None:
    staff = token_headers(client, "operator")
    for path in ("/api/v1/requests", "/api/v1/me", "/staff"):
        assert client.get(path, headers=staff).headers["cache-control"] == "no-store", path


def test_hsts_in_production_only(settings: Settings, city: City) -> None:
    production = settings.model_copy(update={"environment": "production"})
    with TestClient(create_app(production), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_the_map_tile_server_is_allowed_for_images_only() -> None:
    csp = content_security_policy("https://{s}.tiles.example.cn/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://*.tiles.example.cn" in csp
    assert "example.cn" not in csp.split("img-src")[0]


def test_api_docs_start_without_an_inline_script(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "<script>" not in page and "/static/swagger-init.js" in page
    assert client.get("/static/swagger-init.js").status_code == 200


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_no_template_holds_an_inline_script_or_handler(template: Path) -> None:
    source = template.read_text(encoding="utf-8")
    for tag in re.findall(r"<script\b[^>]*>", source):
        assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
    assert not re.search(r"<[a-zA-Z][^>]*\son[a-z]+\s*=\s*[\"']", source), template.name
    assert "javascript:" not in source, template.name
    assert "hx-on" not in source, template.name


def test_the_language_cookie_is_secure_where_sessions_are(settings: Settings, city: City) -> None:
    secure = settings.model_copy(update={"session_cookie_secure": True})
    with TestClient(create_app(secure), base_url="https://testserver") as client:
        cookie = client.get("/?lang=en").headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
