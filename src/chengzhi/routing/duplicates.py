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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import True_

from chengzhi.categories.models import Category
from chengzhi.org.service import Actor
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import STATUS_NAMES, Status
from chengzhi.routing import places
from chengzhi.routing.rules import area_index
from chengzhi.routing.text import TextError, normalise
from chengzhi.routing.triage_models import DuplicateBand, DuplicateSignature, RequestTriage

if TYPE_CHECKING:
    from datasketch import MinHash

NUM_PERM = 96
BANDS = 32
ROWS = 3
SEED = 1
SHINGLE_HAN = 2
SHINGLE_LATIN = 4
TEXT_CHARS = 2000  # the part of a text that is shingled
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
PLACE_MONTHS = 3  # a named place finds the requests of its month and the two before
INDEX_NAME = (
    f"minhash-lsh {NUM_PERM} permutations, {BANDS} bands x {ROWS} rows, character {SHINGLE_HAN}-grams"
)

_KEEP = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


def shingles(normalised: str) -> set[str]:
    """Character shingles of normalised text: 2-grams of Chinese, 4-grams of Latin text, without punctuation."""
    text = normalised[:TEXT_CHARS].lower()
    han = sum(1 for ch in text[:400] if "\u3400" <= ch <= "\u9fff")
    if han * 3 >= len(text[:400]):
        compact = _KEEP.sub("", text)
        size = SHINGLE_HAN
    else:
        compact = _KEEP.sub(" ", text).strip()
        size = SHINGLE_LATIN
    if len(compact) < size:
        return {compact} if compact else set()
    return {compact[i : i + size] for i in range(len(compact) - size + 1)}


@lru_cache(maxsize=1)
def _template() -> MinHash:
    # Imported on first use, not with this module: `import datasketch` pulls in scipy.integrate (about 1 s), which
    # every command and the app would pay at start-up.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED)


def signature(items: Iterable[str]) -> np.ndarray:
    template = _template()
    minhash = type(template)(
        num_perm=NUM_PERM, seed=SEED, permutations=template.permutations, scheme=template.scheme
    )
    encoded = [s.encode("utf-8") for s in items]
    if encoded:
        minhash.update_batch(encoded)
    return minhash.hashvalues


def _key(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def band_keys(sig: np.ndarray) -> list[int]:
    values = np.ascontiguousarray(sig, dtype=np.uint64)
    return [_key(bytes([band]) + values[band * ROWS : (band + 1) * ROWS].tobytes()) for band in range(BANDS)]


def month_of(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m")


def previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def place_key(kind: str, month: str, value: object) -> int:
    return _key(f"{kind}|{month}|{value}".encode())


def place_labels(month: str, names: Iterable[str]) -> dict[int, tuple[str, str]]:
    """Place keys of one month: key -> ("name", place name)."""
    labels: dict[int, tuple[str, str]] = {}
    for name in sorted(set(names)):
        labels[place_key("p", month, name)] = ("name", name)
    return labels


@dataclass(frozen=True)
class Profile:
    """What the index and the score need to know of one request."""

    request_id: int
    shingles: frozenset[str]
    signature: np.ndarray | None  # None: no text to sign
    month: str
    unit_id: int | None  # the unit of the place read from its text (none for a map point)
    place_names: frozenset[str]
    lat: float | None
    lon: float | None
    category_id: int | None


def make_profile(
    request_id: int,
    title: str | None,
    text: str | None,
    received_at: dt.datetime,
    unit_id: int | None,
    lat: float | None,
    lon: float | None,
    category_id: int | None,
) -> Profile:
    """`lat`, `lon`: where the request is (its map point, or the place read from its text, then with its
    `unit_id`). Text that cannot be analysed (binary, garbled) gives no shingles: only its place keys are indexed."""
    try:
        normalised = normalise(f"{title or ''}。{(text or '')[: TEXT_CHARS * 2]}", TEXT_CHARS)
    except TextError:
        normalised = ""
    compact = normalised.replace(" ", "")
    names = frozenset(name for _s, _e, name, _kind in places.mentions(compact))
    items = frozenset(shingles(normalised))
    return Profile(
        request_id=request_id,
        shingles=items,
        signature=signature(items) if items else None,
        month=month_of(received_at),
        unit_id=unit_id,
        place_names=names,
        lat=lat,
        lon=lon,
        category_id=category_id,
    )


def profile(
    session: Session,
    request: Request,
    *,
    placed: places.Placed | None = None,
    triage: RequestTriage | None = None,
) -> Profile:
    """Without a map point, the place read from the text (at intake: `placed`; later: its `triage` row)."""
    lat, lon = request.lat, request.lon
    unit_id: int | None = None
    if lat is None or lon is None:
        if placed is not None and placed.found:
            lat, lon, unit_id = placed.lat, placed.lon, placed.unit_id
        elif triage is not None and triage.place_unit_id is not None:
            lat, lon, unit_id = triage.place_lat, triage.place_lon, triage.place_unit_id
    return make_profile(
        request.id, request.title, request.text, request.received_at, unit_id, lat, lon, request.category_id
    )


def index_keys(item: Profile) -> list[int]:
    """The keys stored for a request: its text bands and its place keys for the month it was received."""
    keys = band_keys(item.signature) if item.signature is not None else []
    keys.extend(place_labels(item.month, item.place_names))
    return list(dict.fromkeys(keys))


def query_keys(item: Profile) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """The keys a request looks up: its text bands, and its places in its month and the PLACE_MONTHS - 1 before."""
    text_keys = band_keys(item.signature) if item.signature is not None else []
    labels: dict[int, tuple[str, str]] = {}
    month = item.month
    for _ in range(PLACE_MONTHS):
        labels.update(place_labels(month, item.place_names))
        month = previous_month(month)
    return text_keys, labels


def signature_bytes(sig: np.ndarray) -> bytes:
    return np.ascontiguousarray(sig, dtype="<u4").tobytes()


def index_request(session: Session, item: Profile, *, replace: bool = False) -> int:
    """Adds a request's keys and signature to the index (in the caller's transaction); returns how many keys."""
    if replace:
        drop_request(session, item.request_id)
    keys = index_keys(item)
    # Core statements on the session's connection, without the ORM's bulk machinery: this runs at every intake.
    connection = session.connection()
    if keys:
        if connection.dialect.name == "postgresql":
            # One statement for all ~35 keys (an executemany costs the driver's work and a statement per key).
            connection.execute(_bands_from_array(), {"keys": keys, "request_id": item.request_id})
        else:
            connection.execute(
                insert(DuplicateBand), [{"band_key": k, "request_id": item.request_id} for k in keys]
            )
    if item.signature is not None:
        connection.execute(
            insert(DuplicateSignature),
            {"request_id": item.request_id, "signature": signature_bytes(item.signature)},
        )
    return len(keys)


@lru_cache(maxsize=1)
def _bands_from_array() -> Insert:
    """PostgreSQL: a request's keys inserted from one array parameter."""
    keys = func.unnest(bindparam("keys", type_=ARRAY(BigInteger)))
    return insert(DuplicateBand).from_select(
        ["band_key", "request_id"], select(keys, bindparam("request_id", type_=Integer))
    )


def drop_request(session: Session, request_id: int) -> None:
    session.execute(delete(DuplicateBand).where(DuplicateBand.request_id == request_id))
    session.execute(delete(DuplicateSignature).where(DuplicateSignature.request_id == request_id))


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


@dataclass
class Candidate:
    request: CandidateRequest
    score: float
    text_similarity: float  # estimated from the MinHash signatures
    distance_m: float | None
    category_relation: str  # same, related, unknown, different
    band_hits: int
    reasons_zh: list[str] = field(default_factory=list)
    reasons_en: list[str] = field(default_factory=list)
    issue_size: int | None = None

    def reasons(self, lang: str) -> list[str]:
        return self.reasons_en if lang == "en" else self.reasons_zh


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
    closed = Request.__table__.alias("closed_request")
    is_closed = (
        select(closed.c.id)
        .where(
            closed.c.status == bindparam("closed", Status.closed.value), closed.c.id == ranked.c.request_id
        )
        .exists()
    )
    top = (
        select(ranked.c.request_id, ranked.c.hits, ranked.c.places)
        .where(~is_closed)
        .order_by(ranked.c.hits.desc(), ranked.c.request_id.desc())
        .limit(bindparam("candidates", type_=Integer))
        .subquery("top")
    )
    return (
        select(
            top.c.hits,
            top.c.places,
            Request.id,
            Request.tracking_number,
            Request.title,
            Request.status,
            Request.category_id,
            Request.received_at,
            Request.external_id,
            Request.lat,
            Request.lon,
            Request.issue_id,
            DuplicateSignature.signature,
            RequestTriage.place_lat,
            RequestTriage.place_lon,
        )
        .select_from(top)
        .join(Request, Request.id == top.c.request_id)
        .outerjoin(DuplicateSignature, DuplicateSignature.request_id == top.c.request_id)
        .outerjoin(RequestTriage, RequestTriage.request_id == top.c.request_id)
        .where(Request.status != bindparam("closed", Status.closed.value))
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
    from chengzhi.requests.access import visibility_clause

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
        query = query.where(or_(Request.issue_id.is_(None), Request.issue_id != request.issue_id))
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
    sizes = _issue_sizes(session, [c.request.issue_id for c in result if c.request.issue_id is not None])
    for candidate in result:
        if candidate.request.issue_id is not None:
            candidate.issue_size = size = sizes.get(candidate.request.issue_id, 0)
            candidate.reasons_zh.append(f"已合并为事件 #{candidate.request.issue_id}（{size} 件诉求）")
            candidate.reasons_en.append(f"Part of issue #{candidate.request.issue_id} ({size} requests)")
    return result


def _issue_sizes(session: Session, issue_ids: list[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    query = (
        select(Request.issue_id, func.count())
        .where(Request.issue_id.in_(issue_ids))
        .group_by(Request.issue_id)
    )
    return {int(i): int(n) for i, n in session.execute(query) if i is not None}


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
    query = select(
        Category.id, Category.name_zh, Category.name_en, Category.group_zh, Category.group_en, Category.code
    )
    found = {row[0]: (row[1], row[2], row[3], row[4], row[5]) for row in session.execute(query)}
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
    reasons_zh = [f"文字相似度约 {parts.text:.2f}"]
    reasons_en = [f"text similarity about {parts.text:.2f}"]
    if parts.distance is not None:
        reasons_zh.append(f"相距约 {parts.distance:,.0f} 米")
        reasons_en.append(f"about {parts.distance:,.0f} m apart")
    shared_names = [value for kind, value in places_shared if kind == "name"]
    if shared_names:
        reasons_zh.append("同一地点：" + "、".join(f"“{n}”" for n in shared_names[:3]))
        reasons_en.append("same place: " + ", ".join(f"'{n}'" for n in shared_names[:3]))
    shared_units = [int(value) for kind, value in places_shared if kind == "unit"]
    if shared_units:
        name = units.get(shared_units[0], (None, None, "?", None))[2]
        reasons_zh.append(f"同在{name}")
        reasons_en.append(f"both in {name}")
    mine = groups.get(item.category_id or 0)
    if mine and category:
        if parts.relation == "same":
            reasons_zh.append(f"类别相同：{mine[0]}")
            reasons_en.append(f"same category: {mine[1]}")
        elif parts.relation == "related":
            reasons_zh.append(f"同属“{mine[2]}”类")
            reasons_en.append(f"both under '{mine[3] or mine[2]}'")
        else:
            reasons_zh.append(f"类别不同：{category[0]}")
            reasons_en.append(f"different category: {category[1]}")
    return Candidate(
        request=shown,
        score=parts.score,
        text_similarity=round(parts.text, 3),
        distance_m=round(parts.distance, 1) if parts.distance is not None else None,
        category_relation=parts.relation,
        band_hits=int(row.hits),
        reasons_zh=reasons_zh,
        reasons_en=reasons_en,
    )


def status_name(status: str, lang: str) -> str:
    names = STATUS_NAMES.get(status, (status, status))
    return names[1] if lang == "en" else names[0]


# ---------------------------------------------------------------- rebuilding


def rebuild_index(session: Session, *, batch: int = 1000) -> tuple[int, int]:
    """Empties the index and adds every request that is not closed; returns (requests, key rows). The caller
    commits: readers see the old index until then."""
    session.execute(delete(DuplicateBand))
    session.execute(delete(DuplicateSignature))
    last = 0
    requests = rows = 0
    while True:
        chunk = list(
            session.scalars(
                select(Request)
                .where(Request.id > last, Request.status != Status.closed.value)
                .order_by(Request.id)
                .limit(batch)
            )
        )
        if not chunk:
            break
        triages = {
            t.request_id: t
            for t in session.scalars(
                select(RequestTriage).where(RequestTriage.request_id.in_([r.id for r in chunk]))
            )
        }
        values: list[dict[str, int]] = []
        signatures: list[dict[str, Any]] = []
        for request in chunk:
            item = profile(session, request, triage=triages.get(request.id))
            values.extend({"band_key": k, "request_id": request.id} for k in index_keys(item))
            if item.signature is not None:
                signatures.append({"request_id": request.id, "signature": signature_bytes(item.signature)})
        if values:
            session.execute(insert(DuplicateBand), values)
        if signatures:
            session.execute(insert(DuplicateSignature), signatures)
        rows += len(values)
        requests += len(chunk)
        last = chunk[-1].id
        session.expunge_all()
    return requests, rows


# ---------------------------------------------------------------- keeping the index to open requests

# Requests changed less than PRUNE_LAG ago are left for the next round: a transaction that committed late with an
# earlier `updated_at` is still seen. PRUNE_BATCH: requests looked at per round (the job runs every minute).
PRUNE_LAG = dt.timedelta(minutes=10)
PRUNE_BATCH = 5000

Cursor = tuple[dt.datetime, int]


def prune_index(
    session: Session,
    cursor: Cursor | None,
    now: dt.datetime,
    *,
    batch: int = PRUNE_BATCH,
    lag: dt.timedelta = PRUNE_LAG,
) -> tuple[dict[str, int], Cursor | None]:
    """One round of keeping the index to requests that are not closed: the requests changed after `cursor`
    (updated_at, id) and before `now - lag`, at most `batch`, oldest first. Closed ones leave the index; those not
    closed and missing from it (reopened after they left) join it again. Returns the counts and the cursor to
    give the next round (the same one when there was nothing to look at)."""
    query = (
        select(Request.id, Request.status, Request.updated_at)
        .where(Request.updated_at < now - lag)
        .order_by(Request.updated_at, Request.id)
        .limit(batch)
    )
    if cursor is not None:
        at, last = cursor
        query = query.where(or_(Request.updated_at > at, and_(Request.updated_at == at, Request.id > last)))
    rows = session.execute(query).all()
    if not rows:
        return {"seen": 0, "dropped": 0, "indexed": 0}, cursor
    closed = [r.id for r in rows if r.status == Status.closed.value]
    still_open = [r.id for r in rows if r.status != Status.closed.value]
    dropped = 0
    for start in range(0, len(closed), 1000):
        chunk = closed[start : start + 1000]
        dropped += len(
            set(
                session.scalars(
                    select(DuplicateBand.request_id).where(DuplicateBand.request_id.in_(chunk)).distinct()
                )
            )
        )
        session.execute(delete(DuplicateBand).where(DuplicateBand.request_id.in_(chunk)))
        session.execute(delete(DuplicateSignature).where(DuplicateSignature.request_id.in_(chunk)))
    indexed = 0
    for start in range(0, len(still_open), 1000):
        chunk = still_open[start : start + 1000]
        # A request with a signature has its band keys too: being in duplicate_bands is being indexed.
        present = set(
            session.scalars(
                select(DuplicateBand.request_id).where(DuplicateBand.request_id.in_(chunk)).distinct()
            )
        )
        missing = [i for i in chunk if i not in present]
        if not missing:
            continue
        triages = {
            t.request_id: t
            for t in session.scalars(select(RequestTriage).where(RequestTriage.request_id.in_(missing)))
        }
        for request in session.scalars(select(Request).where(Request.id.in_(missing))):
            if index_request(session, profile(session, request, triage=triages.get(request.id))):
                indexed += 1
    last_row = rows[-1]
    return {"seen": len(rows), "dropped": dropped, "indexed": indexed}, (last_row.updated_at, last_row.id)
