"""Duplicates: for a request, the open requests and issues about the same problem, found through an index.

The index (`duplicate_bands`) holds, per request,
- the band hashes of a MinHash signature (NUM_PERM permutations in BANDS bands of ROWS) of the normalised
  text's character shingles: requests whose texts share a band are near-duplicates (LSH);
- place keys: the places its text names (…小区, …路, …村), each for the month it was received, so that requests
  naming the same place within PLACE_MONTHS months meet.

Finding is one statement (`candidate_query`, built once): each of the request's keys gives its newest PER_KEY
postings, the RANKED requests sharing most keys are kept, closed ones are passed over (index-only probes), and the
first CANDIDATES are read with their signatures, points and categories; then a score (text similarity, distance,
category). Every step is bounded; nothing scans the requests. Rows are written at intake in the same transaction;
closed requests are passed over when found; the periodic job `duplicates_prune` (`prune_index`) drops them as they
close and indexes them again if they are reopened, so the index holds the open requests, not the years of closed
ones (`chengzhi triage rebuild-duplicates` rebuilds the whole index from existing data). `datasketch` is imported on first use.

This module finds and scores (`find_duplicates`); `duplicates_index.py` holds the profiles, keys and signatures,
writes the index and keeps it. The search statement joins the index with the requests table: its requests part is
`chengzhi.requests.queries.open_ranked_requests`, given the index's parts.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Integer, Select, any_, bindparam, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import True_

from chengzhi.categories import service as categories
from chengzhi.i18n import N_, NC_, Listed, Named, Phrase, quoted
from chengzhi.org.service import Actor
from chengzhi.requests import queries as request_queries
from chengzhi.requests.access import visibility_clause
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import status_name as _status_name
from chengzhi.routing.duplicates_index import Profile, profile, query_keys
from chengzhi.routing.rules import area_index
from chengzhi.routing.triage_models import DuplicateBand, DuplicateSignature, RequestTriage

CANDIDATES = 50  # open requests sharing most keys, scored
PER_KEY = 100  # requests read per key at most, the newest (see `_postings`)
RANKED = 200  # requests sharing most keys, of which the CANDIDATES first not closed are scored
# score = text + place + category, each weighted; text counts fully from an estimated Jaccard of TEXT_FULL; place
# is 1 within NEAR_M, falling to 0 at FAR_M, 0.9 for the same named place, 0.3 for the same community alone.
WEIGHTS = {"text": 0.55, "place": 0.3, "category": 0.15}
TEXT_FULL = 0.5
NEAR_M = 150.0
FAR_M = 1000.0
MIN_SCORE = 0.35


# ---------------------------------------------------------------- finding and scoring


@dataclass(frozen=True)
class CandidateRequest:
    """What is shown of a candidate request (read with the scoring query, not loaded as a whole)."""

    id: int
    tracking_number: str
    title: str
    status: str
    category_id: int | None
    category_code: str | None
    category_name_zh: str | None
    category_name_en: str | None
    received_at: dt.datetime
    issue_id: int | None
    external_id: str | None

    def category_name(self, lang: str) -> str | None:
        return self.category_name_en if lang == "en" else self.category_name_zh


# Between a candidate's reasons when they are shown as one line.
REASONS_SEPARATOR = NC_("separator of reasons", "; ")


@dataclass
class Candidate:
    request: CandidateRequest
    score: float
    text_similarity: float  # estimated from the MinHash signatures
    distance_m: float | None
    category_relation: str  # same, related, unknown, different
    band_hits: int
    why: list[Phrase] = field(
        default_factory=list
    )  # the reasons, each a message shown in the reader's language
    issue_size: int | None = None

    def reasons(self, lang: str) -> list[str]:
        return [reason.render(lang) for reason in self.why]

    def reasons_text(self, lang: str) -> str:
        """The reasons as one line ("; " in English, "；" in Chinese)."""
        return Listed(self.why, REASONS_SEPARATOR).render(lang)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def estimated_jaccard(a: np.ndarray | None, b: bytes | None) -> float:
    if a is None or not b:
        return 0.0
    other = np.frombuffer(b, dtype="<u4")
    if other.shape != a.shape:
        return 0.0  # a signature of other parameters: `chengzhi triage rebuild-duplicates` replaces it
    return float(np.count_nonzero(a == other)) / len(a)


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def _postings(postgres: bool) -> Any:
    """(request_id, band_key) of the stored requests holding the keys `:keys`, but `:exclude`: each key gives its
    newest `:per_key` requests only. On PostgreSQL that is a LATERAL scan of the primary key's index, newest first,
    stopping there: a band or place shared by very many requests (boilerplate text, a big estate) adds its recent
    ones, not thousands of rows. The keys are one array parameter, so the statement's text is the same for every
    request (psycopg prepares it after a few uses). Elsewhere (SQLite) every posting is read and numbered per key;
    the same are kept."""
    band = DuplicateBand
    exclude = bindparam("exclude", type_=Integer)
    if postgres:
        wanted = (
            func.unnest(bindparam("keys", type_=ARRAY(BigInteger)))
            .table_valued("key")
            .render_derived(name="k")
        )
        posting = (
            select(band.request_id, band.band_key)
            .where(band.band_key == wanted.c.key, band.request_id != exclude)
            .order_by(band.request_id.desc())
            .limit(bindparam("per_key", type_=Integer))
            .lateral("b")
        )
        return (
            select(posting.c.request_id, posting.c.band_key)
            .select_from(wanted)
            .join(posting, true())
            .subquery()
        )
    newest = (
        func.row_number().over(partition_by=band.band_key, order_by=band.request_id.desc()).label("newest")
    )
    numbered = (
        select(band.request_id, band.band_key, newest)
        .where(band.band_key.in_(bindparam("keys", expanding=True)), band.request_id != exclude)
        .subquery()
    )
    return (
        select(numbered.c.request_id, numbered.c.band_key)
        .where(numbered.c.newest <= bindparam("per_key", type_=Integer))
        .subquery()
    )


@lru_cache(maxsize=4)
def candidate_query(dialect: str) -> Select[Any]:
    """One statement, built once per database kind: of the `:ranked` requests sharing most keys with `:keys` (ties:
    the newest), the `:candidates` first that are not closed, with the place keys of `:place_keys` each shares,
    their signatures, points and categories. Parameters: `candidate_params`; the caller adds who may see them.

    Every step is bounded: postings read (keys x `:per_key`), index-only probes of requests' (status, id) index
    to pass over closed requests (`:ranked`), rows read from requests, signatures and triage (`:candidates`)."""
    postgres = dialect == "postgresql"
    postings = _postings(postgres)
    if postgres:
        shared = func.array_agg(postings.c.band_key).filter(
            postings.c.band_key == any_(bindparam("place_keys", type_=ARRAY(BigInteger)))
        )
    else:
        shared = func.group_concat(postings.c.band_key).filter(
            postings.c.band_key.in_(bindparam("place_keys", expanding=True))
        )
    hits = func.count().label("hits")
    ranked = (
        select(postings.c.request_id, hits, shared.label("places"))
        .group_by(postings.c.request_id)
        .order_by(hits.desc(), postings.c.request_id.desc())
        .limit(bindparam("ranked", type_=Integer))
        .subquery("ranked")
    )
    return request_queries.open_ranked_requests(
        ranked,
        [DuplicateSignature.signature, RequestTriage.place_lat, RequestTriage.place_lon],
        [
            (DuplicateSignature.__table__, DuplicateSignature.request_id),
            (RequestTriage.__table__, RequestTriage.request_id),
        ],
    )


def candidate_params(
    text_keys: Sequence[int], place_keys: Sequence[int], exclude: int, limit: int | None = None
) -> dict[str, Any]:
    return {
        "keys": list(dict.fromkeys([*text_keys, *place_keys])),
        "place_keys": list(place_keys),
        "exclude": exclude,
        "per_key": PER_KEY,
        "ranked": RANKED,
        "candidates": CANDIDATES if limit is None else limit,
    }


def _shared_keys(value: object) -> list[int]:
    """The place keys a candidate shares: an array (PostgreSQL) or comma-separated text (SQLite)."""
    if not value:
        return []
    if isinstance(value, str):
        return [int(part) for part in value.split(",")]
    return [int(part) for part in value]  # type: ignore[attr-defined]


def text_similarities(mine: np.ndarray | None, signatures: Sequence[bytes | None]) -> np.ndarray:
    """Estimated Jaccard similarity of one signature with many stored ones, at once (0 for a missing signature or
    one of other parameters)."""
    found = np.zeros(len(signatures))
    if mine is None:
        return found
    size = len(mine) * 4
    usable = [n for n, sig in enumerate(signatures) if sig is not None and len(sig) == size]
    if usable:
        stacked = np.frombuffer(b"".join(signatures[n] or b"" for n in usable), dtype="<u4").reshape(
            len(usable), len(mine)
        )
        found[usable] = np.count_nonzero(stacked == mine.astype("<u4"), axis=1) / len(mine)
    return found


def find_duplicates(
    session: Session,
    actor: Actor | None,
    request: Request,
    *,
    limit: int = 10,
    min_score: float = MIN_SCORE,
) -> list[Candidate]:
    """Open requests (and issues, by their best request) about the same problem as `request`, best first.
    `actor`: only requests the actor may see are returned (None: every request, for benchmarks and jobs)."""
    triage = session.get(RequestTriage, request.id) if request.lat is None or request.lon is None else None
    item = profile(session, request, triage=triage)
    text_keys, labels = query_keys(item)
    params = candidate_params(text_keys, list(labels), request.id)
    if not params["keys"]:
        return []
    query = candidate_query(
        session.get_bind().dialect.name
    )  # the same object: SQLAlchemy's cache key is kept
    if actor is not None:
        visible = visibility_clause(actor)
        if not isinstance(visible, True_):  # staff of the whole city see every request
            query = query.where(visible)
    if request.issue_id is not None:
        query = query.where(request_queries.outside_issue(request.issue_id))
    rows = session.execute(query, params).all()
    if not rows:
        return []
    groups = category_groups(session)
    units = area_index(session).units
    texts = text_similarities(item.signature, [row.signature for row in rows])
    scored = []
    for row, text in zip(rows, texts, strict=True):
        lat, lon = (row.lat, row.lon) if row.lat is not None else (row.place_lat, row.place_lon)
        places_shared = tuple(dict.fromkeys(labels[k] for k in _shared_keys(row.places) if k in labels))
        parts = _score_parts(item, row.category_id, lat, lon, float(text), places_shared, groups)
        if parts.score >= min_score:
            scored.append((parts, row, places_shared))
    scored.sort(key=lambda found: (-found[0].score, -found[1].id))
    result: list[Candidate] = []
    issues: set[int] = set()
    for parts, row, places_shared in scored:
        if row.issue_id is not None:
            if row.issue_id in issues:
                continue  # an issue is offered once, by its best request
            issues.add(row.issue_id)
        result.append(_candidate(item, row, parts, places_shared, groups, units))
        if len(result) >= limit:
            break
    sizes = request_queries.issue_sizes(
        session, [c.request.issue_id for c in result if c.request.issue_id is not None]
    )
    for candidate in result:
        if candidate.request.issue_id is not None:
            candidate.issue_size = size = sizes.get(candidate.request.issue_id, 0)
            candidate.why.append(
                Phrase(
                    N_("Part of issue #%(issue)s (%(size)s requests)"),
                    issue=candidate.request.issue_id,
                    size=size,
                )
            )
    return result


_groups_lock = threading.Lock()
_groups: dict[str, tuple[float, object, dict[int, tuple[str, str, str, str, str]]]] = {}
GROUPS_SECONDS = 60.0


def category_groups(session: Session) -> dict[int, tuple[str, str, str, str, str]]:
    """id -> (name_zh, name_en, group_zh, group_en, code), read once a minute per database."""
    key = str(session.get_bind().engine.url)
    now = time.monotonic()
    index = area_index(session)  # rebuilt when the organisation changes (rules.invalidate): so is this
    with _groups_lock:
        cached = _groups.get(key)
        if cached is not None and now - cached[0] < GROUPS_SECONDS and cached[1] is index:
            return cached[2]
    found = categories.category_labels(session)
    with _groups_lock:
        _groups[key] = (now, index, found)
    return found


def invalidate() -> None:
    with _groups_lock:
        _groups.clear()


@dataclass(frozen=True)
class _Parts:
    score: float
    text: float
    place: float
    distance: float | None
    relation: str  # same, related, unknown, different
    category: float


def _score_parts(
    item: Profile,
    category_id: int | None,
    lat: float | None,
    lon: float | None,
    text: float,
    places_shared: tuple[tuple[str, str], ...],
    groups: dict[int, tuple[str, str, str, str, str]],
) -> _Parts:
    place = 0.0
    distance: float | None = None
    if item.lat is not None and item.lon is not None and lat is not None and lon is not None:
        distance = metres(item.lat, item.lon, lat, lon)
        place = 1.0 if distance <= NEAR_M else max(0.0, 1.0 - (distance - NEAR_M) / (FAR_M - NEAR_M))
    if any(kind == "name" for kind, _value in places_shared):
        place = max(place, 0.9)
    if any(kind == "unit" for kind, _value in places_shared):
        place = max(place, 0.3)
    relation, category = "unknown", 0.4
    mine, theirs = groups.get(item.category_id or 0), groups.get(category_id or 0)
    if mine and theirs:
        if item.category_id == category_id:
            relation, category = "same", 1.0
        elif mine[2] and mine[2] == theirs[2]:
            relation, category = "related", 0.6
        else:
            relation, category = "different", 0.0
    text_score = min(1.0, text / TEXT_FULL)
    score = WEIGHTS["text"] * text_score + WEIGHTS["place"] * place + WEIGHTS["category"] * category
    return _Parts(round(score, 3), text, place, distance, relation, category)


def _candidate(
    item: Profile,
    row: Any,
    parts: _Parts,
    places_shared: tuple[tuple[str, str], ...],
    groups: dict[int, tuple[str, str, str, str, str]],
    units: dict[int, Any],
) -> Candidate:
    """A candidate shown, with its reasons (built only for the candidates returned)."""
    category = groups.get(row.category_id or 0)
    shown = CandidateRequest(
        id=row.id,
        tracking_number=row.tracking_number,
        title=row.title,
        status=row.status,
        category_id=row.category_id,
        category_code=category[4] if category else None,
        category_name_zh=category[0] if category else None,
        category_name_en=category[1] if category else None,
        received_at=row.received_at,
        issue_id=row.issue_id,
        external_id=row.external_id,
    )
    # Numbers are written as the platform always wrote them (0.83, 1,250), in both languages.
    why = [Phrase(N_("text similarity about %(similarity)s"), similarity=f"{parts.text:.2f}")]
    if parts.distance is not None:
        why.append(Phrase(N_("about %(metres)s m apart"), metres=f"{parts.distance:,.0f}"))
    shared_names = [value for kind, value in places_shared if kind == "name"]
    if shared_names:
        why.append(Phrase(N_("same place: %(names)s"), names=Listed(quoted(n) for n in shared_names[:3])))
    shared_units = [int(value) for kind, value in places_shared if kind == "unit"]
    if shared_units:
        name = units.get(shared_units[0], (None, None, "?", None))[2]
        why.append(Phrase(N_("both in %(unit)s"), unit=name))
    mine = groups.get(item.category_id or 0)
    if mine and category:
        if parts.relation == "same":
            why.append(Phrase(N_("same category: %(category)s"), category=Named(mine[0], mine[1])))
        elif parts.relation == "related":
            why.append(Phrase(N_("both under '%(group)s'"), group=Named(mine[2], mine[3] or mine[2])))
        else:
            why.append(
                Phrase(N_("different category: %(category)s"), category=Named(category[0], category[1]))
            )
    return Candidate(
        request=shown,
        score=parts.score,
        text_similarity=round(parts.text, 3),
        distance_m=round(parts.distance, 1) if parts.distance is not None else None,
        category_relation=parts.relation,
        band_hits=int(row.hits),
        why=why,
    )


def status_name(status: str, lang: str) -> str:
    return _status_name(status, lang)
