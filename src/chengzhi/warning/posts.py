"""Outside posts (channel `feed`): RSS/Atom feeds read on a schedule and CSV exports of message boards uploaded by
analysts, stored in `warning_posts` with their source, deduplicated, and placed into hot issues beside the
requests. They count toward heat and alerts; they are not requests and nobody handles them.

- Feeds are fetched with `httpx` (a timeout, a size cap, the feed's ETag and Last-Modified sent back) and parsed with
  `feedparser` from the bytes (feedparser never opens a URL itself here).
- A post is new unless its source already holds the same id (the entry's id, else its link; the file's message id)
  or the same text (a digest of the normalised title and text: a post exported twice under two ids).
- Authors are not stored: a keyed digest of the source and the author counts people, as for requests.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import feedparser
import httpx
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import Invalid, NotFound
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, city_unit, require_role
from chengzhi.security.periods import retention_cutoff
from chengzhi.warning import files, live
from chengzhi.warning.hot import Message
from chengzhi.warning.models import Feed, OutsidePost

CHANNEL = "feed"
MANAGE_ROLES = (Role.admin, Role.analyst)
FETCH_TIMEOUT = 20.0
MAX_FEED_BYTES = 5_000_000
MAX_FILE_POSTS = 50_000
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PostIn:
    """A post as read from a feed or a file, before it is stored."""

    external_id: str
    title: str
    text: str
    url: str | None
    author: str
    received_at: dt.datetime | None
    likes: int = 0
    dislikes: int = 0


@dataclass
class Ingested:
    added: int = 0
    duplicates: int = 0
    skipped: int = 0  # no title and no text
    expired: int = 0  # older than the retention period (`CHENGZHI_RETENTION_MONTHS`): not stored

    def as_dict(self) -> dict[str, int]:
        found = {"added": self.added, "duplicates": self.duplicates, "skipped": self.skipped}
        return found | ({"expired": self.expired} if self.expired else {})


# ---------------------------------------------------------------- reading


def _plain(html: str) -> str:
    return _SPACE.sub(" ", _TAGS.sub(" ", html or "")).strip()


def _entry_time(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
    return None


def entries_of(content: bytes) -> list[PostIn]:
    """The entries of an RSS or Atom document. A document that is no feed at all is refused (feedparser reads
    slightly broken feeds and says so; it finds no entries and no feed title in an HTML page)."""
    parsed = feedparser.parse(content)
    if not parsed.entries and not parsed.feed.get("title"):
        problem = parsed.get("bozo_exception")
        raise Invalid("feed_unreadable", detail=str(problem or "no entries")[:200])
    found = []
    for entry in parsed.entries:
        title = _plain(entry.get("title", ""))
        text = _plain(entry.get("summary", "") or "")
        if entry.get("content"):
            text = _plain(" ".join(part.get("value", "") for part in entry.content)) or text
        link = entry.get("link") or None
        found.append(
            PostIn(
                external_id=(entry.get("id") or link or "")[:300],
                title=title[:200],
                text=text,
                url=link[:500] if link else None,
                author=entry.get("author", "") or "",
                received_at=_entry_time(entry),
            )
        )
    return found


def rows_of(content: bytes) -> list[PostIn]:
    """The rows of a message-board export: the CSV of `chengzhi hot detect` (English or Chinese headers)."""
    try:
        messages = files.read_message_bytes(content)
    except files.MessageFileError as error:
        raise Invalid("posts_file_unreadable", detail=str(error)[:300]) from None
    if len(messages) > MAX_FILE_POSTS:
        raise Invalid("posts_file_too_big", limit=MAX_FILE_POSTS)
    return [_from_message(m) for m in messages]


def _from_message(message: Message) -> PostIn:
    when = message.time
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return PostIn(
        external_id=message.id[:300],
        title=message.title[:200],
        text=message.detail,
        url=None,
        author=message.user,
        received_at=when,
        likes=message.likes,
        dislikes=message.dislikes,
    )


# ---------------------------------------------------------------- storing


def _digest(title: str, text: str) -> str:
    return hashlib.sha256(_SPACE.sub("", f"{title}\n{text}").lower().encode()).hexdigest()


def _person(settings: Settings, source: str, author: str, digest: str) -> str:
    if not author.strip():
        return f"o{digest[:24]}"  # no author: each post is its own person
    key = f"{source}\n{author.strip()}".encode()
    return "o" + hmac.new(settings.secret_key.encode(), key, hashlib.sha256).hexdigest()[:24]


def ingest(
    session: Session,
    settings: Settings,
    source: str,
    posts: Sequence[PostIn],
    now: dt.datetime,
    *,
    unit_path: str | None = None,
    feed_id: int | None = None,
) -> Ingested:
    """Stores the new posts of a source and places them into hot issues; the same post twice is stored once, and a
    post older than the retention period not at all (the retention job would remove it)."""
    result = Ingested()
    cutoff = retention_cutoff(settings, now)
    path = unit_path or city_unit(session).path
    known_ids = set(session.scalars(select(OutsidePost.external_id).where(OutsidePost.source == source)))
    known_digests = set(session.scalars(select(OutsidePost.digest).where(OutsidePost.source == source)))
    stored: list[OutsidePost] = []
    for post in posts:
        if not (post.title.strip() or post.text.strip()):
            result.skipped += 1
            continue
        received = min(post.received_at or now, now)
        if cutoff is not None and received < cutoff:
            result.expired += 1
            continue
        digest = _digest(post.title, post.text)
        external_id = post.external_id or digest
        if external_id in known_ids or digest in known_digests:
            result.duplicates += 1
            continue
        known_ids.add(external_id)
        known_digests.add(digest)
        stored.append(
            OutsidePost(
                source=source,
                feed_id=feed_id,
                external_id=external_id,
                digest=digest,
                title=post.title,
                text=post.text,
                url=post.url,
                person=_person(settings, source, post.author, digest),
                likes=max(0, post.likes),
                dislikes=max(0, post.dislikes),
                received_at=received,
                unit_path=path,
                created_at=now,
            )
        )
    try:
        with session.begin_nested():
            session.add_all(stored)
            session.flush()
    except IntegrityError:  # another process stored some of them in between: one by one
        stored = _one_by_one(session, stored, result)
    result.added = len(stored)
    live.place_posts(session, settings, stored, now)
    return result


def prune(session: Session, before: dt.datetime, _now: dt.datetime) -> dict[str, int]:
    """Retention by age (chengzhi.requests.retention `on_cutoff`, `CHENGZHI_RETENTION_MONTHS`): outside posts
    received before the cut-off go. Their hot issues keep their requests; an issue left empty goes at the next
    recomputation."""
    due = OutsidePost.received_at < before
    if session.scalar(select(OutsidePost.id).where(due).limit(1)) is None:
        return {}  # a read only: no write lock taken when nothing is due (SQLite)
    done = session.execute(delete(OutsidePost).where(due))
    return {"outside_posts_deleted": int(getattr(done, "rowcount", 0) or 0)}


def _one_by_one(session: Session, posts: list[OutsidePost], result: Ingested) -> list[OutsidePost]:
    kept = []
    for post in posts:
        try:
            with session.begin_nested():
                session.add(post)
                session.flush()
            kept.append(post)
        except IntegrityError:
            result.duplicates += 1
    return kept


def import_file(
    session: Session,
    settings: Settings,
    actor: Actor,
    source: str,
    content: bytes,
    now: dt.datetime,
    *,
    unit_id: int | None = None,
) -> Ingested:
    """An uploaded export of a message board (CSV), as posts of `source` in the scope of `unit_id` (the city by
    default)."""
    require_role(actor, *MANAGE_ROLES)
    source = _source_name(source)
    path = _unit_path(session, actor, unit_id)
    return ingest(session, settings, source, rows_of(content), now, unit_path=path)


def _source_name(name: str) -> str:
    name = " ".join((name or "").split())[:100]
    if not name:
        raise Invalid("posts_source_empty")
    return name


def _unit_path(session: Session, actor: Actor, unit_id: int | None) -> str | None:
    if unit_id is None:
        if not actor.covers(city_unit(session).path, *MANAGE_ROLES):
            own = actor.units_for(*MANAGE_ROLES)
            unit_id = own[0] if own else None
        if unit_id is None:
            return None
    unit = org_queries.unit_by_id(session, unit_id)
    if unit is None:
        raise NotFound("unit_not_found", ref=unit_id)
    if not actor.covers(unit.path, *MANAGE_ROLES):
        raise Invalid("posts_unit_not_yours", ref=unit_id)
    return unit.path


# ---------------------------------------------------------------- feeds


def add_feed(session: Session, actor: Actor, name: str, url: str, *, unit_id: int | None = None) -> Feed:
    require_role(actor, *MANAGE_ROLES)
    url = (url or "").strip()
    if not re.match(r"^https?://[^\s/]+", url) or len(url) > 500:
        raise Invalid("feed_url_invalid")
    name = _source_name(name)
    if session.scalar(select(Feed.id).where((Feed.name == name) | (Feed.url == url))) is not None:
        raise Invalid("feed_exists")
    _unit_path(session, actor, unit_id)
    feed = Feed(name=name, url=url, unit_id=unit_id)
    session.add(feed)
    session.flush()
    return feed


def feeds(session: Session) -> list[Feed]:
    return list(session.scalars(select(Feed).order_by(Feed.name)))


@dataclass
class Download:
    content: bytes | None  # None: not changed since the last read (HTTP 304)
    etag: str | None
    modified: str | None
    error: str | None = None


def download(client: httpx.Client, url: str, etag: str | None, modified: str | None) -> Download:
    """The feed's document (with its new ETag and Last-Modified), or what went wrong. Never raises for the
    server's faults: a feed that is down must not stop the others."""
    headers = {"User-Agent": "chengzhi-warning/1"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        with client.stream("GET", url, headers=headers, timeout=FETCH_TIMEOUT) as response:
            if response.status_code == 304:
                return Download(None, etag, modified)
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_FEED_BYTES:
                    return Download(None, etag, modified, f"larger than {MAX_FEED_BYTES} bytes")
            return Download(bytes(body), response.headers.get("ETag"), response.headers.get("Last-Modified"))
    except httpx.HTTPError as error:
        return Download(None, etag, modified, f"{type(error).__name__}: {error}"[:300])


def store_download(
    session: Session, settings: Settings, feed: Feed, got: Download, now: dt.datetime
) -> Ingested:
    """Stores a feed's downloaded posts; a failure is kept on the feed (`last_error`)."""
    feed.fetched_at = now
    feed.etag, feed.modified = got.etag, got.modified
    posts: list[PostIn] = []
    if got.content is not None:
        try:
            posts = entries_of(got.content)
        except Invalid as error:
            got = Download(
                None, got.etag, got.modified, f"{error.code}: {error.params.get('detail', '')}"[:300]
            )
    feed.last_error = got.error
    if not posts:
        return Ingested()
    path = None
    if feed.unit_id is not None:
        path = org_queries.unit_paths(session, [feed.unit_id]).get(feed.unit_id)
    return ingest(session, settings, feed.name, posts, now, unit_path=path, feed_id=feed.id)


def read_feed(
    session: Session, settings: Settings, feed: Feed, now: dt.datetime, *, conditional: bool = True
) -> Ingested:
    """Downloads and stores one feed now (the job does the same for the feeds that are due). Without
    `conditional`, the document is asked for even if it has not changed since the last read."""
    etag, modified = (feed.etag, feed.modified) if conditional else (None, None)
    with httpx.Client(follow_redirects=True) as client:
        got = download(client, feed.url, etag, modified)
    return store_download(session, settings, feed, got, now)


def feeds_job(
    session: Session, settings: Settings, now: dt.datetime, *, every_feed: bool = False
) -> dict[str, Any]:
    """The periodic job: every active feed not read for `warning_feed_minutes`. Each is downloaded outside any
    transaction, then stored in a transaction of its own (a slow server holds nothing open)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    due_before = now if every_feed else now - dt.timedelta(minutes=settings.warning_feed_minutes)
    with Session(bind=engine) as reader:
        due = reader.execute(
            select(Feed.id, Feed.url, Feed.etag, Feed.modified).where(
                Feed.active.is_(True), (Feed.fetched_at.is_(None)) | (Feed.fetched_at <= due_before)
            )
        ).all()
    started = time.perf_counter()
    totals = Ingested()
    failed = 0
    with httpx.Client(follow_redirects=True) as client:
        for feed_id, url, etag, modified in due:
            got = download(client, url, etag, modified)
            with Session(bind=engine) as writer, writer.begin():
                feed = writer.get(Feed, feed_id)
                if feed is None:
                    continue
                result = store_download(writer, settings, feed, got, now)
                failed += feed.last_error is not None
                totals.added += result.added
                totals.duplicates += result.duplicates
                totals.expired += result.expired
    return {
        "feeds": len(due),
        "failed": failed,
        **totals.as_dict(),
        "seconds": round(time.perf_counter() - started, 2),
    }
