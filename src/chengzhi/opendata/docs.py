"""Ready package dicts: each dataset's CKAN package dict stored as JSON text (`od_package_docs`, one per language),
rebuilt with every version of the dataset (`service.record_version`) and when the quality job re-scores it. A page
of `package_search` (or `current_package_list_with_resources`) reads these texts and joins them, instead of loading
datasets, resources and tags and building dicts (what CKAN keeps in Solr for the same reason).

What changes without a new version is left as a placeholder in the text and filled in when the page is written:
the site's address (the request's), the unit as `organization` and `author` (a unit can be renamed), and the
download and API-read counts. A doc built from an older version than the dataset's (`modified_at` differs), or
missing (datasets written before the table existed), is not used: the dict is built on the spot instead, so a
page is always what `package_show` says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, String, and_, any_, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from chengzhi.i18n import LANGUAGES
from chengzhi.opendata import dicts
from chengzhi.opendata.models import Dataset, PackageDoc
from chengzhi.org.models import Unit
from chengzhi.org.queries import units_by_id

# Placeholders: inside a string (\x01name\x01, JSON-escaped as \u0001) or a whole value ("\x02name\x02"). Every
# control character of the dataset's own text is dropped first, so nothing a publisher writes can look like one.
_IN = "\x01{}\x01"
_WHOLE = "\x02{}\x02"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
LIVE_EXTRAS = ("downloads", "api_calls")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def template(ds: Dataset, units: dict[int, Unit], lang: str) -> str:
    """The package dict of `ds` as JSON text, with placeholders for what may change without a new version."""
    out = _clean(dicts.package_dict(ds, units, "", lang))
    base = _IN.format("base")
    out["url"] = base + out["url"]
    for res_out, res in zip(out["resources"], ds.resources, strict=True):
        if not res.url:
            res_out["url"] = base + res_out["url"]
    out["organization"] = _WHOLE.format("organization")
    out["author"] = _WHOLE.format("author")
    for extra in out["extras"]:
        if extra["key"] in LIVE_EXTRAS:
            extra["value"] = _IN.format(extra["key"])
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def store(session: Session, ds: Dataset) -> None:
    """(Re)builds the dataset's docs in every language; called with each new version."""
    store_all(session, [ds])


def store_all(session: Session, datasets: Iterable[Dataset]) -> int:
    """(Re)builds the docs of these datasets: one query for their units, one delete, one insert."""
    chosen = list(datasets)
    if not chosen:
        return 0
    session.flush()
    units = units_by_id(session, dicts.unit_ids(chosen))
    ids = [ds.id for ds in chosen]
    session.execute(delete(PackageDoc).where(PackageDoc.dataset_id.in_(ids)))
    rows = [
        {"dataset_id": ds.id, "lang": lang, "modified_at": ds.modified_at, "body": template(ds, units, lang)}
        for ds in chosen
        for lang in LANGUAGES
    ]
    session.execute(insert(PackageDoc), rows)
    return len(chosen)


def missing(session: Session, limit: int) -> list[Dataset]:
    """Datasets whose docs are missing or older than the dataset (a batch of at most `limit`)."""
    doc = PackageDoc.__table__
    stale = (
        select(Dataset)
        .outerjoin(doc, and_(doc.c.dataset_id == Dataset.id, doc.c.lang == LANGUAGES[0]))
        .where((doc.c.dataset_id.is_(None)) | (doc.c.modified_at != Dataset.modified_at))
        .limit(limit)
    )
    return list(session.scalars(stale))


# The placeholders as they read in the JSON text: plain replaces (a regular expression over 2 MB of a page of
# 1,000 was most of its CPU). The site's address is the same in every doc of a page: it is replaced once in the
# joined text; the rest per doc.
_BASE_JSON = "\\u0001base\\u0001"
_IN_JSON = {name: f"\\u0001{name}\\u0001" for name in LIVE_EXTRAS}
_WHOLE_JSON = {name: f'"\\u0002{name}\\u0002"' for name in ("organization", "author")}


def _fill(body: str, values: dict[str, str]) -> str:
    for name, placeholder in _IN_JSON.items():
        body = body.replace(placeholder, values[name])
    for name, placeholder in _WHOLE_JSON.items():
        body = body.replace(placeholder, values[name])
    return body


def _escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _dumps(value: Any) -> str:
    return json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"))


def ids_in(session: Session, column: Any, ids: Sequence[str]) -> ColumnElement[bool]:
    """`column IN ids`: on PostgreSQL one array parameter (`= ANY`), not a parameter per id (1,000 ids of a page
    cost more to bind than to look up); elsewhere SQLite's IN."""
    if session.get_bind().dialect.name == "postgresql":
        condition: ColumnElement[bool] = column == any_(
            bindparam("ids", list(ids), type_=postgresql.ARRAY(String))
        )
        return condition
    condition = column.in_(ids)
    return condition


class Renderer:
    """Writes the package dicts of one page (or one streamed list) in one session: the units' JSON is made once
    for all its chunks (unit names are cleaned of control characters as the docs are, so no value can hold a
    placeholder)."""

    def __init__(self, session: Session, base: str, lang: str) -> None:
        self.session, self.lang = session, lang
        self.base = _escaped(base)
        self.units: dict[int, tuple[str, str]] = {}

    def _unit_texts(self, unit_ids: Iterable[int]) -> None:
        wanted = {i for i in unit_ids if i not in self.units}
        for unit_id, unit in units_by_id(self.session, wanted).items():
            self.units[unit_id] = (
                _dumps(dicts.organization_dict(unit, lang=self.lang)),
                _dumps(unit.name(self.lang)),
            )

    def render(self, ids: Sequence[str]) -> str:
        """The package dicts of these datasets as JSON texts joined by commas, in the order of `ids` (ids not
        found are left out); "" for none."""
        if not ids:
            return ""
        doc = PackageDoc.__table__
        rows = self.session.execute(
            select(
                Dataset.id,
                Dataset.unit_id,
                Dataset.downloads,
                Dataset.api_calls,
                Dataset.modified_at,
                doc.c.modified_at,
                doc.c.body,
            )
            .outerjoin(doc, and_(doc.c.dataset_id == Dataset.id, doc.c.lang == self.lang))
            .where(ids_in(self.session, Dataset.id, ids))
        ).all()
        found = {row[0]: row for row in rows}
        self._unit_texts({row[1] for row in rows})
        stale = [i for i in ids if i in found and (found[i][6] is None or found[i][5] != found[i][4])]
        built: dict[str, str] = {}
        if stale:
            datasets = list(self.session.scalars(select(Dataset).where(Dataset.id.in_(stale))))
            more = units_by_id(self.session, dicts.unit_ids(datasets))
            built = {ds.id: template(ds, more, self.lang) for ds in datasets}
        out = []
        for i in ids:
            row = found.get(i)
            if row is None:
                continue
            organization, author = self.units.get(row[1], ("null", "null"))
            values = {
                "organization": organization,
                "author": author,
                "downloads": str(row[2]),
                "api_calls": str(row[3]),
            }
            out.append(_fill(built.get(i) or row[6], values))
        return ",".join(out).replace(_BASE_JSON, self.base)


def render(session: Session, ids: Sequence[str], base: str, lang: str) -> list[str]:
    """The package dicts of these datasets as JSON texts, in the order of `ids` (ids not found are left out)."""
    text = Renderer(session, base, lang).render(ids)
    return json_items(text) if text else []


def json_items(text: str) -> list[str]:
    """The items of a JSON list's text without its brackets, each as JSON text (for tests and short lists)."""
    return [json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in json.loads(f"[{text}]")]


# A list of more package dicts than this is written while the response goes out (`Streamed`), this many at a time
# (a query each: at a load of 30 on two cores every round trip to the database costs milliseconds).
CHUNK = 250


@dataclass
class Streamed:
    """A list of package dicts too long to build in one piece: the response writes it `CHUNK` at a time, read in
    one session of its own (one snapshot on PostgreSQL), so that memory does not grow with `rows` and the first
    bytes leave before the last dict is read. A dataset changed between the search and the writing shows as it
    then is (as `package_show` would then say)."""

    ids: list[str]
    base: str
    lang: str


def stream(engine: Engine, listed: Streamed) -> Iterator[str]:
    """The JSON text of the list, in pieces."""
    yield "["
    first = True
    with Session(engine) as session:
        renderer = Renderer(session, listed.base, listed.lang)
        for start in range(0, len(listed.ids), CHUNK):
            items = renderer.render(listed.ids[start : start + CHUNK])
            if items:
                yield ("" if first else ",") + items
                first = False
    yield "]"


class RawJSON(str):
    """JSON text that goes into a response as it is (see `ckan._envelope`)."""


def join(session: Session, ids: Sequence[str], base: str, lang: str) -> RawJSON:
    """The package dicts of these datasets as one JSON list."""
    return RawJSON("[" + Renderer(session, base, lang).render(ids) + "]")
