"""`q` of `package_search` ranked by relevance over the full-text index (opendata/fulltext.py, migration 0045):
PostgreSQL's tsvector with ts_rank, SQLite's FTS5 with BM25, and the LIKE fallback of a SQLite without FTS5."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, make_engine
from chengzhi.migrate import upgrade
from chengzhi.opendata import fulltext, paging, service
from chengzhi.opendata.models import SEARCH_FTS
from chengzhi.opendata.search import SearchParams, package_search
from chengzhi.opendata.words import index_text
from chengzhi.org.service import ANONYMOUS, Actor

from .factories import City
from .opendata_helpers import T0, publisher


def _search(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/3/action/package_search", params={"rows": 1000, **params})
    assert response.status_code == 200, response.text
    return [p["name"] for p in response.json()["result"]["results"]]


def _dataset(
    session: Session, actor: Actor, city: City, name: str, title: str, notes: str, minutes: int, **extra: Any
) -> None:
    data = service.DatasetInput(name=name, title=title, notes=notes, unit_id=city.unit("D1").id, **extra)
    now = T0 + dt.timedelta(minutes=minutes)
    ds = service.create_dataset(session, actor, data, now=now)
    service.publish_dataset(session, actor, ds, now=now)


def test_q_ranks_by_relevance_unless_another_sort_is_asked(
    settings: Settings, city: City, client: TestClient
) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        actor = publisher(session, city)
        # The newest first without ranking: notes-hit, then title-hit.
        _dataset(
            session, actor, city, "title-hit", "公交线路客流统计", "按月统计。", 1, title_en="Bus ridership"
        )
        _dataset(session, actor, city, "notes-hit", "道路养护记录", "含公交站旁的道路。", 2)
        _dataset(session, actor, city, "no-hit", "绿化面积", "各街道的绿地。", 3, tags=["公园"])
    assert fulltext.backend(session) == ("postgresql" if "postgresql" in settings.database_url else "fts5")

    # A word in the title weighs more than one in the description, whatever their ages.
    assert _search(client, q="公交") == ["title-hit", "notes-hit"]
    assert _search(client, q="公交", sort="score desc, metadata_modified desc") == ["title-hit", "notes-hit"]
    assert _search(client, q="公交", sort="score asc") == ["notes-hit", "title-hit"]
    assert _search(client, q="公交", sort="metadata_modified desc") == ["notes-hit", "title-hit"]
    assert _search(client, q="公交", sort="name asc") == ["notes-hit", "title-hit"]
    # Every word must occur; a word jieba knows inside a longer one is found (线路 in 公交线路); a word may be the
    # start of a longer one (bus, ridership); tags are searched; single characters cut from a longer word drop.
    assert _search(client, q="公交 养护") == ["notes-hit"]
    assert _search(client, q="线路") == ["title-hit"]
    assert _search(client, q="BUS rider") == ["title-hit"]
    assert _search(client, q="公园") == ["no-hit"]
    assert _search(client, q="公交的道路") == ["notes-hit"]
    assert _search(client, q="地铁") == []
    assert _search(client, q='"公交 养护"') == []  # a phrase: its words in a row
    assert _search(client, q='"道路 养护"') == ["notes-hit"]
    # Field terms and words together; the count is the matches'.
    found = client.get("/api/3/action/package_search", params={"q": "公交 name:notes-hit"}).json()["result"]
    assert found["count"] == 1 and [p["name"] for p in found["results"]] == ["notes-hit"]
    assert client.get("/api/3/action/package_search", params={"q": "公交"}).json()["result"]["count"] == 2
    # Query syntax of full-text engines is only text here: no error, no injection.
    for odd in ["公交 & !", "'\":*<->|", "NEAR(公交 道路)", "title:公交", "a OR b", "(公交)"]:
        response = client.get("/api/3/action/package_search", params={"q": odd})
        assert response.status_code in (200, 409), (odd, response.text)
        assert response.json()["success"] is (response.status_code == 200)

    # An edit moves the dataset in and out of the index.
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        ds = service.get_dataset(session, actor, "no-hit")
        data = service.DatasetInput(name=ds.name, title="公交场站绿化", unit_id=ds.unit_id)
        service.update_dataset(session, actor, ds, data, now=T0 + dt.timedelta(minutes=4))
    ranked = _search(client, q="公交")
    assert sorted(ranked[:2]) == ["no-hit", "title-hit"] and ranked[2] == "notes-hit"  # both titles first
    assert _search(client, q="公园") == []


def test_ranked_deep_pages_are_the_pages_offset_gives(
    settings: Settings, city: City, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "STEP", 7)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        actor = publisher(session, city)
        for i in range(30):
            # Scores in a few levels (ties broken by time, then id), some ages equal.
            title = "公交" * (1 + i % 3) + f"数据{i}"
            notes = "公交" if i % 2 else "其他"
            _dataset(session, actor, city, f"set-{i:03d}", title, notes, i // 4)
    for sort in ["", "score desc, name asc", "score asc, metadata_modified desc"]:
        everything = _search(client, q="公交", sort=sort)
        assert len(everything) == 30
        for start in range(0, 32, 4):
            assert _search(client, q="公交", sort=sort, rows=5, start=start) == everything[start : start + 5]


def test_without_fts5_sqlite_falls_back_to_words_unranked(tmp_path: Path) -> None:
    """A SQLite built without FTS5 gets no index table (migration 0045): every word must still occur (LIKE over
    the cut text), in the default order. Here the table and its triggers are dropped to stand for that build."""
    url = f"sqlite:///{tmp_path / 'nofts.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for kind in ("insert", "update", "delete"):
                conn.execute(text(f"DROP TRIGGER {SEARCH_FTS}_{kind}"))
            conn.execute(text(f"DROP TABLE {SEARCH_FTS}"))
            conn.execute(text("INSERT INTO units (id, code, name_zh, name_en, kind, path, active, created_at)"
                              " VALUES (1, 'city', '市', 'City', 'city', '/1/', 1, '2026-12-01 00:00:00')"))  # fmt: skip
            for i, (title, notes) in enumerate([("公交线路", "按月"), ("道路", "公交站旁"), ("绿化", "无")]):
                conn.execute(
                    text(
                        "INSERT INTO od_datasets (id, name, title, notes, unit_id, open_level, status, license_id,"
                        " frequency, themes, contact_name, contact_email, version, search_title, search_text,"
                        " quality, downloads, api_calls, created_at, modified_at) VALUES (:id, :id, :title,"
                        " :notes, 1, 'unconditional', 'published', 'cc-by-4.0', 'monthly', '[]', '', '', 1, :st,"
                        " :sx, '{}', 0, 0, :at, :at)"
                    ),
                    {"id": f"d{i}", "title": title, "notes": notes, "st": index_text(title),
                     "sx": index_text(notes), "at": f"2026-12-0{i + 1} 00:00:00"},
                )  # fmt: skip
        with Session(engine) as session:
            assert fulltext.backend(session) == "like"

            def names(q: str, sort: str = "") -> list[str]:
                result = package_search(session, ANONYMOUS, SearchParams(q=q, sort=sort, rows=100))
                return [i for i in result.ids]

            assert names("公交") == ["d1", "d0"]  # newest first: no ranking
            assert names("公交", "score desc") == ["d1", "d0"]
            assert names("线路") == ["d0"] and names("公交 站旁") == ["d1"] and names("地铁") == []
            assert names("100%_") == []
    finally:
        engine.dispose()


def test_postgresql_ranks_from_the_narrow_rows_kept_in_step_by_the_trigger(
    settings: Settings, city: City, client: TestClient
) -> None:
    """PostgreSQL's ranked `q` reads od_search_rows (migration 0051) when its conditions allow, else the datasets;
    a trigger keeps the rows in step with every write of the datasets."""
    if "postgresql" not in settings.database_url:
        pytest.skip("od_search_rows is PostgreSQL's (SQLite ranks with FTS5; the table stays empty)")
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        actor = publisher(session, city)
        _dataset(session, actor, city, "bus-lines", "公交线路", "线路表。", 1, title_en="Bus lines")
        _dataset(session, actor, city, "bus-stops", "道路站点", "公交站点。", 2, license_id="odc-by")
        _dataset(session, actor, city, "closed-bus", "公交内部", "内部。", 3, open_level="not_open")
        _dataset(session, actor, city, "parks", "绿化面积", "各街道的绿地。", 4)
        service.withdraw_dataset(session, actor, service.get_dataset(session, actor, "parks"), now=T0)
        ds = service.get_dataset(session, actor, "bus-lines")
        data = service.DatasetInput(name=ds.name, title="公交线路与公交场站", unit_id=ds.unit_id)
        service.update_dataset(session, actor, ds, data, now=T0 + dt.timedelta(minutes=9))
    columns = "id, status, open_level, unit_id, modified_at, search_vector::text"
    narrow = columns.replace("id,", "dataset_id,", 1)
    differ = (
        f"(SELECT {columns} FROM od_datasets EXCEPT SELECT {narrow} FROM od_search_rows)"
        f" UNION ALL (SELECT {narrow} FROM od_search_rows EXCEPT SELECT {columns} FROM od_datasets)"
    )
    with get_sessionmaker(settings.database_url)() as session:
        assert session.scalar(text("SELECT count(*) FROM od_search_rows")) == 4
        assert session.execute(text(differ)).all() == []
        conditions = fulltext.match(session, [("公交",)])
        assert fulltext.narrowed([conditions.condition, conditions.score.desc()]) is not None
    assert _search(client, q="公交") == ["bus-lines", "bus-stops"]
    assert _search(client, q="公交", fq=f"organization:{city.unit('D1').code}") == ["bus-lines", "bus-stops"]
    assert _search(client, q="公交", fq="tags:nothing") == []
    # A filter on a column the narrow rows lack reads the datasets, with the same ranking.
    assert _search(client, q="公交", fq="-license_id:odc-by") == ["bus-lines"]
    assert _search(client, q="公交", fq="license_id:odc-by") == ["bus-stops"]
    # Anonymous callers are not staff: include_private adds nothing.
    assert _search(client, q="公交", include_private="true") == ["bus-lines", "bus-stops"]
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        # Staff see the dataset not open to the public, ranked from the same rows.
        staff = package_search(session, actor, SearchParams(q="公交", include_private=True, rows=10))
        names = [ds.name for ds in staff.datasets]
        assert sorted(names) == ["bus-lines", "bus-stops", "closed-bus"] and staff.count == 3
        assert names[-1] == "bus-stops"  # its word only in the description
        session.execute(text("DELETE FROM od_datasets WHERE name = 'bus-stops'"))
        assert session.scalar(text("SELECT count(*) FROM od_search_rows")) == 3
