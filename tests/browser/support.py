"""Helpers for the browser tests: the live server's address, what a page did, screenshots."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page
from sqlalchemy import select

from chengzhi.db import get_sessionmaker
from chengzhi.requests.models import Request

from ..factories import PASSWORD
from ..patience import WORK_SECONDS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# URL schemes that never touch the network.
LOCAL_SCHEMES = {"data", "blob", "about"}


@dataclass
class LiveServer:
    base_url: str
    database_url: str
    media_dir: Path
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path


@dataclass
class Recorder:
    """What the pages of one test did on the network and in JavaScript."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname not in LOOPBACK
        ]


def wait_triaged(server: LiveServer, number: str) -> None:
    """Wait until the live server's triage worker has read request `number` (fails after WORK_SECONDS).

    The worker's batch holds SQLite's one write lock; on a starved CPU it held it past the busy timeout (10 s),
    and the test's next write (a sign-in, a step) failed with "database is locked". A test that submits a request
    and then writes waits for the worker here first, as a person would not notice."""
    deadline = time.monotonic() + WORK_SECONDS
    query = select(Request.triage_pending).where(Request.tracking_number == number)
    while True:
        with get_sessionmaker(server.database_url)() as session:
            pending = session.scalar(query)
        assert pending is not None, f"no request {number} in the live server's database"
        if not pending:
            return
        assert time.monotonic() < deadline, f"the live server did not triage {number} in {WORK_SECONDS:.0f} s"
        time.sleep(0.2)


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/<name>.png for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


__all__ = ["ARTIFACTS", "PASSWORD", "LiveServer", "Recorder", "screenshot", "wait_triaged"]
