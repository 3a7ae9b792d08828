"""The scheduled quality check of tables (job `opendata_tables`): each table is read again from the database, as
it is now (the platform's tables grow every day; a detector may have improved since the upload), for empty cells,
duplicate rows and personal data; the count of values that did not fit their column's type is the load's (a typed
column holds no such value: it was left empty at load, and the file is not read again).

Once a day at most: a round goes through every table by id, at most ROWS_PER_RUN rows of tables a run (at least one
table), then waits until a day has passed since the round began. Each changed score reaches its dataset's score and
ready package dict. A dataset published to everyone in which personal data is found is withdrawn at once
(`service.withdraw_for_personal_data`): publishing personal data is worse than a harvester seeing a dataset go.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.jobs.service import last_result
from chengzhi.opendata import datastore, docs
from chengzhi.opendata.models import Dataset, Resource
from chengzhi.opendata.quality import TableScan, table_quality
from chengzhi.opendata.resources import refresh_quality
from chengzhi.opendata.service import withdraw_for_personal_data

JOB = "opendata_tables"
ROWS_PER_RUN = 200_000
TABLES_PER_RUN = 50
EVERY = dt.timedelta(days=1)


def rescan(conn: Connection, res: Resource) -> dict[str, Any]:
    """The table's quality record from its rows as they are now (see the module's docstring)."""
    table = datastore.table_for(res)
    fields = list(res.fields)
    headers = [f["id"] for f in fields]
    columns = [table.c[f"c{i + 1}"] for i in range(len(fields))]
    counts = conn.execute(select(func.count(), *(func.count(c) for c in columns)).select_from(table)).one()
    scan = TableScan(headers=headers, rows=int(counts[0]))
    scan.empty = [scan.rows - int(n) for n in counts[1:]]
    before = {f["check"]: f for f in (res.quality or {}).get("findings", [])}
    schema = before.get("schema", {}).get("columns", {})
    scan.schema_errors = [int(schema.get(h, 0)) for h in headers]
    scan.duplicates = datastore.duplicate_rows(conn, table, columns)
    texts = [i for i, f in enumerate(fields) if f["type"] == "text"]
    after = 0
    while texts:
        rows = conn.execute(
            select(table.c["_id"], *(columns[i] for i in texts))
            .where(table.c["_id"] > after)
            .order_by(table.c["_id"])
            .limit(datastore.BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            for i, value in zip(texts, row[1:], strict=True):
                if value:
                    scan.see_personal(i, value)
        after = rows[-1][0]
    quality = table_quality(scan)
    quality["masked"] = bool((res.quality or {}).get("masked"))
    return quality


def recheck_tables(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The periodic job: the next tables of the round (see the module's docstring)."""
    previous = last_result(session, JOB) or {}
    after = str(previous.get("after") or "")
    began = str(previous.get("round_began") or "")
    if not after:
        if began and now - dt.datetime.fromisoformat(began) < EVERY:
            return {"checked": 0, "after": "", "round_began": began}
        began = now.isoformat()
    batch = list(
        session.scalars(
            select(Resource)
            .where(Resource.datastore_active.is_(True), Resource.id > after)
            .order_by(Resource.id)
            .limit(TABLES_PER_RUN)
        )
    )
    rows = 0
    checked: list[Resource] = []
    changed: set[str] = set()
    for res in batch:
        if checked and rows + res.row_count > ROWS_PER_RUN:
            break
        quality = rescan(session.connection(), res)
        if quality != res.quality:
            res.quality = quality
            changed.add(res.dataset_id)
        rows += res.row_count
        checked.append(res)
    finished = len(checked) == len(batch) and len(batch) < TABLES_PER_RUN
    withdrawn = []
    for ds in session.scalars(select(Dataset).where(Dataset.id.in_(changed))):
        before = (ds.quality or {}).get("score")
        if refresh_quality(ds, now).get("score") != before:
            docs.store(session, ds)
        if withdraw_for_personal_data(session, ds, now):
            withdrawn.append(ds.name)
    return {
        "checked": len(checked),
        "rows": rows,
        "changed": len(changed),
        "withdrawn": withdrawn,
        "after": "" if finished or not checked else checked[-1].id,
        "round_began": began,
    }
