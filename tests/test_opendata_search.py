"""Open data search (docs/opendata.md): the ready package dicts that search pages read are what `package_show`
builds, in both languages, with the live parts (address, unit names, usage counts) filled in; a missing or stale doc
is never served; the quality job builds missing ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, inspect, select, update

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.jobs.service import run_job
from chengzhi.opendata import datastore, paging, service
from chengzhi.opendata import docs as docs_module
from chengzhi.opendata.models import Dataset, PackageDoc
from chengzhi.org.models import Unit

from .factories import City
from .opendata_helpers import T0, add_table, build_catalogue, make_dataset, publisher, table_csv


def _session(settings: Settings) -> Any:
    return get_sessionmaker(settings.database_url)()


def _search(client: TestClient, lang: str = "zh", **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        "/api/3/action/package_search",
        params={"rows": 1000, **params},
        headers={"Accept-Language": lang},
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["result"]["results"]
    return results


def _shown(client: TestClient, name: str, lang: str = "zh") -> dict[str, Any]:
    response = client.get(
        "/api/3/action/package_show", params={"id": name}, headers={"Accept-Language": lang}
    )
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()["result"]
    return shown


def test_search_pages_are_what_package_show_says(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        catalogue = build_catalogue(session, settings, city)
        docs = session.scalar(select(func.count()).select_from(PackageDoc))
        assert docs == 2 * session.scalar(select(func.count()).select_from(Dataset))
    for lang in ("zh", "en"):
        found = _search(client, lang)
        assert sorted(p["name"] for p in found) == ["residents-conditional", "street-counts"]
        for package in found:
            assert package == _shown(client, package["name"], lang)
    english = {p["name"]: p for p in _search(client, "en")}["street-counts"]
    assert english["license_title"] != _shown(client, "street-counts")["license_title"]
    assert english["url"] == "http://testserver/data/street-counts"
    assert english["resources"][0]["url"].startswith("http://testserver/dataset/")

    # What changes without a new version: usage counts, the unit's name.
    table = catalogue.open.resources[0].id
    for _ in range(3):
        read = client.get("/api/3/action/datastore_search", params={"resource_id": table, "limit": 1})
        assert read.status_code == 200
    with _session(settings) as session, session.begin():
        session.execute(update(Unit).where(Unit.id == catalogue.open.unit_id).values(name_zh="改名后的部门"))
    package = {p["name"]: p for p in _search(client)}["street-counts"]
    assert {e["key"]: e["value"] for e in package["extras"]}["api_calls"] == "3"
    assert package["organization"]["title"] == "改名后的部门" and package["author"] == "改名后的部门"
    assert package == _shown(client, "street-counts")

    # A new version rebuilds the doc; a doc older than its dataset, or missing, is not served.
    with _session(settings) as session, session.begin():
        ds = service.get_dataset(session, catalogue.publisher, "street-counts")
        data = service.DatasetInput(name=ds.name, title="新标题", unit_id=ds.unit_id, tags=["新标签"])
        service.update_dataset(session, catalogue.publisher, ds, data, now=T0 + dt.timedelta(days=1))
    assert {p["name"]: p for p in _search(client)}["street-counts"]["title"] == "新标题"
    with _session(settings) as session, session.begin():
        session.execute(
            update(Dataset).where(Dataset.name == "street-counts").values(title="改在库里", modified_at=T0)
        )
        session.execute(delete(PackageDoc).where(PackageDoc.dataset_id == catalogue.conditional.id))
    by_name = {p["name"]: p for p in _search(client)}
    assert by_name["street-counts"]["title"] == "改在库里"
    assert by_name["residents-conditional"] == _shown(client, "residents-conditional")
    listed = client.get("/api/3/action/current_package_list_with_resources").json()["result"]
    assert {p["name"]: p["title"] for p in listed}["street-counts"] == "改在库里"

    result = run_job(get_sessionmaker(settings.database_url), settings, "opendata_quality", T0)
    assert result is not None and result["docs_built"] == 2  # the missing one, and the stale one
    with _session(settings) as session:
        assert session.scalar(select(func.count()).select_from(PackageDoc)) == 8


def test_control_characters_cannot_forge_a_placeholder(
    settings: Settings, city: City, client: TestClient
) -> None:
    with _session(settings) as session, session.begin():
        catalogue = build_catalogue(session, settings, city)
        ds = service.get_dataset(session, catalogue.publisher, "street-counts")
        forged = 'x\x02organization\x02 \x01base\x01 "\x03'
        data = service.DatasetInput(name=ds.name, title=forged, notes=forged, unit_id=ds.unit_id)
        service.update_dataset(session, catalogue.publisher, ds, data, now=T0 + dt.timedelta(days=1))
    package = {p["name"]: p for p in _search(client)}["street-counts"]
    assert package["title"] == 'xorganization base "'


def test_chinese_words_in_q_are_cut_by_jieba(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        catalogue = build_catalogue(session, settings, city)
        ds = service.get_dataset(session, catalogue.publisher, "street-counts")
        data = service.DatasetInput(name=ds.name, title="公交线路客流统计", unit_id=ds.unit_id)
        service.update_dataset(session, catalogue.publisher, ds, data, now=T0 + dt.timedelta(days=1))
    # Not a substring of the title: 公交 and 客流 are apart in it.
    assert [p["name"] for p in _search(client, q="公交客流")] == ["street-counts"]
    assert _search(client, q="地铁客流") == []
    assert _search(client, q='"公交客流"') == []  # a quoted phrase is looked for as it is
    table = catalogue.open.resources[0].id
    records = client.get(
        "/api/3/action/datastore_search", params={"resource_id": table, "q": "东华门的"}
    ).json()["result"]
    assert records["total"] == 14 and all(r["街道"] == "东华门" for r in records["records"])


def test_usage_is_counted_per_day(settings: Settings, city: City, client: TestClient) -> None:
    with _session(settings) as session, session.begin():
        catalogue = build_catalogue(session, settings, city)
    table = catalogue.open.resources[0]
    for _ in range(2):
        assert (
            client.get("/api/3/action/datastore_search", params={"resource_id": table.id}).status_code == 200
        )
    download = client.get(f"/dataset/{catalogue.open.id}/resource/{table.id}/download/t.csv")
    assert download.status_code == 200
    usage = client.get("/api/v1/opendata/datasets/street-counts/usage").json()
    today = service.city_day(settings).isoformat()
    assert usage["days"] == [{"day": today, "downloads": 1, "api_calls": 2}]
    assert (usage["downloads"], usage["api_calls"]) == (1, 2)
    page = client.get("/data/street-counts")
    assert page.status_code == 200 and today in page.text
    hidden = client.get("/api/v1/opendata/datasets/internal-list/usage")
    assert hidden.status_code == 404


def test_data_json_validates_against_the_dcat_us_schema(
    settings: Settings, city: City, client: TestClient
) -> None:
    with _session(settings) as session, session.begin():
        build_catalogue(session, settings, city)
    response = client.get("/data.json")
    assert response.status_code == 200
    catalogue = response.json()
    entries = {d["landingPage"].rsplit("/", 1)[1]: d for d in catalogue["dataset"]}
    assert sorted(entries) == ["residents-conditional", "street-counts"]
    assert entries["street-counts"]["accessLevel"] == "public"
    assert entries["residents-conditional"]["accessLevel"] == "restricted public"
    assert "rights" in entries["residents-conditional"]
    assert entries["street-counts"]["distribution"][0]["mediaType"] == "text/csv"
    validator = _dcat_us_validator()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(catalogue)]
    assert errors == []
    # The check can fail: a dataset without its keywords does not validate.
    del catalogue["dataset"][0]["keyword"]
    assert list(validator.iter_errors(catalogue))


def _dcat_us_validator() -> Any:
    """The DCAT-US v1.1 schema (tests/data/dcat-us-1.1, unchanged), less the two federal-only required fields."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource

    folder = Path(__file__).parent / "data" / "dcat-us-1.1"
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}
    dataset = schemas["dataset.json"]
    dataset["required"] = [f for f in dataset["required"] if f not in ("bureauCode", "programCode")]
    base = "https://project-open-data.cio.gov/v1.1/schema/"
    registry: Registry[Any] = Registry().with_resources(
        (base + name, Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    return Draft4Validator(schemas["catalog.json"], registry=registry)


def test_deep_pages_from_bookmarks_are_the_pages_offset_gives(
    settings: Settings, city: City, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "STEP", 7)
    with _session(settings) as session, session.begin():
        actor = publisher(session, city)
        for i in range(40):
            # Ties in time and in title, so that the id must break them.
            make_dataset(session, actor, city, f"set-{i:03d}", now=T0 + dt.timedelta(minutes=i // 3))
            if i % 4 == 0:
                ds = service.get_dataset(session, actor, f"set-{i:03d}")
                data = service.DatasetInput(name=ds.name, title="同名", unit_id=ds.unit_id)
                service.update_dataset(session, actor, ds, data, now=T0 + dt.timedelta(minutes=i // 3))
    sorts = ["", "id asc", "id desc", "metadata_modified desc", "metadata_modified asc", "title asc",
             "title desc, name asc", "name asc, metadata_modified desc"]  # fmt: skip
    for sort in sorts:
        everything = [p["name"] for p in _search(client, sort=sort, rows=40)]
        assert len(everything) == 40
        for start in range(0, 42, 3):
            page = [p["name"] for p in _search(client, sort=sort, rows=5, start=start)]
            assert page == everything[start : start + 5], (sort, start)
    # A new version changes the state: the count and the bookmarks are computed again.
    with _session(settings) as session, session.begin():
        service.withdraw_dataset(session, actor, service.get_dataset(session, actor, "set-000"))
    found = client.get("/api/3/action/package_search", params={"sort": "id asc", "rows": 40}).json()
    assert found["result"]["count"] == 39
    names = [p["name"] for p in found["result"]["results"]]
    assert [p["name"] for p in _search(client, sort="id asc", rows=100, start=21)] == names[21:]


def test_big_tables_get_filter_and_sort_indexes(
    settings: Settings, city: City, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datastore, "PAIR_MIN_ROWS", 300)
    with _session(settings) as session, session.begin():
        actor = publisher(session, city)
        small = make_dataset(session, actor, city, "small-table", publish=False)
        add_table(session, settings, actor, small, table_csv(200))
        big = make_dataset(session, actor, city, "big-table", publish=False)
        add_table(session, settings, actor, big, table_csv(400))
        names = {ds.name: ds.resources[0].table_name for ds in (small, big)}
    engine = get_sessionmaker(settings.database_url).kw["bind"]
    with engine.connect() as conn:
        # A pooled SQLite connection answers PRAGMA index_list from the schema it cached when it last read the
        # file, and only a statement that reads the database notices another connection's DDL: read first, or
        # the pool's oldest connection (which one depends on the tests run before) reports no indexes at all.
        conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master" if conn.dialect.name == "sqlite" else "SELECT 1"
        )
        inspector = inspect(conn)
        pairs = {
            name: sorted(
                ix["column_names"] for ix in inspector.get_indexes(table) if len(ix["column_names"]) > 1
            )
            for name, table in names.items()
        }
    # 街道 has three values; 日期, 数量 and 金额 sort.
    assert pairs == {"small-table": [], "big-table": [["c1", "c2"], ["c1", "c3"], ["c1", "c4"]]}


def test_long_pages_stream_what_short_pages_give(
    settings: Settings, city: City, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of more than docs.CHUNK datasets (here 3) is written as it is read, a chunk at a time."""
    monkeypatch.setattr(docs_module, "CHUNK", 3)
    with _session(settings) as session, session.begin():
        actor = publisher(session, city)
        for i in range(8):
            make_dataset(session, actor, city, f"set-{i:03d}", now=T0 + dt.timedelta(minutes=i))
    search = "/api/3/action/package_search"
    response = client.get(search, params={"rows": 1000, "sort": "name asc", "facet.field": '["tags"]'})
    assert response.status_code == 200 and "content-length" not in response.headers  # streamed
    body = response.json()
    assert body["success"] is True and body["result"]["count"] == 8
    assert body["result"]["facets"] == {"tags": {"街道": 8}}
    streamed = body["result"]["results"]
    one_by_one = [
        client.get(search, params={"rows": 1, "start": i, "sort": "name asc"}).json()["result"]["results"][0]
        for i in range(8)
    ]
    assert streamed == one_by_one and [p["name"] for p in streamed] == [f"set-{i:03d}" for i in range(8)]
    assert streamed[5] == _shown(client, "set-005")
    listed = client.get("/api/3/action/current_package_list_with_resources", params={"limit": 7})
    assert "content-length" not in listed.headers
    assert [p["name"] for p in listed.json()["result"]] == [f"set-{i:03d}" for i in range(7, 0, -1)]
    # Short pages are not streamed.
    short = client.get(search, params={"rows": 3})
    assert short.headers["content-length"] == str(len(short.content))
