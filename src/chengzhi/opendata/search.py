"""`package_search` over the catalogue's tables: CKAN's parameters (`q`, `fq` in Solr's syntax, `sort`, `rows`,
`start`, `facet.field`) translated into one SQL query, its count and the facet counts.

The `fq` subset understood: `field:value`, `field:"a value"`, `field:[FROM TO UNTIL]` (either end `*`), a leading
`-` to negate and `+` (ignored), joined by spaces or AND; fields `id`, `name`, `organization`/`owner_org`, `tags`,
`groups`, `res_format`, `license_id`, `open_level`, `state`, `metadata_modified`, `metadata_created`. `q` is
either such terms or words, every one of which must occur in the title, notes, name or tags.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, false, func, not_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators

from chengzhi.opendata import fulltext, paging
from chengzhi.opendata.models import Dataset, DatasetStatus, DatasetTag, OpenLevel, Resource
from chengzhi.opendata.vocab import THEMES
from chengzhi.opendata.words import query_words
from chengzhi.org.queries import unit_id_of_code
from chengzhi.org.service import Actor

MAX_ROWS = 1000
TERM_RE = re.compile(
    r'(?P<sign>[-+]?)(?P<field>[A-Za-z_]+):(?P<value>\[[^\]]*\]|\{[^}]*\}|"[^"]*"|\S+)|(?P<word>"[^"]*"|\S+)'
)
SORTS = {
    "id": Dataset.id,
    "name": Dataset.name,
    "title": Dataset.title,
    "title_string": Dataset.title,
    "metadata_modified": Dataset.modified_at,
    "metadata_created": Dataset.created_at,
}
FACETS = ("organization", "tags", "groups", "res_format", "license_id", "open_level")


class SearchQueryError(ValueError):
    """A `q`, `fq` or `sort` the search cannot read (CKAN answers "Search Query Error")."""


@dataclass
class SearchParams:
    q: str = ""
    fq: str = ""
    sort: str = ""
    rows: int = 10
    start: int = 0
    facet_fields: list[str] = field(default_factory=list)
    facet_limit: int = 50
    include_private: bool = False
    include_deleted: bool = False
    load: bool = True  # load the page's Dataset objects (else only their ids: see docs.render)


@dataclass
class SearchResult:
    count: int
    datasets: list[Dataset]
    facets: dict[str, dict[str, int]]
    ids: list[str] = field(default_factory=list)


def _date(value: str) -> dt.datetime | None:
    if value == "*":
        return None
    text = value.strip().rstrip("Z")
    if text.upper().startswith("NOW"):
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SearchQueryError(f"Can't parse date: {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _range(column: Any, value: str) -> ColumnElement[bool]:
    inclusive = value.startswith("[")
    parts = value[1:-1].split(" TO ")
    if len(parts) != 2:
        raise SearchQueryError(f"Invalid range: {value}")
    low, high = _date(parts[0].strip()), _date(parts[1].strip())
    conditions: list[ColumnElement[bool]] = []
    if low is not None:
        conditions.append(column >= low if inclusive else column > low)
    if high is not None:
        conditions.append(column <= high if inclusive else column < high)
    return and_(true(), *conditions)


def json_text(column: Any) -> Any:
    return cast(column, String)


def _condition(session: Session, name: str, value: str) -> ColumnElement[bool]:
    if value.startswith(("[", "{")):
        if name in ("metadata_modified", "metadata_created"):
            column = Dataset.modified_at if name == "metadata_modified" else Dataset.created_at
            return _range(column, value)
        raise SearchQueryError(f"Ranges are supported on metadata_modified and metadata_created, not {name}")
    value = value.strip('"')
    if name == "id":
        return Dataset.id == value
    if name == "name":
        return Dataset.name == value.lower()
    if name in ("organization", "owner_org"):
        unit_id = int(value) if value.isdigit() else unit_id_of_code(session, value)
        return Dataset.unit_id == unit_id if unit_id is not None else false()
    if name == "tags":
        return exists().where(DatasetTag.dataset_id == Dataset.id, DatasetTag.tag == value)
    if name == "groups":
        return json_text(Dataset.themes).like(f'%"{value}"%') if value in THEMES else false()
    if name == "res_format":
        return exists().where(Resource.dataset_id == Dataset.id, func.upper(Resource.format) == value.upper())
    if name == "license_id":
        return Dataset.license_id == value
    if name == "open_level":
        return Dataset.open_level == value if value in OpenLevel.__members__ else false()
    if name == "state":
        status = {"active": DatasetStatus.published, "deleted": DatasetStatus.withdrawn}.get(value)
        return Dataset.status == status if status else false()
    if name in ("metadata_modified", "metadata_created"):
        column = Dataset.modified_at if name == "metadata_modified" else Dataset.created_at
        return column == _date(value)
    if name in ("dataset_type", "type", "capacity"):
        return true()
    raise SearchQueryError(f"Unknown field: {name}")


def parse(
    session: Session, text: str, *, words_allowed: bool
) -> tuple[list[ColumnElement[bool]], bool, list[tuple[str, ...]]]:
    """Conditions of a `q` or `fq` string's field terms, whether it named `metadata_modified` (an incremental
    harvest), and its words: each a tuple of one word, or of a quoted phrase's words."""
    conditions: list[ColumnElement[bool]] = []
    terms: list[tuple[str, ...]] = []
    incremental = False
    for match in TERM_RE.finditer(text.strip()):
        if match.group("field"):
            name = match.group("field")
            condition = _condition(session, name, match.group("value"))
            incremental = incremental or name == "metadata_modified"
            conditions.append(not_(condition) if match.group("sign") == "-" else condition)
            continue
        word = match.group("word").strip('"')
        if word in ("AND", "*:*", "*", "") or (word == "OR" and words_allowed):
            continue
        if not words_allowed:
            raise SearchQueryError(f"Can't read the filter query term: {word}")
        # A quoted phrase is looked for as it is (its words in a row); other words are cut into words (Chinese
        # by jieba), each of which must occur.
        pieces = query_words(word, indexed=True)
        if match.group("word").startswith('"') and len(pieces) > 1:
            terms.append(tuple(pieces))
        else:
            terms += [(p,) for p in pieces]
    return conditions, incremental, list(dict.fromkeys(terms))


def _order(sort: str, score: Any = None) -> list[Any]:
    """ORDER BY terms of CKAN's `sort`. `score` is the relevance of a search with words: `score desc` sorts by it,
    and so does no `sort` at all (CKAN's default, "score desc, metadata_modified desc"); without words it is
    ignored."""
    default = [Dataset.modified_at.desc(), Dataset.id.desc()]
    if not sort.strip():
        return default if score is None else [score.desc(), *default]
    order: list[Any] = []
    for part in sort.split(","):
        bits = part.split()
        if not bits:
            continue
        key, direction = bits[0], (bits[1].lower() if len(bits) > 1 else "asc")
        if direction not in ("asc", "desc"):
            raise SearchQueryError(f"Can't sort by: {part.strip()}")
        if key == "score":
            if score is not None:
                order.append(score.desc() if direction == "desc" else score.asc())
            continue
        column = SORTS.get(key)
        if column is None:
            raise SearchQueryError(f"Can't sort by: {part.strip()}")
        order.append(column.desc() if direction == "desc" else column.asc())
    if not order:
        return default
    # The id breaks ties in the direction of the last key, so that a deep page seeks with one row comparison.
    last = order[-1]
    if getattr(getattr(last, "element", None), "name", None) == "id":
        return order
    if score is not None and last is order[0] and len(order) == 1:
        return [*order, *default]  # equal scores: newest first, as CKAN's default
    return [
        *order,
        Dataset.id.desc() if getattr(last, "modifier", None) is operators.desc_op else Dataset.id.asc(),
    ]


def visible(actor: Actor, *, include_private: bool, include_withdrawn: bool) -> ColumnElement[bool]:
    statuses = [DatasetStatus.published]
    if include_withdrawn:
        statuses.append(DatasetStatus.withdrawn)
    condition: ColumnElement[bool] = Dataset.status.in_(statuses)
    if not (include_private and actor.is_staff):
        condition = and_(condition, Dataset.open_level != OpenLevel.not_open)
    return condition


@dataclass
class Conditions:
    where: list[ColumnElement[bool]]
    match: fulltext.Match | None = None  # the words of `q`, when it has any


def search_conditions(session: Session, actor: Actor, params: SearchParams) -> Conditions:
    """The conditions of the search; raises SearchQueryError."""
    q_conditions, q_incremental, terms = parse(session, params.q, words_allowed=True)
    fq_conditions, fq_incremental, _ = parse(session, params.fq, words_allowed=False)
    # An incremental harvest (what changed since ...) sees withdrawn datasets too, as withdrawn.
    include_withdrawn = params.include_deleted or q_incremental or fq_incremental
    where = [
        visible(actor, include_private=params.include_private, include_withdrawn=include_withdrawn),
        *q_conditions,
        *fq_conditions,
    ]
    if not terms:
        return Conditions(where)
    found = fulltext.match(session, terms)
    return Conditions([*where, found.condition], found)


def _facets(
    session: Session, ids: Select[Any], fields: Sequence[str], limit: int
) -> dict[str, dict[str, int]]:
    chosen = ids.subquery()
    out: dict[str, dict[str, int]] = {}
    for name in fields:
        if name not in FACETS:
            continue
        rows: Sequence[Any]
        if name == "tags":
            rows = session.execute(
                select(DatasetTag.tag, func.count())
                .where(DatasetTag.dataset_id.in_(select(chosen.c.id)))
                .group_by(DatasetTag.tag)
                .order_by(func.count().desc(), DatasetTag.tag)
                .limit(limit)
            ).all()
        elif name == "res_format":
            rows = session.execute(
                select(func.upper(Resource.format), func.count(func.distinct(Resource.dataset_id)))
                .where(Resource.dataset_id.in_(select(chosen.c.id)))
                .group_by(func.upper(Resource.format))
            ).all()
        elif name == "groups":
            rows = [
                (
                    code,
                    session.scalar(
                        select(func.count())
                        .select_from(Dataset)
                        .where(
                            Dataset.id.in_(select(chosen.c.id)),
                            json_text(Dataset.themes).like(f'%"{code}"%'),
                        )
                    ),
                )
                for code in THEMES
            ]
        else:
            column = {"organization": Dataset.unit_id, "license_id": Dataset.license_id}.get(
                name, Dataset.open_level
            )
            rows = session.execute(
                select(column, func.count()).where(Dataset.id.in_(select(chosen.c.id))).group_by(column)
            ).all()
        out[name] = {str(key): int(n) for key, n in rows if n}
    return out


def package_search(session: Session, actor: Actor, params: SearchParams) -> SearchResult:
    if params.rows < 0 or params.start < 0:
        raise SearchQueryError("rows and start must not be negative")
    rows = min(params.rows, MAX_ROWS)
    conditions = search_conditions(session, actor, params)
    where = conditions.where
    found = conditions.match
    order = _order(params.sort, found.score if found else None)
    # SQLite's ranked rows come from a join (fulltext.py), needed only when the order reads the score.
    ranked = found is not None and any(getattr(term, "element", None) is found.score for term in order)
    source = found.join if found is not None and ranked else None
    # The count, facets and deep pages' bookmarks are computed once per state of the catalogue (paging.py).
    catalogue = paging.state(session)
    chosen = select(Dataset.id).where(*where)
    count_key, count = paging.known(session, catalogue, "count", chosen)
    # PostgreSQL's ranked search reads the narrow od_search_rows when the conditions and order allow it.
    ident: Any = Dataset.id
    page_where, page_order = where, order
    if ranked and source is None and fulltext.backend(session) == "postgresql":
        narrow_where, narrow_order = fulltext.narrowed(where), fulltext.narrowed(order)
        if narrow_where is not None and narrow_order is not None:
            page_where, page_order, ident = narrow_where, narrow_order, fulltext.NARROW_ID
    ids: list[str] = []
    if count is None and ranked and rows and params.start < paging.STEP:
        # A ranked page scores every match: the count comes with it, not from a second scan.
        ids, count = paging.counted_page(
            session, page_where, page_order, params.start, rows, source=source, ident=ident
        )
    if count is None:
        count = int(session.scalar(select(func.count(ident)).where(*page_where)) or 0)
    paging.keep(count_key, count)
    datasets: list[Dataset] = []
    if rows and params.start < count and not ids:
        ids = paging.page_ids(
            session, catalogue, page_where, page_order, params.start, rows, source=source, ident=ident
        )
    if ids and params.load:
        loaded = {ds.id: ds for ds in session.scalars(select(Dataset).where(Dataset.id.in_(ids)))}
        datasets = [loaded[i] for i in ids if i in loaded]
    facets: dict[str, dict[str, int]] = {}
    if params.facet_fields:
        facets = paging.kept(
            session,
            catalogue,
            f"facets {params.facet_fields} {params.facet_limit}",
            chosen,
            lambda: _facets(session, chosen, params.facet_fields, params.facet_limit),
        )
    return SearchResult(count=count, datasets=datasets, facets=facets, ids=ids)


def facet_fields(value: Any) -> list[str]:
    """`facet.field` as CKAN takes it: a JSON list in a string, or a list."""
    if not value:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SearchQueryError("facet.field must be a JSON list") from exc
    if not isinstance(value, list):
        raise SearchQueryError("facet.field must be a list")
    return [str(v) for v in value]
