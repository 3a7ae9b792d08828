"""The anonymous column of the authorisation matrix, over every API operation the OpenAPI document lists: a caller
without credentials gets nothing (401, 403, 404, or a refusal of its input) except from the operations listed here
as public. A new endpoint joins the check by existing; one that answers strangers must be added to PUBLIC."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .factories import City

# (method, path) answering anonymous callers with data, on purpose.
PUBLIC = {
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/auth/token"),  # signing in
    ("POST", "/api/v1/requests"),  # anonymous reports (rate-limited, contact required)
    ("POST", "/api/v1/track"),  # tracking by number and the phone's last four digits
    ("DELETE", "/api/v1/auth/session"),  # signing out without a session does nothing (204)
    # The organisation tree and its areas (where to report, who is responsible) are public information.
    ("GET", "/api/v1/units"),
    ("GET", "/api/v1/units/{unit_id}"),
    ("GET", "/api/v1/units/{unit_id}/area"),
    # Credit supervision publishes its measures and inspection plans (双随机、一公开); the knowledge base its
    # published articles. Found public by this test; their domains' docs say so.
    ("GET", "/api/v1/credit/measures"),
    ("GET", "/api/v1/credit/plans"),
    ("GET", "/api/v1/knowledge/articles"),
    # The publishing point and residents' participation (docs/channels.md, docs/participation.md): what units
    # published, the comments shown on public issues (moderated), the monthly focus topics.
    ("GET", "/api/v1/publications"),
    ("GET", "/api/v1/issues/{request_id}/comments"),
    ("GET", "/api/v1/topics"),
    ("GET", "/api/v1/categories"),  # what one may report
    ("GET", "/api/v1/categories/{code}"),
}
# Reads that are public by their standard: Open311 GeoReport, CKAN's Action API and the DCAT catalogues (DCAT-AP's
# /catalog, DCAT-US's /data.json).
PUBLIC_READS = ("/open311/", "/api/3/", "/catalog", "/data.json")
PLACEHOLDERS = {"fmt": "json", "ref": "26120600000001", "number": "26120600000001", "service_code": "litter"}
REFUSED = {400, 401, 403, 404, 405, 409, 413, 415, 422, 429}


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PLACEHOLDERS.get(m.group(1), "1"), path)


def test_anonymous_callers_get_nothing_but_the_public_operations(client: TestClient, city: City) -> None:
    spec = client.get("/openapi.json").json()
    answered = []
    checked = 0
    for path, operations in spec["paths"].items():
        for method in operations:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            key = (method.upper(), path)
            if key in PUBLIC or (method == "get" and path.startswith(PUBLIC_READS)):
                continue
            response = client.request(method.upper(), fill(path), json={} if method != "get" else None)
            checked += 1
            if response.status_code not in REFUSED:
                answered.append(f"{key}: {response.status_code}")
    assert checked > 50
    assert answered == [], "\n".join(answered)
