"""The scheduled quality check of tables (opendata/tablecheck.py, job `opendata_tables`): rows changed since the
upload are seen (empty cells, duplicates, planted personal data), the dataset's score and its package dict follow,
and the round runs once a day within a row budget."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.jobs.service import run_job
from chengzhi.opendata import datastore, docs, service, tablecheck
from chengzhi.opendata.models import Dataset, DatasetStatus, Resource

from .factories import City
from .opendata_helpers import T0, build_catalogue, planted_id


def test_tables_are_checked_again_from_their_rows(
    settings: Settings, city: City, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = get_sessionmaker(settings.database_url)
    with factory() as session, session.begin():
        catalogue = build_catalogue(session, settings, city)
        res = catalogue.open.resources[0]
        uploaded = dict(res.quality)
        score = catalogue.open.quality["score"]
        # Rows written since the upload (as the platform's daily appends are): a repeat of row 1, a row with an
        # ID-card number and a mobile number where a street's name goes, one nearly empty.
        table = datastore.table_for(res)
        first = session.execute(table.select().where(table.c["_id"] == 1)).one()._asdict()
        id_card, mobile = planted_id(7), "13912345678"
        session.execute(
            insert(table),
            [
                {**first, "_id": 41},
                {
                    "_id": 42,
                    "c1": f"{id_card} 或 {mobile}",
                    "c2": dt.date(2026, 10, 2),
                    "c3": 1,
                    "c4": 1.5,
                    "_full_text": "",
                },
                {"_id": 43, "c1": None, "c2": None, "c3": None, "c4": 2, "_full_text": ""},
            ],
        )
        res_id, ds_id = res.id, catalogue.open.id
        other_id = catalogue.conditional.resources[0].id
    assert uploaded["personal_data"] == [] and not any(
        f["check"] == "duplicates" for f in uploaded["findings"]
    )

    result = run_job(factory, settings, tablecheck.JOB, T0 + dt.timedelta(hours=1))
    assert result is not None and result["checked"] == 2 and result["changed"] == 1 and result["after"] == ""
    with factory() as session:
        checked = session.get(Resource, res_id)
        assert checked is not None
        quality = checked.quality
        assert quality["rows"] == 43
        assert {"field": "街道", "kind": "id_card", "count": 1} in quality["personal_data"]
        assert {"field": "街道", "kind": "mobile", "count": 1} in quality["personal_data"]
        by_check = {f["check"]: f for f in quality["findings"]}
        assert by_check["duplicates"]["count"] == 1
        assert by_check["missing"]["columns"] == {"街道": 1, "日期": 1, "数量": 1}
        assert id_card not in json.dumps(quality) and mobile not in json.dumps(quality)
        ds = session.get(Dataset, ds_id)
        assert ds is not None and ds.quality["score"] < score - 29  # the personal-data penalty
        # Published to everyone with personal data in it: withdrawn at once by the check, its history says why.
        assert ds.status == DatasetStatus.withdrawn and result["withdrawn"] == [ds.name]
        last = service.history(session, ds)[-1]
        assert last.action == "withdrawn_personal" and last.actor_id is None
    # Gone from the public search; the withdrawn package (what harvesters read) carries the new score.
    found = client.get("/api/3/action/package_search", params={"q": "name:street-counts"}).json()["result"]
    assert found["count"] == 0
    with factory() as session:
        ds = session.get(Dataset, ds_id)
        assert ds is not None
        stored = json.loads(docs.render(session, [ds.id], "http://testserver", "zh")[0])
    extras = {e["key"]: e["value"] for e in stored["extras"]}
    assert extras["quality_score"] == str(ds.quality["score"])

    # Once a day: nothing until a day has passed since the round began, then every table again.
    again = run_job(factory, settings, tablecheck.JOB, T0 + dt.timedelta(hours=20))
    assert again is not None and again["checked"] == 0
    later = run_job(factory, settings, tablecheck.JOB, T0 + dt.timedelta(days=1, hours=2))
    assert later is not None and later["checked"] == 2 and later["changed"] == 0

    # Within the row budget (at least one table a run), the round goes on where the last run stopped.
    monkeypatch.setattr(tablecheck, "ROWS_PER_RUN", 20)
    first_run = run_job(factory, settings, tablecheck.JOB, T0 + dt.timedelta(days=3))
    assert first_run is not None and first_run["checked"] == 1 and first_run["after"] != ""
    second_run = run_job(factory, settings, tablecheck.JOB, T0 + dt.timedelta(days=3, minutes=1))
    assert second_run is not None and second_run["checked"] == 1 and second_run["after"] == ""
    assert first_run["after"] == min(res_id, other_id)  # the round goes by id
