"""Browser tests: a real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server.

The server is the real thing started as a subprocess (uvicorn with the app factory) on a fresh SQLite file
holding the small test city of tests/factories.py. Chromium is never downloaded (`playwright install` is not
used): where /usr/bin/chromium is missing the tests are skipped with the reason shown, except under CI=true,
where that fails. Every page a test opens may only talk to the server on 127.0.0.1: each browser request is
recorded and checked when the test ends, as are uncaught JavaScript errors. Screenshots go to test-artifacts/.

Run them alone with `pytest tests/browser` (or `-m browser`); `-m "not browser"` leaves them out.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.migrate import upgrade
from chengzhi.warning.models import SensitiveWord

from ..factories import build_city
from ..patience import BROWSER_SECONDS, START_SECONDS, STOP_SECONDS
from .support import LiveServer, Recorder, screenshot

IN_CI = os.environ.get("CI", "").lower() == "true"
expect.set_options(timeout=BROWSER_SECONDS * 1000)
CHROMIUM = Path("/usr/bin/chromium")
# The flags of issue 3: no sandbox (root in a container), no GPU, nothing that phones home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MOBILE = {"width": 360, "height": 800}
PHONE_390 = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

BROWSER_DIR = Path(__file__).resolve().parent
CALL_FAILED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real Chromium against a live server (tests/browser)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed test (its page is then saved as test-artifacts/failed-*.png) and add the server's log."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer) and server.log.exists():
        report.sections.append(
            ("live server log (last 5000 characters)", server.log.read_text(errors="replace")[-5000:])
        )
    return report


def _chromium_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: install Debian's chromium (`make browser-deps` as root)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """uvicorn in a subprocess on a fresh SQLite file with the test city (users' password: PASSWORD)."""
    root = tmp_path_factory.mktemp("live-server")
    database_url = f"sqlite:///{root / 'chengzhi.db'}"
    upgrade(database_url)
    with get_sessionmaker(database_url)() as session, session.begin():
        build_city(session)
        # A comment holding a word of the sensitive-word list waits for a moderator (test_participation.py).
        session.add(SensitiveWord(word="骗子", note="辱骂"))
    get_engine(database_url).dispose()

    port = _free_port()
    media_dir = root / "media"
    env = {
        **os.environ,
        "CHENGZHI_DATABASE_URL": database_url,
        "CHENGZHI_ENVIRONMENT": "test",
        "CHENGZHI_SCHEDULER_ENABLED": "false",
        "CHENGZHI_MEDIA_DIR": str(media_dir),
        "CHENGZHI_RATE_LIMIT_STORAGE": "memory://",
        "CHENGZHI_ANONYMOUS_SUBMIT_RATE": "1000/minute",
        # Every test signs its people in from 127.0.0.1: more than a person would in a minute.
        "CHENGZHI_LOGIN_RATE": "1000/minute",
    }
    log = root / "server.log"
    command = [sys.executable, "-m", "uvicorn", "chengzhi.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", database_url, media_dir, log)
    try:
        deadline = time.monotonic() + START_SECONDS  # a shared machine under load starts slowly
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}"
                )
            try:
                if httpx.get(server.url("/api/v1/health"), timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the server did not answer /api/v1/health in {START_SECONDS:.0f} s:\n"
                    f"{log.read_text(errors='replace')}"
                )
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium with exactly the flags of CHROMIUM_FLAGS; Playwright gives it a fresh temporary profile
    (user-data dir), removed when the browser closes."""
    reason = _chromium_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires the browser tests to run: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


def _page(
    request: pytest.FixtureRequest,
    browser: Browser,
    recorder: Recorder,
    viewport: dict[str, int],
    mobile: bool,
    locale: str = "zh-CN",
) -> Iterator[Page]:
    context = browser.new_context(
        viewport=ViewportSize(width=viewport["width"], height=viewport["height"]),
        is_mobile=mobile,
        has_touch=mobile,
        locale=locale,
        timezone_id="Asia/Shanghai",
    )
    # Generous waits: the machine running the tests may be busy (2 cores shared with the server and PostgreSQL).
    context.set_default_timeout(BROWSER_SECONDS * 1000)
    context.on("request", lambda request: recorder.requests.append(request.url))
    context.on("weberror", lambda error: recorder.errors.append(str(error.error)))
    page = context.new_page()
    yield page
    if request.node.stash.get(CALL_FAILED, False):
        screenshot(page, "failed-" + re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1]))
    context.close()
    outside = recorder.outside_requests()
    assert not outside, f"the browser left the loopback interface: {outside}"
    assert not recorder.errors, f"uncaught JavaScript errors: {recorder.errors}"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def mobile_page(request: pytest.FixtureRequest, browser: Browser, recorder: Recorder) -> Iterator[Page]:
    """A resident's phone: 360×800, touch, Chinese locale."""
    yield from _page(request, browser, recorder, MOBILE, mobile=True)


@pytest.fixture
def english_phone_page(
    request: pytest.FixtureRequest, browser: Browser, recorder: Recorder
) -> Iterator[Page]:
    """A 390×844 phone (the common size of today's phones), touch, English locale."""
    yield from _page(request, browser, recorder, PHONE_390, mobile=True, locale="en-US")


@pytest.fixture
def desktop_page(request: pytest.FixtureRequest, browser: Browser, recorder: Recorder) -> Iterator[Page]:
    """A staff member's desktop: 1280×900, Chinese locale."""
    yield from _page(request, browser, recorder, DESKTOP, mobile=False)
