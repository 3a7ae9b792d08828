"""Outside posts (both databases): an RSS/Atom feed served over HTTP by a local server (the boundary: never the
internet) and a CSV upload of a message board's export are stored once each with their source, join the hot issues
beside the requests, count toward heat, and never become requests."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.requests.models import Request
from chengzhi.warning import live, posts, service
from chengzhi.warning.models import Feed, HotIssueMember, OutsidePost

from .conftest import auth
from .factories import City
from .steps import actor
from .test_pages_staff import sign_in
from .test_warning_live import _submit_all


def _atom(entries: list[tuple[str, str, str, str]]) -> bytes:
    now = utcnow()
    items = "".join(
        f"<entry><id>{eid}</id><title>{title}</title><author><name>{author}</name></author>"
        f"<updated>{(now - dt.timedelta(hours=n + 1)).isoformat()}</updated>"
        f"<link href='http://board.example/{eid}'/><summary type='html'>&lt;p&gt;{text}&lt;/p&gt;</summary></entry>"
        for n, (eid, title, text, author) in enumerate(entries)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>市民论坛</title><id>urn:board</id><updated>{now.isoformat()}</updated>{items}</feed>"
    ).encode()


BOARD = [
    (
        "urn:post:1",
        "青松花园小区烧烤店噪音扰民到凌晨",
        "青松花园楼下烧烤店每晚噪音很大，吵得睡不着。",
        "张先生",
    ),
    ("urn:post:2", "青松花园烧烤噪音没人管吗", "青松花园小区烧烤摊深夜喧哗噪音扰民。", "李女士"),
    ("urn:post:3", "南湖公园新开了菊花展", "南湖公园菊花展很好看，周末人很多。", "王先生"),
]


class _Board(BaseHTTPRequestHandler):
    """A message board's Atom feed with an ETag; `/broken` answers 500, `/page` an HTML page."""

    body = _atom(BOARD)
    hits: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/broken":
            self.send_response(500)
            self.end_headers()
            return
        if self.path == "/page":
            self._send(b"<html><body>not a feed</body></html>", "text/html")
            return
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        self._send(self.body, "application/atom+xml", etag='"v1"')

    def _send(self, body: bytes, kind: str, etag: str | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", format_datetime(utcnow(), usegmt=True))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def board() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Board)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Board.hits.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_feeds_posts_join_hot_issues_beside_the_requests(
    session: Session, settings: Settings, city: City, board: str
) -> None:
    noise, _lights = _submit_all(session, settings)
    requests_before = session.scalar(select(func.count()).select_from(Request))
    session.add_all(
        [
            Feed(name="市民论坛", url=f"{board}/feed.atom"),
            Feed(name="坏的源", url=f"{board}/broken"),
            Feed(name="网页", url=f"{board}/page"),
        ]
    )
    session.commit()
    factory = get_sessionmaker(settings.database_url)
    now = utcnow()
    with factory() as job_session:
        first = posts.feeds_job(job_session, settings, now)
    assert first["feeds"] == 3 and first["added"] == 3 and first["failed"] == 2
    session.expire_all()
    stored = {p.external_id: p for p in session.scalars(select(OutsidePost))}
    assert set(stored) == {"urn:post:1", "urn:post:2", "urn:post:3"}
    assert {p.source for p in stored.values()} == {"市民论坛"}
    assert stored["urn:post:1"].text == "青松花园楼下烧烤店每晚噪音很大，吵得睡不着。"  # markup stripped
    assert "张先生" not in stored["urn:post:1"].person  # the author is a digest
    errors = {f.name: f.last_error for f in session.scalars(select(Feed))}
    assert errors["市民论坛"] is None
    assert errors["坏的源"] and "500" in errors["坏的源"]
    assert errors["网页"] and errors["网页"].startswith("feed_unreadable")

    # The two posts about the barbecue noise joined the requests' issue; the flower show is an issue of its own.
    noise_issue = session.scalars(
        select(HotIssueMember.issue_id).where(HotIssueMember.request_id == noise[0])
    ).one()
    assert stored["urn:post:1"].issue_id == stored["urn:post:2"].issue_id == noise_issue
    assert stored["urn:post:3"].issue_id != noise_issue
    # Posts are not requests.
    assert session.scalar(select(func.count()).select_from(Request)) == requests_before

    # They count toward heat: 3 requests + 2 posts from 5 people.
    unit = service.viewer_unit(session, actor(session, "leader"), None)
    views = {v.id: v for v in service.hot_issues(session, settings, unit, utcnow())}
    assert views[noise_issue].messages == 5 and views[noise_issue].outside == 2
    assert views[noise_issue].people == 5
    assert [p.title for p in service.issue_posts(session, unit, noise_issue)] == [
        BOARD[0][1],
        BOARD[1][1],
    ]

    # Read again: the server answers 304 to the ETag, nothing is stored twice; a forced read of the same
    # document without the ETag finds only duplicates.
    with factory() as job_session:
        again = posts.feeds_job(job_session, settings, now + dt.timedelta(hours=1))
    assert again["added"] == 0
    with factory() as job_session:
        not_due = posts.feeds_job(job_session, settings, now + dt.timedelta(hours=1, minutes=1))
    assert not_due["feeds"] == 0  # read less than warning_feed_minutes ago
    with factory() as writer, writer.begin():
        feed = writer.scalars(select(Feed).where(Feed.name == "市民论坛")).one()
        got = posts.read_feed(writer, settings, feed, utcnow(), conditional=False)
    assert got.added == 0 and got.duplicates == 3
    assert session.scalar(select(func.count()).select_from(OutsidePost)) == 3

    # The nightly recomputation groups the posts again with the requests: they stay with the noise.
    session.commit()  # SQLite: a fresh snapshot before writing (the feed was read through another connection)
    result = live.recompute(session, settings, utcnow())
    session.commit()
    assert result["outside_posts"] == 3
    session.expire_all()
    regrouped = {p.external_id: p.issue_id for p in session.scalars(select(OutsidePost))}
    noise_after = session.scalars(
        select(HotIssueMember.issue_id).where(HotIssueMember.request_id == noise[0])
    ).one()
    assert regrouped["urn:post:1"] == regrouped["urn:post:2"] == noise_after
    assert regrouped["urn:post:3"] != noise_after


CSV = (
    "message_id,user,title,detail,time,likes,dislikes\n"
    "b1,赵六,青松花园烧烤店噪音,青松花园小区烧烤店噪音扰民。,2026-12-01 20:00:00,5,1\n"
    "b2,钱七,青松花园小区烧烤噪音扰民,青松花园小区烧烤店深夜噪音。,2026-12-02 21:00:00,2,0\n"
    "b3,钱七,青松花园小区烧烤噪音扰民,青松花园小区烧烤店深夜噪音。,2026-12-02 21:00:00,2,0\n"
)


def test_an_uploaded_board_export_is_stored_once(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    noise, _lights = _submit_all(session, settings)
    analyst = auth(client, "admin")
    files = {"file": ("board.csv", CSV.encode("utf-8-sig"), "text/csv")}
    first = client.post("/api/v1/warning/posts", data={"source": "区论坛"}, files=files, headers=analyst)
    assert first.status_code == 201, first.text
    # b3 repeats b2's text under another id: stored once.
    assert first.json() == {"source": "区论坛", "added": 2, "duplicates": 1, "skipped": 0}
    again = client.post("/api/v1/warning/posts", data={"source": "区论坛"}, files=files, headers=analyst)
    assert again.json()["added"] == 0 and again.json()["duplicates"] == 3

    noise_issue = session.scalars(
        select(HotIssueMember.issue_id).where(HotIssueMember.request_id == noise[0])
    ).one()
    leader = auth(client, "leader")
    listed = client.get("/api/v1/warning/hot-issues", headers=leader).json()["issues"]
    top = next(i for i in listed if i["id"] == noise_issue)
    assert top["messages"] == 5 and top["outside_posts"] == 2 and top["supports"] == 7
    detail = client.get(f"/api/v1/warning/hot-issues/{noise_issue}", headers=leader).json()
    assert len(detail["requests"]) == 3
    assert {p["source"] for p in detail["outside_posts"]} == {"区论坛"}
    assert {p["channel"] for p in detail["outside_posts"]} == {"feed"}
    # The issue's page lists them once, in one table (it once rendered the table twice).
    sign_in(client, "leader")
    page = client.get(f"/dashboard/hot/{noise_issue}")
    assert page.status_code == 200 and page.text.count("区论坛") == 2, page.text.count("区论坛")

    # A file that is no message table gets a clear 422; a resident and a handler may not upload.
    bad = client.post(
        "/api/v1/warning/posts",
        data={"source": "区论坛"},
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
        headers=analyst,
    )
    assert bad.status_code == 422 and "message_id" in bad.text
    for who in ("resident", "d1s1-handler"):
        refused = client.post(
            "/api/v1/warning/posts", data={"source": "x"}, files=files, headers=auth(client, who)
        )
        assert refused.status_code == 403


def test_feeds_are_managed_through_the_api(client: TestClient, city: City) -> None:
    admin = auth(client, "admin")
    made = client.post(
        "/api/v1/warning/feeds", json={"name": "市民论坛", "url": "https://board.example/feed"}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert client.get("/api/v1/warning/feeds", headers=admin).json()["feeds"][0]["name"] == "市民论坛"
    twice = client.post(
        "/api/v1/warning/feeds", json={"name": "市民论坛", "url": "https://board.example/feed"}, headers=admin
    )
    assert twice.status_code == 422 and twice.json()["error"]["code"] == "feed_exists"
    bad = client.post("/api/v1/warning/feeds", json={"name": "x", "url": "file:///etc/passwd"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "feed_url_invalid"
    assert client.get("/api/v1/warning/feeds", headers=auth(client, "leader")).status_code == 403
