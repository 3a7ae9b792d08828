"""Tabular resources: an uploaded CSV or XLSX becomes a table of its own (`ods_<resource>`), with typed columns
(inferred, editable), an index per column, and CKAN's `datastore_search` over it; downloads stream in chunks read
by key, so that memory stays constant whatever the table's size.

Physical columns are `c1..cN` (headers can be any text); the resource's `fields` map them to their names and types.
A `_full_text` column holds the row's text, lower-cased, for `q`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from chengzhi.errors import Invalid
from chengzhi.opendata.models import Resource
from chengzhi.opendata.quality import TableScan, mask_text, table_quality
from chengzhi.opendata.words import query_words
from chengzhi.security.archives import ArchiveRefused, check_zip
from chengzhi.security.cells import safe_cell

TYPES = ("int", "numeric", "date", "timestamp", "bool", "text")
SQL_TYPES: dict[str, Any] = {
    "int": BigInteger,
    "numeric": Float,
    "date": Date,
    "timestamp": DateTime,
    "bool": Boolean,
    "text": Text,
}
INT_RE = re.compile(r"^[-+]?(0|[1-9]\d{0,17})$")
# Leading zeros (codes, phone numbers) keep a column as text.
NUM_RE = re.compile(r"^[-+]?((0|[1-9]\d*)(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
BOOLS = {"true": True, "false": False, "是": True, "否": False}
BATCH = 5000
MAX_LIMIT = 32000
MAX_COLUMNS = 200


# ---------------------------------------------------------------- reading files


def read_rows(path: Path, fmt: str) -> Iterator[list[str]]:
    """The file's rows as text cells, the header first; CSV in UTF-8 (with or without BOM) or GB18030."""
    if fmt.upper() == "XLSX":
        try:
            check_zip(path)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (ArchiveRefused, OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise Invalid("opendata_unreadable_table", details=str(error)[:200]) from None
        try:
            for row in book.worksheets[0].iter_rows(values_only=True):
                yield [_cell_text(v) for v in row]
        finally:
            book.close()
        return
    encoding = "utf-8-sig"
    try:
        with path.open(encoding=encoding) as probe:
            probe.read(1 << 20)
    except UnicodeDecodeError:
        encoding = "gb18030"
    with path.open(encoding=encoding, newline="") as handle:
        yield from csv.reader(handle)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fits(kind: str, value: str) -> bool:
    if kind == "int":
        return bool(INT_RE.match(value))
    if kind == "numeric":
        return bool(NUM_RE.match(value))
    if kind == "date":
        return bool(DATE_RE.match(value)) and _date(value) is not None
    if kind == "timestamp":
        return bool(TS_RE.match(value)) and _timestamp(value) is not None
    if kind == "bool":
        return value.lower() in BOOLS
    return True


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _timestamp(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def convert(kind: str, value: str) -> Any:
    """A cell as its column's type; ValueError when it does not fit."""
    if not _fits(kind, value):
        raise ValueError(value)
    if kind == "int":
        return int(value)
    if kind == "numeric":
        return float(value)
    if kind == "date":
        return _date(value)
    if kind == "timestamp":
        return _timestamp(value)
    if kind == "bool":
        return BOOLS[value.lower()]
    return value


def _headers(row: Sequence[str]) -> list[str]:
    headers: list[str] = []
    for i, raw in enumerate(row):
        name = raw.strip() or f"column_{i + 1}"
        while name in headers or name == "_id":
            name += "_"
        headers.append(name)
    if not headers or len(headers) > MAX_COLUMNS:
        raise Invalid("opendata_table_shape", max=MAX_COLUMNS)
    return headers


def infer(path: Path, fmt: str, mask: bool = False) -> tuple[list[dict[str, Any]], TableScan]:
    """First pass: each column's narrowest type, empty cells and personal data (before masking)."""
    rows = read_rows(path, fmt)
    header_row = next(rows, None)
    if header_row is None:
        raise Invalid("opendata_table_shape", max=MAX_COLUMNS)
    headers = _headers(header_row)
    candidates = [list(TYPES) for _ in headers]
    scan = TableScan(headers=headers, masked=mask)
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        scan.rows += 1
        for i in range(len(headers)):
            value = row[i].strip() if i < len(row) else ""
            if not value:
                scan.empty[i] += 1
                continue
            scan.see_personal(i, value)
            kinds = candidates[i]
            while kinds[0] != "text" and not _fits(kinds[0], value):
                kinds.pop(0)
    fields = [
        {"id": h, "type": "text" if scan.personal[i] else candidates[i][0]} for i, h in enumerate(headers)
    ]
    return fields, scan


# ---------------------------------------------------------------- the table


def table_name(resource_id: str) -> str:
    return "ods_" + resource_id.replace("-", "")


def table_for(res: Resource) -> Table:
    """The resource's table as SQLAlchemy sees it (built from `fields`, not reflected)."""
    assert res.table_name
    return _table(res.table_name, res.fields)


def _table(name: str, fields: Sequence[dict[str, Any]]) -> Table:
    metadata = MetaData()
    columns: list[Column[Any]] = [Column("_id", Integer, primary_key=True, autoincrement=False)]
    columns += [Column(f"c{i + 1}", SQL_TYPES[f["type"]]) for i, f in enumerate(fields)]
    columns.append(Column("_full_text", Text))
    return Table(name, metadata, *columns)


def _indexes(table: Table, fields: Sequence[dict[str, Any]]) -> list[Index]:
    return [Index(f"ix_{table.name}_c{i + 1}", table.c[f"c{i + 1}"]) for i in range(len(fields))]


# Composite indexes for the usual query of a big table: a filter on a column of few values (a street, a category)
# and a sort on a number or a date. Made once a table has PAIR_MIN_ROWS rows, at most MAX_PAIRS of them.
PAIR_MIN_ROWS = 10_000
MAX_PAIRS = 8
SORTABLE = ("int", "numeric", "date", "timestamp")


def index_pairs(conn: Connection, res: Resource) -> list[str]:
    """Creates (filter column, sort column) indexes for the text columns with at most 1,000 values (and at most one
    value per 100 rows); returns their names."""
    if res.row_count < PAIR_MIN_ROWS:
        return []
    table = table_for(res)
    limit = min(1000, res.row_count // 100)
    few = [
        i
        for i, f in enumerate(res.fields, 1)
        if f["type"] == "text"
        and int(conn.scalar(select(func.count(func.distinct(table.c[f"c{i}"])))) or 0) <= limit
    ]
    sorts = [i for i, f in enumerate(res.fields, 1) if f["type"] in SORTABLE]
    made = []
    for i, j in [(i, j) for i in few for j in sorts][:MAX_PAIRS]:
        index = Index(f"ix_{table.name}_c{i}_c{j}", table.c[f"c{i}"], table.c[f"c{j}"])
        index.create(conn, checkfirst=True)
        made.append(str(index.name))
    return made


def load_table(
    conn: Connection,
    res: Resource,
    path: Path,
    fields: list[dict[str, Any]] | None = None,
    *,
    mask: bool = False,
) -> dict[str, Any]:
    """(Re)builds the resource's table from its file: infers types unless `fields` gives them, counts what does
    not fit, masks personal data when asked, indexes every column. Returns the quality record."""
    inferred, scan = infer(path, res.format, mask)
    if fields is not None:
        if [f["id"] for f in fields] != [f["id"] for f in inferred]:
            raise Invalid("opendata_fields_mismatch")
        if any(f["type"] not in TYPES for f in fields):
            raise Invalid("opendata_unknown_term", field="type", value=",".join(f["type"] for f in fields))
        inferred = [{"id": f["id"], "type": f["type"]} for f in fields]
    name = table_name(res.id)
    table = _table(name, inferred)
    table.drop(conn, checkfirst=True)
    table.create(conn)
    scan.schema_errors = [0] * len(inferred)
    rows = read_rows(path, res.format)
    next(rows)
    batch: list[dict[str, Any]] = []
    number = 0
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        number += 1
        record: dict[str, Any] = {"_id": number}
        texts = []
        for i, field_ in enumerate(inferred):
            value = row[i].strip() if i < len(row) else ""
            if mask and value:
                value = mask_text(value)
            if not value:
                record[f"c{i + 1}"] = None
                continue
            texts.append(value)
            try:
                record[f"c{i + 1}"] = convert(field_["type"], value)
            except ValueError:
                scan.schema_errors[i] += 1
                record[f"c{i + 1}"] = None
        record["_full_text"] = " ".join(texts).lower()
        batch.append(record)
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    for index in _indexes(table, inferred):
        index.create(conn)
    scan.duplicates = duplicate_rows(conn, table, [table.c[f"c{i + 1}"] for i in range(len(inferred))])
    res.fields = inferred
    res.table_name = name
    res.datastore_active = True
    res.row_count = number
    index_pairs(conn, res)
    quality = table_quality(scan)
    res.quality = quality
    return quality


def duplicate_rows(conn: Connection, table: Table, columns: Sequence[Any]) -> int:
    """How many rows repeat an earlier one (in every data column), counted in SQL."""
    groups = select(func.count().label("n")).select_from(table).group_by(*columns).having(func.count() > 1)
    repeated = groups.subquery()
    return int(conn.scalar(select(func.coalesce(func.sum(repeated.c.n - 1), 0))) or 0)


def create_table(conn: Connection, res: Resource, fields: list[dict[str, Any]]) -> Table:
    """An empty, indexed table of these typed fields for the resource (replacing any), filled by `append`."""
    table = _table(table_name(res.id), fields)
    table.drop(conn, checkfirst=True)
    table.create(conn)
    for index in _indexes(table, fields):
        index.create(conn)
    res.fields = list(fields)
    res.table_name = table.name
    res.datastore_active = True
    res.row_count = 0
    return table


def append(conn: Connection, res: Resource, rows: Iterable[Sequence[Any]]) -> int:
    """Appends typed rows (in `fields` order) after the table's last `_id`; returns how many."""
    table = table_for(res)
    number = int(conn.scalar(select(func.coalesce(func.max(table.c["_id"]), 0))) or 0)
    added = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        number += 1
        added += 1
        record: dict[str, Any] = {"_id": number}
        record.update({f"c{i + 1}": value for i, value in enumerate(row)})
        record["_full_text"] = " ".join(str(v) for v in row if isinstance(v, str)).lower()
        batch.append(record)
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    before = res.row_count
    res.row_count += added
    if before < PAIR_MIN_ROWS <= res.row_count:
        index_pairs(conn, res)
    return added


def drop_table(conn: Connection, res: Resource) -> None:
    if res.table_name:
        table_for(res).drop(conn, checkfirst=True)


# ---------------------------------------------------------------- datastore_search


def _field_columns(res: Resource, table: Table) -> dict[str, Any]:
    columns = {"_id": table.c["_id"]}
    for i, f in enumerate(res.fields):
        columns[f["id"]] = table.c[f"c{i + 1}"]
    return columns


def _types(res: Resource) -> dict[str, str]:
    return {"_id": "int", **{f["id"]: f["type"] for f in res.fields}}


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [v.strip() for v in value.split(",") if v.strip()]
        value = parsed
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise Invalid("opendata_datastore_param", name="fields")
    return [str(v) for v in value]


def _filter_value(kind: str, value: Any, name: str) -> Any:
    if value is None:
        return None
    try:
        return convert(kind, str(value).strip()) if kind != "text" else str(value)
    except ValueError as exc:
        raise Invalid("opendata_datastore_filter", field=name, value=str(value)[:50]) from exc


def search(
    conn: Connection,
    res: Resource,
    *,
    filters: Any = None,
    q: Any = None,
    fields: Any = None,
    sort: Any = None,
    limit: int = 100,
    offset: int = 0,
    include_total: bool = True,
) -> dict[str, Any]:
    """CKAN's `datastore_search` result for the resource (records as objects)."""
    table = table_for(res)
    columns = _field_columns(res, table)
    types = _types(res)
    chosen = _as_list(fields) or list(columns)
    for name in chosen:
        if name not in columns:
            raise Invalid("opendata_datastore_field", field=name)
    where: list[Any] = []
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except ValueError as exc:
            raise Invalid("opendata_datastore_param", name="filters") from exc
    for name, value in (filters or {}).items():
        if name not in columns:
            raise Invalid("opendata_datastore_field", field=name)
        values = value if isinstance(value, list) else [value]
        converted = [_filter_value(types[name], v, name) for v in values]
        where.append(
            or_(*(columns[name] == v if v is not None else columns[name].is_(None) for v in converted))
        )
    if isinstance(q, dict):
        for name, value in q.items():
            if name not in columns:
                raise Invalid("opendata_datastore_field", field=name)
            where.append(func.lower(columns[name]).contains(str(value).lower(), autoescape=True))
    elif q:
        for word in query_words(str(q)):
            where.append(table.c["_full_text"].contains(word, autoescape=True))
    order = []
    for part in str(sort or "").split(","):
        bits = part.strip().strip('"').split()
        if not bits:
            continue
        name = bits[0].strip('"')
        if name not in columns:
            raise Invalid("opendata_datastore_field", field=name)
        descending = len(bits) > 1 and bits[1].lower() == "desc"
        # Empty values sort as PostgreSQL (and so CKAN) sorts them, on either database: last ascending, first
        # descending (which a plain index serves in both directions).
        order.append(columns[name].desc().nulls_first() if descending else columns[name].asc().nulls_last())
    order.append(table.c["_id"].asc())
    if limit < 0 or offset < 0:
        raise Invalid("opendata_datastore_param", name="limit")
    limit = min(limit, MAX_LIMIT)
    query = (
        select(*(columns[n] for n in chosen))
        .where(and_(true(), *where))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    records = [{n: _json_value(v) for n, v in zip(chosen, row, strict=True)} for row in conn.execute(query)]
    out: dict[str, Any] = {
        "resource_id": res.id,
        "fields": [{"id": n, "type": types[n]} for n in chosen],
        "records": records,
        "limit": limit,
        "offset": offset,
        "_links": {
            "start": f"/api/action/datastore_search?resource_id={res.id}",
            "next": f"/api/action/datastore_search?resource_id={res.id}&offset={offset + limit}",
        },
    }
    if filters:
        out["filters"] = filters
    if q:
        out["q"] = q
    if sort:
        out["sort"] = sort
    if include_total:
        out["total"] = int(
            conn.scalar(select(func.count()).select_from(table).where(and_(true(), *where))) or 0
        )
        out["total_was_estimated"] = False
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


# ---------------------------------------------------------------- streamed downloads


def stream_rows(
    connect: Callable[[], Connection], res: Resource, chunk: int = BATCH
) -> Iterator[Sequence[Any]]:
    """Every row in `_id` order, read `chunk` rows at a time by key (each chunk in a short transaction)."""
    table = table_for(res)
    data = [table.c["_id"], *(table.c[f"c{i + 1}"] for i in range(len(res.fields)))]
    after = 0
    while True:
        with connect() as conn:
            rows = conn.execute(
                select(*data).where(table.c["_id"] > after).order_by(table.c["_id"]).limit(chunk)
            ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def csv_chunks(res: Resource, rows: Iterator[Sequence[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["_id", *(f["id"] for f in res.fields)])
    yield ("\ufeff" + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, 1):
        # Text that a spreadsheet would run as a formula is neutralised (the JSON download keeps it as it is).
        writer.writerow(["" if v is None else safe_cell(_json_value(v)) for v in row])
        if count % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def json_chunks(res: Resource, rows: Iterator[Sequence[Any]]) -> Iterator[bytes]:
    names = ["_id", *(f["id"] for f in res.fields)]
    fields = [{"id": "_id", "type": "int"}, *({"id": f["id"], "type": f["type"]} for f in res.fields)]
    yield (json.dumps({"fields": fields}, ensure_ascii=False)[:-1] + ', "records": [').encode()
    parts: list[str] = []
    first = True
    for row in rows:
        item = json.dumps({n: _json_value(v) for n, v in zip(names, row, strict=True)}, ensure_ascii=False)
        parts.append(item if first else "," + item)
        first = False
        if len(parts) >= 1000:
            yield "".join(parts).encode()
            parts = []
    yield ("".join(parts) + "]}").encode()


def attach(session: Session, res: Resource, path: Path, *, mask: bool = False) -> dict[str, Any]:
    """Loads an uploaded table file into the resource's table, in the session's transaction."""
    return load_table(session.connection(), res, path, mask=mask)
