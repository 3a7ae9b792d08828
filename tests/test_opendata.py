"""Open data (docs/opendata.md): datasets and who sees them, tables and datastore_search, quality checks with
planted personal data, conditional access end to end through the API, the CKAN harvester's paging loop, and the
DCAT-AP 3 output validated by pyshacl against the SEMIC shapes with zero violations."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pyshacl import validate
from rdflib import Graph
from rdflib.namespace import DCTERMS

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.errors import Conflict, Forbidden
from chengzhi.jobs.service import run_job
from chengzhi.opendata import quality, service
from chengzhi.opendata.models import OpenLevel
from chengzhi.opendata.search import SearchParams, package_search
from chengzhi.org.service import ANONYMOUS

from .conftest import auth
from .factories import City, give_level, make_user
from .opendata_helpers import (
    STAFF,
    T0,
    add_table,
    build_catalogue,
    make_dataset,
    planted_id,
    publisher,
    table_csv,
)

SHAPES = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "standards"
    / "dcat-ap-3.0.0"
    / "dcat-ap-SHACL.ttl"
)


def _session(settings: Settings) -> Any:
    return get_sessionmaker(settings.database_url)()


def test_personal_data_detection_on_planted_values() -> None:
    good = planted_id(7)
    assert quality.is_id_card(good)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert not quality.is_id_card(bad)
    assert quality.find_personal(f"身份证 {good}") == {"id_card"}
    assert quality.find_personal(f"身份证 {bad}") == set()
    assert quality.find_personal("联系 13912345678") == {"mobile"}
    assert quality.find_personal("订单号 2026110112345678") == set()
    assert quality.mask_text(f"{good} 13912345678") == f"{good[:6]}********{good[14:]} 139****5678"


def test_visibility_by_open_level(settings: Settings, city: City) -> None:
    with _session(settings) as session, session.begin():
        cat = build_catalogue(session, settings, city)
        names = {ds.name for ds in package_search(session, ANONYMOUS, SearchParams(rows=100)).datasets}
        assert names == {"street-counts", "residents-conditional"}
        private = package_search(session, STAFF, SearchParams(rows=100, include_private=True)).datasets
        assert {ds.name for ds in private} == names | {"internal-list"}
        assert not service.may_read_data(session, ANONYMOUS, cat.conditional)
        assert service.may_read_data(session, ANONYMOUS, cat.open)
        assert service.may_read_data(session, cat.publisher, cat.conditional)
        assert not service.may_see(session, ANONYMOUS, cat.draft)
        assert service.may_see(session, cat.publisher, cat.draft)
        with pytest.raises(Forbidden):
            make_dataset(session, STAFF, city, "not-mine")
        history = service.history(session, cat.open)
        assert [v.action for v in history] == ["created", "resource_added", "published"]


def test_personal_data_blocks_unconditional_publication_until_masked(
    settings: Settings, city: City, client: TestClient
) -> None:
    with _session(settings) as session, session.begin():
        actor = publisher(session, city)
        ds = make_dataset(session, actor, city, "with-people", publish=False)
        add_table(session, settings, actor, ds, table_csv(30, personal=True))
        found = {(p["field"], p["kind"]) for p in ds.resources[0].quality["personal_data"]}
        assert found == {("证件号码", "id_card"), ("电话", "mobile"), ("姓名", "name")}
        assert ds.quality["score"] < 80
        with pytest.raises(Conflict):
            service.publish_dataset(session, actor, ds)
        resource_id = ds.resources[0].id
    headers = auth(client, "publisher")
    refused = client.post("/api/v1/opendata/datasets/with-people/publish", headers=headers)
    assert refused.status_code == 409 and "证件号码" not in refused.text
    masked = client.post(f"/api/v1/opendata/resources/{resource_id}/mask", headers=headers)
    assert masked.status_code == 200, masked.text
    assert masked.json()["quality"]["personal_data"] == []
    assert client.post("/api/v1/opendata/datasets/with-people/publish", headers=headers).status_code == 200
    rows = client.get(
        "/api/3/action/datastore_search", params={"resource_id": resource_id, "limit": 3}
    ).json()
    first = rows["result"]["records"][0]
    assert first["证件号码"].count("*") == 8 and first["电话"] == "139****0000"


def test_tables_through_datastore_search(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        cat = build_catalogue(session, settings, city)
        res = cat.open.resources[0]
        assert [(f["id"], f["type"]) for f in res.fields] == [
            ("街道", "text"),
            ("日期", "date"),
            ("数量", "int"),
            ("金额", "numeric"),
        ]
        resource_id, conditional_id = res.id, cat.conditional.resources[0].id
    search = "/api/3/action/datastore_search"
    body = client.post(
        search,
        json={
            "resource_id": resource_id,
            "filters": {"街道": "景山"},
            "sort": "数量 desc",
            "limit": 5,
            "offset": 1,
            "fields": ["数量", "日期"],
        },
    ).json()
    assert body["success"] is True
    result = body["result"]
    assert result["total"] == 13 and [r["数量"] for r in result["records"]] == [34, 31, 28, 25, 22]
    assert [f["id"] for f in result["fields"]] == ["数量", "日期"]
    assert result["records"][0]["日期"] == "2026-10-07"
    q = client.get(search, params={"resource_id": resource_id, "q": "交道口", "limit": 100}).json()["result"]
    assert q["total"] == 13
    typed = client.get(search, params={"resource_id": resource_id, "filters": json.dumps({"数量": "abc"})})
    assert typed.status_code == 409 and typed.json()["error"]["__type"] == "Validation Error"
    refused = client.get(search, params={"resource_id": conditional_id})
    assert refused.status_code == 403 and refused.json()["error"]["__type"] == "Authorization Error"
    download = client.get(f"/dataset/street-counts/resource/{resource_id}/download/data.csv")
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["_id", "街道", "日期", "数量", "金额"] and len(rows) == 41
    as_json = client.get(f"/dataset/street-counts/resource/{resource_id}/download/data.json").json()
    assert len(as_json["records"]) == 40 and as_json["records"][1]["金额"] == 1.5
    shown = client.get("/api/3/action/package_show", params={"id": "street-counts"}).json()["result"]
    extras = {e["key"]: e["value"] for e in shown["extras"]}
    assert extras["downloads"] == "2" and extras["api_calls"] == "2"


def test_conditional_access_end_to_end(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        cat = build_catalogue(session, settings, city)
        researcher_user = make_user(session, city, "researcher", city.users["resident"].roles[0].role, "city")
        resource_id = cat.conditional.resources[0].id
    researcher = auth(client, "researcher")
    search = "/api/action/datastore_search"
    assert client.get(search, params={"resource_id": resource_id}, headers=researcher).status_code == 403
    # Applying needs identity level 2 by default (a real name verified by an identity provider).
    unverified = client.post(
        "/api/v1/opendata/datasets/residents-conditional/applications",
        json={"purpose": "城市治理研究：各街道月度数量分析", "agreement_accepted": True},
        headers=researcher,
    )
    assert unverified.status_code == 403 and unverified.json()["error"]["code"] == "identity_level_required"
    with _session(settings) as session, session.begin():
        give_level(session, session.merge(researcher_user), 2)
    short = client.post(
        "/api/v1/opendata/datasets/residents-conditional/applications",
        json={"purpose": "研究", "agreement_accepted": True},
        headers=researcher,
    )
    assert short.status_code == 422
    applied = client.post(
        "/api/v1/opendata/datasets/residents-conditional/applications",
        json={"purpose": "城市治理研究：各街道月度数量分析", "agreement_accepted": True},
        headers=researcher,
    )
    assert applied.status_code == 201, applied.text
    application_id = applied.json()["id"]
    assert (
        client.post(
            f"/api/v1/opendata/applications/{application_id}/decision",
            json={"approve": True},
            headers=researcher,
        ).status_code
        == 403
    )
    publisher_headers = auth(client, "publisher")
    listed = client.get("/api/v1/opendata/applications", headers=publisher_headers).json()
    assert [a["id"] for a in listed] == [application_id]
    decided = client.post(
        f"/api/v1/opendata/applications/{application_id}/decision",
        json={"approve": True, "days": 30},
        headers=publisher_headers,
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    # CKAN clients send the bare token in Authorization.
    bare = {"Authorization": researcher["Authorization"].removeprefix("Bearer ")}
    rows = client.get(search, params={"resource_id": resource_id}, headers=bare)
    assert rows.status_code == 200 and rows.json()["result"]["total"] == 10
    assert client.get(search, params={"resource_id": resource_id}).status_code == 403


def _harvest(client: TestClient, since: dt.datetime | None) -> list[dict[str, Any]]:
    """ckanext-harvest's CKANHarvester._search_for_datasets, step for step."""
    params: dict[str, str] = {"rows": "100", "start": "0", "sort": "id asc"}
    if since is not None:
        params["fq"] = f"metadata_modified:[{since.replace(tzinfo=None).isoformat()}Z TO *]"
    found: list[dict[str, Any]] = []
    ids: set[str] = set()
    previous = None
    while True:
        content = client.get("/api/action/package_search", params=params).content
        assert content != previous, "the paging does not work"
        previous = content
        page = json.loads(content)["result"]["results"]
        page = [p for p in page if p["id"] not in ids]
        ids |= {p["id"] for p in page}
        found.extend(page)
        if not page:
            return found
        params["start"] = str(int(params["start"]) + int(params["rows"]))


def test_incremental_harvest_with_the_ckan_harvester_loop(
    settings: Settings, city: City, client: TestClient
) -> None:
    with _session(settings) as session, session.begin():
        actor = publisher(session, city)
        for i in range(230):
            make_dataset(session, actor, city, f"set-{i:03d}", now=T0 + dt.timedelta(minutes=i))
    full = _harvest(client, None)
    assert len(full) == 230 and [p["id"] for p in full] == sorted(p["id"] for p in full)
    since = T0 + dt.timedelta(days=1)
    later = since + dt.timedelta(hours=2)
    with _session(settings) as session, session.begin():
        for name in ("set-005", "set-150"):
            ds = service.get_dataset(session, actor, name)
            data = service.DatasetInput(
                name=ds.name, title=ds.title + "（修订）", unit_id=ds.unit_id, frequency="monthly"
            )
            service.update_dataset(session, actor, ds, data, now=later)
        gone = service.get_dataset(session, actor, "set-200")
        service.withdraw_dataset(session, actor, gone, now=later)
    changed = _harvest(client, since)
    assert sorted(p["name"] for p in changed) == ["set-005", "set-150", "set-200"]
    states = {p["name"]: p["state"] for p in changed}
    assert states == {"set-005": "active", "set-150": "active", "set-200": "deleted"}
    assert len(_harvest(client, None)) == 229
    newest = client.get(
        "/api/3/action/package_search", params={"sort": "metadata_modified desc", "rows": 2}
    ).json()["result"]
    assert newest["count"] == 229 and {p["name"] for p in newest["results"]} == {"set-005", "set-150"}
    deep = client.get("/api/3/action/package_search", params={"sort": "id asc", "rows": 1000, "start": 200})
    assert len(deep.json()["result"]["results"]) == 29
    bad = client.get("/api/3/action/package_search", params={"fq": "metadata_modified:[yesterday TO *]"})
    assert bad.status_code == 409 and bad.json()["error"]["__type"] == "Search Query Error"


def test_search_filters_facets_and_organisations(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        build_catalogue(session, settings, city)
        other = publisher(session, city, "publisher2", "D2")
        make_dataset(session, other, city, "d2-buses", unit="D2", tags=("公交", "街道"))
    search = "/api/3/action/package_search"
    d1 = client.get(
        search, params={"fq": "organization:D1", "facet.field": '["organization","tags","groups"]'}
    )
    result = d1.json()["result"]
    assert result["count"] == 2
    assert result["facets"]["organization"] == {"D1": 2}
    assert result["search_facets"]["tags"]["items"] == [{"name": "街道", "display_name": "街道", "count": 2}]
    words = client.get(search, params={"q": "buses"}).json()["result"]
    assert [p["name"] for p in words["results"]] == ["d2-buses"]
    tagged = client.get(search, params={"fq": "tags:公交 -organization:D1"}).json()["result"]
    assert tagged["count"] == 1
    orgs = client.get("/api/3/action/organization_list", params={"all_fields": "true"}).json()["result"]
    assert [(o["name"], o["package_count"]) for o in orgs] == [("D1", 2), ("D2", 1)]
    assert (
        client.get("/api/3/action/group_show", params={"id": "regions"}).json()["result"]["package_count"]
        == 3
    )
    assert client.get("/api/3/action/tag_list").json()["result"] == ["公交", "街道"]
    missing = client.get("/api/3/action/package_show", params={"id": "internal-list"})
    assert missing.status_code == 404 and missing.json()["error"]["__type"] == "Not Found Error"
    unknown = client.get("/api/3/action/no_such_action")
    assert unknown.status_code == 400 and unknown.json()["success"] is False


def _validate(graph: Graph) -> None:
    shapes = Graph().parse(SHAPES, format="turtle")
    conforms, _, text = validate(graph, shacl_graph=shapes, inference="none", allow_warnings=True)
    violations = [line for line in text.splitlines() if "Severity: sh:Violation" in line]
    assert conforms and not violations, text


def test_dcat_ap_3_validates_with_zero_violations(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        cat = build_catalogue(session, settings, city)
        dataset_id = cat.conditional.id
    turtle = client.get("/catalog.ttl")
    assert turtle.status_code == 200 and turtle.headers["content-type"].startswith("text/turtle")
    graph = Graph().parse(data=turtle.text, format="turtle")
    _validate(graph)
    rights = {str(o) for o in graph.objects(None, DCTERMS.accessRights)}
    assert rights == {OPEN_RIGHTS, RESTRICTED_RIGHTS}
    as_jsonld = Graph().parse(data=client.get("/catalog.jsonld").text, format="json-ld")
    assert len(as_jsonld) == len(graph)
    as_rdf = Graph().parse(data=client.get(f"/dataset/{dataset_id}.rdf").text, format="xml")
    _validate(as_rdf)
    since = client.get("/catalog.ttl", params={"modified_since": "2030-01-01T00:00:00Z"})
    assert "dcat:dataset" not in since.text
    assert client.get("/dataset/internal-list.ttl").status_code == 404


OPEN_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
RESTRICTED_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"


def test_not_open_level_is_the_open_level_enum() -> None:
    assert {level.value for level in OpenLevel} == {"unconditional", "conditional", "not_open"}


def test_pages_browse_create_publish_and_apply(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        build_catalogue(session, settings, city)
        reader = make_user(session, city, "reader", city.users["resident"].roles[0].role, "city")
    listed = client.get("/data", params={"lang": "en"})
    assert listed.status_code == 200 and "Dataset street-counts" in listed.text
    assert "internal-list" not in listed.text
    assert client.get("/data", params={"level": "conditional"}).text.count("/data/residents-conditional") == 1
    page = client.get("/data/street-counts")
    assert page.status_code == 200 and "无条件开放" in page.text and "datastore_search" in page.text
    assert client.get("/data/internal-list").status_code == 404

    def sign_in(username: str) -> str:
        client.cookies.clear()
        form = client.get("/login").text
        token = form.split('name="csrf_token" value="')[1].split('"')[0]
        signed = client.post(
            "/login", data={"username": username, "password": "demo-password-1", "csrf_token": token}
        )
        assert signed.status_code in (200, 303), signed.text
        text: str = client.get("/data/new" if username == "publisher" else "/data").text
        return text.split('name="csrf_token" value="')[1].split('"')[0]

    csrf = sign_in("publisher")
    created = client.post(
        "/data/new",
        data={
            "csrf_token": csrf,
            "name": "page-made",
            "title": "页面创建",
            "unit_id": str(city.unit("D1").id),
            "open_level": "conditional",
            "license_id": "cc-by-4.0",
            "frequency": "monthly",
            "groups": "regions",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    upload = client.post(
        "/data/upload",
        data={"csrf_token": csrf, "dataset": "page-made"},
        files={"file": ("counts.csv", table_csv(5), "text/csv")},
        follow_redirects=False,
    )
    assert upload.status_code == 303, upload.text
    published = client.post("/data/page-made/publish", data={"csrf_token": csrf}, follow_redirects=True)
    assert "已发布" in published.text or "Published." in published.text
    csrf = sign_in("reader")
    form = {"csrf_token": csrf, "purpose": "用于街道治理研究的数据分析", "agreement": "yes"}
    step_up = client.post("/data/page-made/apply", data=form, follow_redirects=False)
    assert step_up.headers["location"] == "/verify?level=2&next=%2Fdata%2Fpage-made%23apply", "level 2 first"
    with _session(settings) as session, session.begin():
        give_level(session, session.merge(reader), 2)
    applied = client.post("/data/page-made/apply", data=form, follow_redirects=False)
    assert applied.status_code == 303 and "done=applied" in applied.headers["location"]
    csrf = sign_in("publisher")
    page = client.get("/data/page-made").text
    application_id = page.split('name="application_id" value="')[1].split('"')[0]
    decided = client.post(
        "/data/page-made/decide",
        data={"csrf_token": csrf, "application_id": application_id, "approve": "yes"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    sign_in("reader")
    assert "/download/" in client.get("/data/page-made").text


def test_xlsx_upload_types_edited_and_freshness_on_schedule(
    settings: Settings, city: City, client: TestClient
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "日期", "数量"])
    for i in range(12):
        sheet.append([f"00{i}", dt.datetime(2026, 10, 1 + i), i if i != 5 else "n/a"])
    sheet.append([None, None, None])  # an empty row is skipped
    buffer = io.BytesIO()
    book.save(buffer)
    with _session(settings) as session, session.begin():
        actor = publisher(session, city)
        ds = make_dataset(session, actor, city, "from-excel", publish=False)
    headers = auth(client, "publisher")
    uploaded = client.post(
        "/api/v1/opendata/upload",
        data={"dataset": "from-excel", "name": "表格"},
        files={"file": ("counts.xlsx", buffer.getvalue(), "application/octet-stream")},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert [(f["id"], f["type"]) for f in body["fields"]] == [
        ("编号", "text"),
        ("日期", "date"),
        ("数量", "text"),
    ]
    retyped = client.put(
        f"/api/v1/opendata/resources/{body['id']}/fields",
        json={
            "fields": [
                {"id": "编号", "type": "text"},
                {"id": "日期", "type": "date"},
                {"id": "数量", "type": "int"},
            ]
        },
        headers=headers,
    )
    assert retyped.status_code == 200, retyped.text
    schema = [f for f in retyped.json()["quality"]["findings"] if f["check"] == "schema"]
    assert schema == [{"check": "schema", "count": 1, "columns": {"数量": 1}}]
    rows = client.get(
        "/api/3/action/datastore_search",
        params={"resource_id": body["id"], "sort": "数量 desc", "limit": 2},
        headers=headers,
    ).json()["result"]
    # The empty value (refused by the type) first when descending, as PostgreSQL sorts it.
    assert [(r["编号"], r["数量"]) for r in rows["records"]] == [("005", None), ("0011", 11)]
    assert rows["total"] == 12
    bad = client.post(
        "/api/v1/opendata/upload",
        data={"dataset": "from-excel"},
        files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        headers=headers,
    )
    assert bad.status_code == 422
    with _session(settings) as session, session.begin():
        ds = service.get_dataset(session, actor, "from-excel")
        service.publish_dataset(session, actor, ds, now=T0)
    factory = get_sessionmaker(settings.database_url)
    result = run_job(factory, settings, "opendata_quality", T0 + dt.timedelta(days=90))
    assert result == {"checked": 1, "docs_built": 0, "after": ""}
    shown = client.get("/api/v1/opendata/datasets/from-excel").json()
    assert {"check": "stale", "days": 90} in shown["quality"]["findings"]
    # The re-score reaches the ready package dict that search pages read, not only package_show.
    found = client.get("/api/3/action/package_search", params={"q": "name:from-excel"}).json()["result"]
    extras = {e["key"]: e["value"] for e in found["results"][0]["extras"]}
    assert extras["quality_score"] == str(shown["quality"]["score"])
