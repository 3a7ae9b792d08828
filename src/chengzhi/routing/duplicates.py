"""Duplicates: for a request, the open requests and issues about the same problem, found through an index.

The index (`duplicate_bands`) holds, per request,
- the band hashes of a MinHash signature (NUM_PERM permutations in BANDS bands of ROWS) of the normalised
  text's character shingles: requests whose texts share a band are near-duplicates (LSH);
- place keys: the community the request lies in and the places its text names (…小区, …路, …村), each for the
  month it was received, so that requests about the same place in the same or the previous month meet.

Finding is one indexed `band_key IN (...)` query over the request's own keys, grouped by request, then a score
for the few candidates read back (text similarity, distance, category). Nothing scans the requests. Rows are
written at intake in the same transaction; closed requests are filtered out when found and dropped by
`rebuild_index` (the command `chengzhi triage rebuild-duplicates` rebuilds the index from existing data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from datasketch import MinHash
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.org.service import Actor
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import STATUS_NAMES, Status
from chengzhi.routing import places
from chengzhi.routing.rules import area_index
from chengzhi.routing.text import TextError, normalise
from chengzhi.routing.triage_models import DuplicateBand, RequestTriage

NUM_PERM = 96
BANDS = 24
ROWS = 4
SEED = 1
SHINGLE_HAN = 2
SHINGLE_LATIN = 4
TEXT_CHARS = 2000  # the part of a text that is shingled
CANDIDATES = 300  # most band hits read back for scoring
WEIGHTS = {"text": 0.5, "place": 0.3, "category": 0.2}
MIN_SCORE = 0.3
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
    return MinHash(num_perm=NUM_PERM, seed=SEED)


def signature(items: Iterable[str]) -> np.ndarray:
    template = _template()
    minhash = MinHash(
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


def place_keys(month: str, unit_id: int | None, names: Iterable[str]) -> list[int]:
    keys = [_key(f"u|{month}|{unit_id}".encode()) for _ in (1,) if unit_id is not None]
    keys.extend(_key(f"p|{month}|{name}".encode()) for name in sorted(set(names)))
    return keys


@dataclass(frozen=True)
class Profile:
    """What the index and the score need to know of one request."""

    request_id: int
    normalised: str
    shingles: frozenset[str]
    month: str
    unit_id: int | None  # the community (or coarser unit) of its point, or of the place read from its text
    place_names: frozenset[str]
    lat: float | None
    lon: float | None
    category_id: int | None


def profile(
    session: Session,
    request: Request,
    *,
    placed: places.Placed | None = None,
    triage: RequestTriage | None = None,
) -> Profile:
    try:
        normalised = normalise(f"{request.title or ''}。{request.text or ''}")
    except TextError:
        normalised = ""
    lat, lon = request.lat, request.lon
    unit_id: int | None = None
    if lat is not None and lon is not None:
        located = area_index(session).locate(lat, lon)
        unit_id = located.community_id or located.street_id or located.district_id
    elif placed is not None and placed.found:
        lat, lon, unit_id = placed.lat, placed.lon, placed.unit_id
    elif triage is not None and triage.place_unit_id is not None:
        lat, lon, unit_id = triage.place_lat, triage.place_lon, triage.place_unit_id
    compact = normalised.replace(" ", "")
    names = frozenset(name for _s, _e, name, _kind in places.mentions(compact))
    return Profile(
        request_id=request.id,
        normalised=normalised,
        shingles=frozenset(shingles(normalised)),
        month=month_of(request.received_at),
        unit_id=unit_id,
        place_names=names,
        lat=lat,
        lon=lon,
        category_id=request.category_id,
    )


def index_keys(item: Profile) -> list[int]:
    """The keys stored for a request: its text bands and its place keys for the month it was received."""
    keys = band_keys(signature(item.shingles)) if item.shingles else []
    keys.extend(place_keys(item.month, item.unit_id, item.place_names))
    return list(dict.fromkeys(keys))


def query_keys(item: Profile) -> list[int]:
    """The keys a request looks up: its text bands, and its places in its month and the month before."""
    keys = band_keys(signature(item.shingles)) if item.shingles else []
    for month in (item.month, previous_month(item.month)):
        keys.extend(place_keys(month, item.unit_id, item.place_names))
    return list(dict.fromkeys(keys))


def index_request(session: Session, item: Profile, *, replace: bool = False) -> int:
    """Adds a request's keys to the index (in the caller's transaction); returns how many rows."""
    if replace:
        session.execute(delete(DuplicateBand).where(DuplicateBand.request_id == item.request_id))
    keys = index_keys(item)
    if keys:
        session.execute(insert(DuplicateBand), [{"band_key": k, "request_id": item.request_id} for k in keys])
    return len(keys)


def drop_request(session: Session, request_id: int) -> None:
    session.execute(delete(DuplicateBand).where(DuplicateBand.request_id == request_id))


# ---------------------------------------------------------------- finding and scoring


@dataclass
class Candidate:
    request: Request
    score: float
    text_similarity: float
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


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def candidate_ids(
    session: Session, keys: Sequence[int], exclude: int, limit: int = CANDIDATES
) -> list[tuple[int, int]]:
    """(request id, keys shared) of the requests sharing most keys: one indexed query."""
    if not keys:
        return []
    hits = func.count().label("hits")
    query = (
        select(DuplicateBand.request_id, hits)
        .where(DuplicateBand.band_key.in_(list(keys)), DuplicateBand.request_id != exclude)
        .group_by(DuplicateBand.request_id)
        .order_by(hits.desc(), DuplicateBand.request_id.desc())
        .limit(limit)
    )
    return [(int(r), int(h)) for r, h in session.execute(query)]


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
    from chengzhi.requests.service import visibility_clause

    triage = session.get(RequestTriage, request.id)
    item = profile(session, request, triage=triage)
    hits = dict(candidate_ids(session, query_keys(item), request.id))
    if not hits:
        return []
    query = select(Request).where(Request.id.in_(list(hits)), Request.status != Status.closed.value)
    if actor is not None:
        query = query.where(visibility_clause(actor))
    rows = list(session.scalars(query))
    if request.issue_id is not None:
        rows = [r for r in rows if r.issue_id != request.issue_id]
    if not rows:
        return []
    triages = {
        t.request_id: t
        for t in session.scalars(
            select(RequestTriage).where(RequestTriage.request_id.in_([r.id for r in rows]))
        )
    }
    groups = _category_groups(session)
    found = [_score(session, item, row, triages.get(row.id), groups, hits.get(row.id, 0)) for row in rows]
    found = [c for c in found if c.score >= min_score]
    found.sort(key=lambda c: (-c.score, -c.request.id))
    # An issue is offered once, by its best request, with how many requests it holds.
    best: list[Candidate] = []
    issues: set[int] = set()
    for candidate in found:
        issue_id = candidate.request.issue_id
        if issue_id is not None:
            if issue_id in issues:
                continue
            issues.add(issue_id)
        best.append(candidate)
        if len(best) >= limit:
            break
    sizes = _issue_sizes(session, [c.request.issue_id for c in best if c.request.issue_id is not None])
    for candidate in best:
        if candidate.request.issue_id is not None:
            candidate.issue_size = sizes.get(candidate.request.issue_id)
            size = candidate.issue_size or 0
            candidate.reasons_zh.append(f"已合并为事件 #{candidate.request.issue_id}（{size} 件诉求）")
            candidate.reasons_en.append(f"Part of issue #{candidate.request.issue_id} ({size} requests)")
    return best


def _issue_sizes(session: Session, issue_ids: list[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    query = (
        select(Request.issue_id, func.count())
        .where(Request.issue_id.in_(issue_ids))
        .group_by(Request.issue_id)
    )
    return {int(i): int(n) for i, n in session.execute(query) if i is not None}


def _category_groups(session: Session) -> dict[int, tuple[str, str, str, str]]:
    """id -> (name_zh, name_en, group_zh, group_en)."""
    query = select(Category.id, Category.name_zh, Category.name_en, Category.group_zh, Category.group_en)
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in session.execute(query)}


def _score(
    session: Session,
    item: Profile,
    row: Request,
    triage: RequestTriage | None,
    groups: dict[int, tuple[str, str, str, str]],
    hits: int,
) -> Candidate:
    other = profile(session, row, triage=triage)
    text = jaccard(item.shingles, other.shingles)
    text_score = min(1.0, text / 0.5)
    reasons_zh = [f"文字相似度 {text:.2f}"]
    reasons_en = [f"text similarity {text:.2f}"]
    place = 0.0
    distance: float | None = None
    if None not in (item.lat, item.lon, other.lat, other.lon):
        distance = metres(item.lat, item.lon, other.lat, other.lon)  # type: ignore[arg-type]
        place = 1.0 if distance <= 150 else max(0.0, 1.0 - (distance - 150) / 1850)
        reasons_zh.append(f"相距约 {distance:,.0f} 米")
        reasons_en.append(f"about {distance:,.0f} m apart")
    shared = sorted(item.place_names & other.place_names)
    if shared:
        place = max(place, 0.8)
        reasons_zh.append("同一地点：" + "、".join(f"“{n}”" for n in shared[:3]))
        reasons_en.append("same place: " + ", ".join(f"'{n}'" for n in shared[:3]))
    if item.unit_id is not None and item.unit_id == other.unit_id:
        place = max(place, 0.6)
        name = area_index(session).units.get(item.unit_id, (None, None, "?", None))[2]
        reasons_zh.append(f"同在{name}")
        reasons_en.append(f"both in {name}")
    relation, category = "unknown", 0.4
    mine, theirs = groups.get(item.category_id or 0), groups.get(other.category_id or 0)
    if mine and theirs:
        if item.category_id == other.category_id:
            relation, category = "same", 1.0
            reasons_zh.append(f"类别相同：{mine[0]}")
            reasons_en.append(f"same category: {mine[1]}")
        elif mine[2] and mine[2] == theirs[2]:
            relation, category = "related", 0.6
            reasons_zh.append(f"同属“{mine[2]}”类")
            reasons_en.append(f"both under '{mine[3] or mine[2]}'")
        else:
            relation, category = "different", 0.0
            reasons_zh.append(f"类别不同：{theirs[0]}")
            reasons_en.append(f"different category: {theirs[1]}")
    score = WEIGHTS["text"] * text_score + WEIGHTS["place"] * place + WEIGHTS["category"] * category
    return Candidate(
        request=row,
        score=round(score, 3),
        text_similarity=round(text, 3),
        distance_m=round(distance, 1) if distance is not None else None,
        category_relation=relation,
        band_hits=hits,
        reasons_zh=reasons_zh,
        reasons_en=reasons_en,
    )


def status_name(status: str, lang: str) -> str:
    names = STATUS_NAMES.get(status, (status, status))
    return names[1] if lang == "en" else names[0]


# ---------------------------------------------------------------- rebuilding


def rebuild_index(session: Session, *, batch: int = 1000) -> tuple[int, int]:
    """Empties the index and adds every request that is not closed; returns (requests, rows). The caller
    commits (the index is empty for other readers until then only on databases without MVCC)."""
    session.execute(delete(DuplicateBand))
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
        for request in chunk:
            item = profile(session, request, triage=triages.get(request.id))
            values.extend({"band_key": k, "request_id": request.id} for k in index_keys(item))
        if values:
            session.execute(insert(DuplicateBand), values)
        rows += len(values)
        requests += len(chunk)
        last = chunk[-1].id
        session.expunge_all()
    return requests, rows
