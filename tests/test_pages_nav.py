"""The header shows each person the pages their roles open, and only those."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .factories import City
from .test_pages_staff import sign_in

LINKS = ('href="/staff"', 'href="/staff/overdue"', 'href="/dashboard"', 'href="/staff/admin"')


def _links(client: TestClient) -> set[str]:
    page = client.get("/issues")
    assert page.status_code == 200
    return {link for link in LINKS if link in page.text}


def test_header_links_follow_the_roles(client: TestClient, city: City) -> None:
    assert _links(client) == set()
    sign_in(client, "resident")
    assert _links(client) == set()
    sign_in(client, "d1s1c1-handler")
    assert _links(client) == {'href="/staff"', 'href="/staff/overdue"'}
    sign_in(client, "supervisor")
    assert _links(client) == {'href="/staff"', 'href="/staff/overdue"', 'href="/dashboard"'}
    sign_in(client, "leader")
    assert 'href="/dashboard"' in _links(client)
    sign_in(client, "admin")
    assert _links(client) == set(LINKS)
    assert client.get("/dashboard").status_code == 200
