"""The duplicates index (docs in `duplicates.py`): a request's profile (shingles, MinHash signature, the places its
text names, its point and category), the keys stored for it in `duplicate_bands` and its signature in
`duplicate_signatures`, written at intake in the caller's transaction; rebuilding the whole index
(`chengzhi triage rebuild-duplicates`) and keeping it to open requests (`prune_index`, the periodic job
`duplicates_prune`). `datasketch` is imported on first use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import BigInteger, Integer, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from chengzhi.requests import queries as request_queries
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import Status
from chengzhi.routing import places
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
    hashvalues: np.ndarray = minhash.hashvalues
    return hashvalues


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
    return index_requests(session, [item])


def index_requests(session: Session, items: list[Profile]) -> int:
    """Adds the keys and signatures of several requests (the triage worker's batch) in two statements; returns how
    many keys."""
    keys: list[int] = []
    owners: list[int] = []
    for item in items:
        mine = index_keys(item)
        keys.extend(mine)
        owners.extend([item.request_id] * len(mine))
    signatures = [
        {"request_id": item.request_id, "signature": signature_bytes(item.signature)}
        for item in items
        if item.signature is not None
    ]
    # Core statements on the session's connection, without the ORM's bulk machinery: this runs for every request.
    connection = session.connection()
    if keys:
        if connection.dialect.name == "postgresql":
            # One statement for all keys (~35 a request): two array parameters, unnested side by side.
            connection.execute(_bands_from_arrays(), {"keys": keys, "request_ids": owners})
        else:
            connection.execute(
                insert(DuplicateBand),
                [{"band_key": k, "request_id": r} for k, r in zip(keys, owners, strict=True)],
            )
    if signatures:
        connection.execute(insert(DuplicateSignature), signatures)
    return len(keys)


@lru_cache(maxsize=1)
def _bands_from_arrays() -> Insert:
    """PostgreSQL: keys and their requests inserted from two array parameters."""
    pairs = (
        func.unnest(
            bindparam("keys", type_=ARRAY(BigInteger)), bindparam("request_ids", type_=ARRAY(Integer))
        )
        .table_valued("band_key", "request_id")
        .render_derived(name="pairs")
    )
    return insert(DuplicateBand).from_select(
        ["band_key", "request_id"], select(pairs.c.band_key, pairs.c.request_id)
    )


def clear_built() -> None:
    """Forgets the MinHash template and the statement built once (built again on next use)."""
    _template.cache_clear()
    _bands_from_arrays.cache_clear()


def drop_request(session: Session, request_id: int) -> None:
    session.execute(delete(DuplicateBand).where(DuplicateBand.request_id == request_id))
    session.execute(delete(DuplicateSignature).where(DuplicateSignature.request_id == request_id))


# ---------------------------------------------------------------- rebuilding


def rebuild_index(session: Session, *, batch: int = 1000) -> tuple[int, int]:
    """Empties the index and adds every request that is not closed; returns (requests, key rows). The caller
    commits: readers see the old index until then."""
    session.execute(delete(DuplicateBand))
    session.execute(delete(DuplicateSignature))
    last = 0
    requests = rows = 0
    while True:
        chunk = request_queries.open_requests_after(session, last, batch)
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
    rows = request_queries.requests_changed(session, cursor, now - lag, batch)
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
        for request in request_queries.requests_by_ids(session, missing):
            if index_request(session, profile(session, request, triage=triages.get(request.id))):
                indexed += 1
    last_row = rows[-1]
    return {"seen": len(rows), "dropped": dropped, "indexed": indexed}, (last_row.updated_at, last_row.id)
