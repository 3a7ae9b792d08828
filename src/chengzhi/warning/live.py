"""Live hot issues: each new request joins an issue or opens a candidate (the triage worker's step), and the
nightly recomputation groups the recent months again with `hot.group`, keeping the staff's decisions.

A request is compared with each open issue's signature (its mean TF-IDF vector, words and places, weighted by the
last recomputation's IDF) through a numpy index of the signatures (`warning/issue_index.py`); it joins the most
similar issue above `JOIN_SIMILARITY` unless the places their titles name differ, else it opens a candidate issue of its own. An issue
is hot once `CHENGZHI_WARNING_MIN_PEOPLE` people wrote about it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Engine,
    delete,
    func,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.jobs import service as jobs_service
from chengzhi.org import queries as org_queries
from chengzhi.requests import queries as requests_queries
from chengzhi.routing.rules import area_index
from chengzhi.warning import batch, hot, labels
from chengzhi.warning.issue_index import IssueIndex
from chengzhi.warning.models import (
    HotIssue,
    HotIssueDecision,
    HotIssueMember,
    HotTerm,
    OutsidePost,
)
from chengzhi.warning.settings import grouping_settings

if TYPE_CHECKING:
    from chengzhi.requests.models import Request

# Cosine between a request and an issue's signature for the request to join it. The signature is a mean of
# normalised vectors, so this is about twice the mean pairwise similarity that offline grouping asks for.
JOIN_SIMILARITY = 0.3
SIGNATURE_TERMS = 80
WINDOW_DAYS = 90  # issues whose last request is older take no new ones; the recomputation reads this far back
RECOMPUTE_HOURS = 20.0
# Requests grouped by one recomputation: blocked grouping (warning/batch.py) is not n × n, so this bounds only the
# time and memory of one night (100,000 requests: see docs/warning.md, "The batch").
RECOMPUTE_LIMIT = 200_000
DASK_FROM = (
    20_000  # from this many messages on, tokenising runs on Dask (local processes or the set scheduler)
)
IDF_SECONDS = 300.0
INDEX_SECONDS = 60.0


def person_of(settings: Settings, submitter_id: int | None, phone: str | None, request_id: int) -> str:
    """Who wrote a request, for counting people: the account, else a keyed digest of the phone, else the request."""
    if submitter_id is not None:
        return f"u{submitter_id}"
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if len(digits) >= 7:
        digest = hmac.new(settings.secret_key.encode(), digits.encode(), hashlib.sha256).hexdigest()
        return f"p{digest[:24]}"
    return f"r{request_id}"


# ---------------------------------------------------------------- vectors


@dataclass
class _Idf:
    values: dict[str, float]
    default: float
    loaded: float


_idf_lock = threading.Lock()
_idf_cache: dict[str, _Idf] = {}


def invalidate_idf() -> None:
    with _idf_lock:
        _idf_cache.clear()


def _idf(session: Session) -> _Idf:
    key = str(session.get_bind().engine.url)
    with _idf_lock:
        cached = _idf_cache.get(key)
    if cached is not None and time.monotonic() - cached.loaded < IDF_SECONDS:
        return cached
    values = dict(session.execute(select(HotTerm.term, HotTerm.idf)).all())
    # A word the last recomputation never saw is rare: it gets the largest IDF.
    loaded = _Idf(values, max(values.values(), default=1.0), time.monotonic())
    with _idf_lock:
        _idf_cache[key] = loaded
    return loaded


def vectorise(
    title: str, text: str, idf: _Idf, grouping: hot.GroupingSettings
) -> tuple[dict[str, float], list[str]]:
    """A request's normalised TF-IDF vector (sublinear term frequencies, as in `hot.featurise`) and the place
    keys its title names."""
    clean_title, clean_detail = hot.clean_text(hot.Message(id="", title=title, detail=text, time=None))
    document, _words, in_title, _named = hot.document_tokens(clean_title, clean_detail, grouping)
    counts = Counter(document)
    vector = {t: (1.0 + math.log(c)) * idf.values.get(t, idf.default) for t, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {t: v / norm for t, v in vector.items()}, sorted({hot.place_key(p) for p in in_title})


def _normalised_top(vector: dict[str, float], keep: int = SIGNATURE_TERMS) -> dict[str, float]:
    top = sorted(vector.items(), key=lambda item: -item[1])[:keep]
    norm = math.sqrt(sum(v * v for _t, v in top)) or 1.0
    return {t: round(v / norm, 5) for t, v in top}


def _same_place(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two lists of place keys share a place (or one of them names none)."""
    if not a or not b:
        return True
    for x in a:
        for y in b:
            short, long = sorted((x, y), key=len)
            grams = {short[i : i + 2] for i in range(len(short) - 1)} or {short}
            if sum(1 for g in grams if g in long) >= 0.5 * len(grams):
                return True
    return False


# ---------------------------------------------------------------- placing new requests (the worker's step)


@dataclass
class _Open:
    """Issues as an inverted index from words to (issue, weight): those a batch opens (see `IssueIndex`)."""

    ids: list[int] = field(default_factory=list)
    places: list[list[str]] = field(default_factory=list)
    postings: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, issue_id: int, signature: dict[str, float], places: list[str]) -> None:
        index = len(self.ids)
        self.ids.append(issue_id)
        self.places.append(places)
        for term, weight in signature.items():
            self.postings[term].append((index, weight))

    def best(self, vector: dict[str, float], places: list[str]) -> tuple[int | None, float]:
        scores: dict[int, float] = defaultdict(float)
        for term, weight in vector.items():
            for index, other in self.postings.get(term, ()):
                scores[index] += weight * other
        for index, similarity in sorted(scores.items(), key=lambda item: -item[1]):
            if similarity < JOIN_SIMILARITY:
                break
            if _same_place(places, self.places[index]):
                return self.ids[index], similarity
        return None, 0.0


_index_lock = threading.Lock()
_indexes: dict[str, tuple[IssueIndex, float]] = {}


def _open_issues(session: Session, now: dt.datetime) -> IssueIndex:
    """The open issues' index of this database, rebuilt every INDEX_SECONDS (and after a recomputation in this
    process); issues this process opens in between are added to it. An issue that is gone or merged by the time a
    request would join it is checked against the database (`_joinable`)."""
    key = str(session.get_bind().engine.url)
    with _index_lock:
        cached = _indexes.get(key)
    if cached is not None and time.monotonic() - cached[1] < INDEX_SECONDS:
        return cached[0]
    rows = session.execute(
        select(HotIssue.id, HotIssue.signature, HotIssue.place_keys).where(
            HotIssue.merged_into_id.is_(None), HotIssue.last_at >= now - dt.timedelta(days=WINDOW_DAYS)
        )
    )
    found = IssueIndex(
        JOIN_SIMILARITY,
        _same_place,
        ((issue_id, signature or {}, list(places or [])) for issue_id, signature, places in rows),
    )
    with _index_lock:
        _indexes[key] = (found, time.monotonic())
    return found


def invalidate_index() -> None:
    with _index_lock:
        _indexes.clear()


MERGE_HOPS = 5  # a request follows at most this many staff merges to the issue it joins


def _joinable(session: Session, issue_ids: Iterable[int]) -> dict[int, HotIssue]:
    """For each issue id the open index gave: the issue a request may join (the issue itself, or the one it was
    merged into); ids of issues that are gone are left out. One query per hop of merges, whatever the batch."""
    wanted = set(issue_ids)
    loaded: dict[int, HotIssue] = {}
    for _ in range(MERGE_HOPS + 1):
        missing = wanted - loaded.keys()
        if not missing:
            break
        loaded.update((i.id, i) for i in session.scalars(select(HotIssue).where(HotIssue.id.in_(missing))))
        wanted = {i.merged_into_id for i in loaded.values() if i.merged_into_id is not None}
    found = {}
    for issue_id in issue_ids:
        issue = loaded.get(issue_id)
        for _ in range(MERGE_HOPS):
            if issue is None or issue.merged_into_id is None:
                break
            issue = loaded.get(issue.merged_into_id)
        if issue is not None and issue.merged_into_id is None:
            found[issue_id] = issue
    return found


def area_units(
    session: Session, points: Sequence[tuple[float | None, float | None, int]]
) -> list[tuple[int, str]]:
    """For each (lat, lon, fallback unit id): the unit a hot issue's request counts in, with its path. The most
    specific area the map point lies in (the problem's place), else the fallback (the lead or receiving unit)."""
    index = area_index(session)
    chosen = []
    for lat, lon, fallback in points:
        unit_id = None
        if lat is not None and lon is not None:
            located = index.locate(lat, lon)
            unit_id = located.community_id or located.street_id or located.district_id
        chosen.append(unit_id or fallback)
    paths = org_queries.unit_paths(session, set(chosen))
    return [(unit_id, paths.get(unit_id, "/")) for unit_id in chosen]


def place_requests(
    session: Session, settings: Settings, requests: Sequence[Request], now: dt.datetime
) -> None:
    """The triage worker's step: each request not yet in a hot issue joins the most similar open issue or opens a
    candidate issue of its own. Idempotent per request."""
    if not requests:
        return
    ids = [r.id for r in requests]
    placed = set(session.scalars(select(HotIssueMember.request_id).where(HotIssueMember.request_id.in_(ids))))
    todo = [r for r in requests if r.id not in placed]
    if not todo:
        return
    units = area_units(session, [(r.lat, r.lon, r.lead_unit_id or r.receiving_unit_id) for r in todo])
    negativity = labels.negativities(session, [r.id for r in todo])
    found = _place_batch(
        session, settings, [(r.title or "", r.text or "", r.received_at or now) for r in todo], now
    )
    session.execute(
        insert(HotIssueMember),
        [
            {
                "request_id": request.id,
                "issue_id": issue.id,
                "similarity": round(similarity, 4),
                "received_at": request.received_at or now,
                "person": person_of(settings, request.submitter_id, request.contact_phone, request.id),
                "supports": request.support_count or 0,
                "unit_path": unit_path,
                "area_unit_id": unit_id,
                "title": (request.title or "")[:200],
                "placed_at": now,
                "negativity": negativity.get(request.id),
            }
            for request, (issue, similarity), (unit_id, unit_path) in zip(todo, found, units, strict=True)
        ],
    )


def _place_batch(
    session: Session, settings: Settings, messages: Sequence[tuple[str, str, dt.datetime]], now: dt.datetime
) -> list[tuple[HotIssue, float]]:
    """For each (title, text, received) message: the issue it joins (the most similar open one) and how similar,
    or a new candidate issue of its own (similarity 1).

    The batch is placed in memory and written at once (the issues it joins read in one query, the issues it opens
    inserted with one statement): a later message of the batch may join an issue an earlier one opened, as if they
    had come one by one. The issues returned have their ids."""
    grouping = grouping_settings(settings)
    idf = _idf(session)
    issues = _open_issues(session, now)
    vectors = [vectorise(title, text, idf, grouping) for title, text, _r in messages]
    nearest = [issues.best(vector, places) for vector, places in vectors]
    joinable = _joinable(session, {issue_id for issue_id, _s in nearest if issue_id is not None})
    opened: list[HotIssue] = []
    fresh = _Open()  # the issues this batch opens (by their position in `opened`), searched beside `issues`
    found: list[tuple[HotIssue, float]] = []
    for (title, text, received), (vector, places), (issue_id, similarity) in zip(
        messages, vectors, nearest, strict=True
    ):
        joined = joinable.get(issue_id) if issue_id is not None else None
        position, closeness = fresh.best(vector, places)
        if position is not None and (joined is None or closeness > similarity):
            joined, similarity = opened[position], closeness
        if joined is None:
            joined = HotIssue(
                name=(title or text or "")[:200],
                signature=_normalised_top(vector),
                place_keys=places,
                message_count=1,
                first_at=received,
                last_at=received,
                created_at=now,
                updated_at=now,
            )
            fresh.add(len(opened), joined.signature, places)
            opened.append(joined)
            similarity = 1.0
        else:
            _absorb(joined, vector, received, now)
        found.append((joined, similarity))
    session.add_all(opened)
    session.flush()  # the new issues' ids (one multi-row insert), the joined issues' new signatures
    for issue in opened:
        issues.add(issue.id, issue.signature, issue.place_keys)
    return found


def place_posts(session: Session, settings: Settings, posts: Sequence[OutsidePost], now: dt.datetime) -> None:
    """Outside posts not yet in a hot issue join one like new requests do (they are never requests)."""
    todo = [p for p in posts if p.issue_id is None]
    if not todo:
        return
    found = _place_batch(session, settings, [(p.title, p.text, p.received_at) for p in todo], now)
    for post, (issue, similarity) in zip(todo, found, strict=True):
        post.issue_id, post.similarity = issue.id, round(similarity, 4)
    session.flush()


def _absorb(issue: HotIssue, vector: dict[str, float], received: dt.datetime, now: dt.datetime) -> None:
    """Moves the issue's signature towards the new request (a running mean) and counts it."""
    n = issue.message_count or 1
    mixed = {t: w * n for t, w in (issue.signature or {}).items()}
    for term, weight in vector.items():
        mixed[term] = mixed.get(term, 0.0) + weight
    issue.signature = _normalised_top(mixed)
    issue.message_count = n + 1
    issue.first_at = min(issue.first_at or received, received)
    issue.last_at = max(issue.last_at or received, received)
    issue.updated_at = now


# ---------------------------------------------------------------- the nightly recomputation


def recompute(
    session: Session,
    settings: Settings,
    now: dt.datetime,
    *,
    limit: int = RECOMPUTE_LIMIT,
    writer: Session | None = None,
) -> dict[str, Any]:
    """Groups the requests of the last WINDOW_DAYS (the newest `limit`) again and rewrites the memberships that no
    person decided. A new group keeps the id (and a staff-given name) of the issue most of its requests were in.

    With a `writer`, `session` only reads and the grouping (the slow part) happens before `writer` writes, so that
    intake is not held up on SQLite; the caller commits `writer`."""
    started = time.perf_counter()
    grouping = grouping_settings(settings)
    rows = requests_queries.texts_received_since(session, now - dt.timedelta(days=WINDOW_DAYS), limit)
    pinned = dict(
        session.execute(
            select(HotIssueMember.request_id, HotIssueMember.issue_id).where(HotIssueMember.pinned)
        ).all()
    )
    free = [row for row in rows if row.id not in pinned]
    units = area_units(
        session, [(row.lat, row.lon, row.lead_unit_id or row.receiving_unit_id) for row in free]
    )
    posts = session.execute(
        select(
            OutsidePost.id, OutsidePost.title, OutsidePost.text, OutsidePost.received_at, OutsidePost.person
        )
        .where(OutsidePost.received_at >= now - dt.timedelta(days=WINDOW_DAYS))
        .order_by(OutsidePost.received_at.desc(), OutsidePost.id.desc())
        .limit(limit)
    ).all()
    messages = [
        hot.Message(
            id=str(row.id),
            title=row.title or "",
            detail=row.text or "",
            time=row.received_at,
            user=person_of(settings, row.submitter_id, row.contact_phone, row.id),
            likes=row.support_count or 0,
        )
        for row in free
    ] + [
        hot.Message(id=f"p{p.id}", title=p.title, detail=p.text, time=p.received_at, user=p.person)
        for p in posts
    ]
    scheduler = settings.warning_dask_scheduler or (batch.LOCAL if len(messages) >= DASK_FROM else None)
    grouped = batch.group_messages(messages, grouping, scheduler=scheduler) if messages else None
    features = grouped.features if grouped is not None else None
    groups = grouped.groups if grouped is not None else []
    post_issue = {p.id: i for p, i in zip(posts, _post_issues(session, [p.id for p in posts]), strict=True)}
    session = writer or session  # from here on, writes
    if grouped is not None:
        _store_idf(session, len(messages), grouped.terms, grouped.document_counts)
    before: dict[int, int] = {}
    free_ids = [row.id for row in free]
    for start in range(0, len(free_ids), 1000):
        chunk = free_ids[start : start + 1000]
        before.update(
            session.execute(
                select(HotIssueMember.request_id, HotIssueMember.issue_id).where(
                    HotIssueMember.request_id.in_(chunk)
                )
            ).all()
        )
    negativity = labels.negativities(session, free_ids)
    merged_away = set(session.scalars(select(HotIssue.id).where(HotIssue.merged_into_id.is_not(None))))
    taken: set[int] = set()
    memberships: list[dict[str, Any]] = []
    moved_posts: list[tuple[int, int]] = []
    for members in groups:
        request_ids = [free[i].id for i in members if i < len(free)]
        post_ids = [posts[i - len(free)].id for i in members if i >= len(free)]
        votes = Counter(before[r] for r in request_ids if r in before and before[r] not in merged_away)
        votes.update(i for i in (post_issue[p] for p in post_ids) if i is not None and i not in merged_away)
        issue_id = next(
            (i for i, count in votes.most_common() if i not in taken and 2 * count >= len(members)), None
        )
        issue = session.get(HotIssue, issue_id) if issue_id is not None else None
        if issue is None:
            issue = HotIssue(created_at=now)
            session.add(issue)
            session.flush()
        taken.add(issue.id)
        described = hot.make_issues(messages, [members], features)[0] if features is not None else None
        _describe(issue, described, features, members, now)
        moved_posts.extend((post_id, issue.id) for post_id in post_ids)
        for i in members:
            if i >= len(free):
                continue
            row = free[i]
            unit_id, unit_path = units[i]
            memberships.append(
                {
                    "request_id": row.id,
                    "issue_id": issue.id,
                    "similarity": 1.0,
                    "pinned": False,
                    "received_at": row.received_at,
                    "person": messages[i].user,
                    "supports": row.support_count or 0,
                    "unit_path": unit_path,
                    "area_unit_id": unit_id,
                    "title": (row.title or "")[:200],
                    "placed_at": now,
                    "negativity": negativity.get(row.id),
                }
            )
    for start in range(0, len(free_ids), 1000):
        chunk = free_ids[start : start + 1000]
        session.execute(delete(HotIssueMember).where(HotIssueMember.request_id.in_(chunk)))
    for start in range(0, len(memberships), 1000):
        session.execute(insert(HotIssueMember), memberships[start : start + 1000])
    for post_id, issue_id in moved_posts:
        if post_issue.get(post_id) != issue_id:
            session.execute(update(OutsidePost).where(OutsidePost.id == post_id).values(issue_id=issue_id))
    refresh_counts(session, now)
    removed = _drop_empty(session)
    invalidate_idf()
    invalidate_index()
    return {
        "at": now.isoformat(),
        "requests": len(rows),
        "outside_posts": len(posts),
        "pinned": len(pinned),
        "groups": len(groups),
        "removed_issues": removed,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _post_issues(session: Session, ids: list[int]) -> list[int | None]:
    found: dict[int, int | None] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found.update(
            session.execute(
                select(OutsidePost.id, OutsidePost.issue_id).where(OutsidePost.id.in_(chunk))
            ).all()
        )
    return [found.get(i) for i in ids]


def _describe(
    issue: HotIssue,
    described: hot.Issue | None,
    features: hot.Features | None,
    members: list[int],
    now: dt.datetime,
) -> None:
    import numpy as np

    if described is None or features is None:
        return
    centroid = np.asarray(features.matrix[members].mean(axis=0)).ravel()
    order = np.argsort(-centroid)[: SIGNATURE_TERMS * 2]
    vector = {features.vocabulary[i]: float(centroid[i]) for i in order if centroid[i] > 0}
    issue.signature = _normalised_top(vector)
    issue.place_keys = sorted({hot.place_key(p) for i in members for p in features.title_places[i]})[:10]
    issue.top_words = described.top_words
    issue.place_or_group = described.place_or_group[:200]
    if not issue.name_locked:
        issue.name = described.description[:200]
    issue.updated_at = now


def _store_idf(session: Session, n: int, terms: Sequence[str], document_counts: Sequence[int]) -> None:
    """The IDF of every term held by two messages or more of the recomputation (counted by the batch as it
    tokenised them: nothing is tokenised again)."""
    # The same smoothed IDF as scikit-learn's TfidfVectorizer.
    rows = [
        {"term": term[:80], "idf": math.log((1 + n) / (1 + int(count))) + 1.0}
        for term, count in zip(terms, document_counts, strict=True)
        if count >= 2
    ]
    session.execute(delete(HotTerm))
    unique = {row["term"]: row for row in rows}
    values = list(unique.values())
    for start in range(0, len(values), 1000):
        session.execute(insert(HotTerm), values[start : start + 1000])


def refresh_counts(session: Session, now: dt.datetime, issue_ids: Iterable[int] | None = None) -> None:
    """Sets each issue's count and first and last times from its members."""
    query = select(
        HotIssueMember.issue_id,
        func.count(),
        func.min(HotIssueMember.received_at),
        func.max(HotIssueMember.received_at),
    ).group_by(HotIssueMember.issue_id)
    wanted = list(issue_ids) if issue_ids is not None else None
    if wanted is not None:
        query = query.where(HotIssueMember.issue_id.in_(wanted))
    for issue_id, count, first, last in session.execute(query):
        session.execute(
            update(HotIssue)
            .where(HotIssue.id == issue_id)
            .values(message_count=count, first_at=first, last_at=last, updated_at=now)
        )


def _drop_empty(session: Session) -> int:
    """Deletes issues left without requests, unless a decision or a merge refers to them."""
    keep: Any = union(
        select(HotIssueMember.issue_id),
        select(OutsidePost.issue_id).where(OutsidePost.issue_id.is_not(None)),
        select(HotIssueDecision.issue_id),
        select(HotIssue.merged_into_id).where(HotIssue.merged_into_id.is_not(None)),
    )
    empty = list(session.scalars(select(HotIssue.id).where(HotIssue.id.not_in(select(keep.subquery())))))
    if empty:
        session.execute(delete(HotIssue).where(HotIssue.id.in_(empty)))
    return len(empty)


def recompute_job(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The periodic job: recomputes when the last recomputation is RECOMPUTE_HOURS old (nightly, in effect).

    It reads and writes through sessions of its own (the job runner's session is left untouched: on SQLite, reading
    through it would pin a snapshot that the runner's own write could not follow)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with Session(bind=engine) as reader:
        last = jobs_service.last_result(reader, "hot_recompute") or {}
        at = last.get("at")
        if at and now - dt.datetime.fromisoformat(at) < dt.timedelta(hours=RECOMPUTE_HOURS):
            return {"skipped": True, "at": at}
        immediate = engine
        if engine.dialect.name == "sqlite":
            # Read and write in one go once writing starts (no snapshot upgraded to a writer after another commit).
            immediate = engine.execution_options(sqlite_begin_immediate=True)
        with Session(bind=immediate) as writer, writer.begin():
            return recompute(reader, settings, now, writer=writer)
