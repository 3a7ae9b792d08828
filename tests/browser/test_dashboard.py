"""A leader opens the dashboards in a real browser: the three rates with their trend chart, the map of the city's
own areas with points, a number that opens the list of its requests; screenshots in both languages."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.migrate import upgrade

from ..factories import build_city
from ..patience import START_SECONDS, STOP_SECONDS
from ..test_metrics import SCENARIOS, histories
from .conftest import _free_port
from .support import PASSWORD, LiveServer, screenshot


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own (its seeded histories stay out of the other browser tests' database)."""
    root = tmp_path_factory.mktemp("dashboard-server")
    database_url = f"sqlite:///{root / 'chengzhi.db'}"
    upgrade(database_url)
    with get_sessionmaker(database_url)() as session, session.begin():
        build_city(session)
    get_engine(database_url).dispose()
    port = _free_port()
    env = {
        **os.environ,
        "CHENGZHI_DATABASE_URL": database_url,
        "CHENGZHI_ENVIRONMENT": "test",
        "CHENGZHI_SCHEDULER_ENABLED": "false",
        # The test seeds through the services and triages after each commit itself (tests/conftest.py): a worker
        # in the server would contend with it for SQLite's write lock.
        "CHENGZHI_TRIAGE_WORKER_IN_APP": "false",
        "CHENGZHI_MEDIA_DIR": str(root / "media"),
        "CHENGZHI_RATE_LIMIT_STORAGE": "memory://",
    }
    log = root / "server.log"
    command = [sys.executable, "-m", "uvicorn", "chengzhi.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", database_url, root / "media", log)
    try:
        deadline = time.monotonic() + START_SECONDS
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
                pytest.fail(f"no answer in {START_SECONDS:.0f} s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _seed(server: LiveServer) -> None:
    settings = Settings(database_url=server.database_url, environment="test", media_dir=server.media_dir)
    with get_sessionmaker(server.database_url)() as session:
        today = dt.datetime.now(dt.UTC).replace(microsecond=0)
        histories(session, settings, list(SCENARIOS) * 2, seed=21, today=today)


def _sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url("/login?next=/dashboard"))
    page.get_by_label("用户名").fill("leader")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()


def test_leader_reads_the_dashboards(live_server: LiveServer, desktop_page: Page) -> None:
    _seed(live_server)
    page = desktop_page
    _sign_in(page, live_server)
    start = (dt.date.today() - dt.timedelta(days=45)).isoformat()
    page.goto(live_server.url(f"/dashboard?start={start}"))
    expect(page.get_by_role("heading", name="数据看板: 三率", level=1)).to_be_visible()
    expect(page.locator("#chart svg").first).to_be_visible()
    expect(page.locator(".kpis dd").nth(1)).to_contain_text("%")
    page.wait_for_load_state("networkidle")
    screenshot(page, "dashboard-zh")

    # A number opens the list of exactly the requests it counts.
    received = page.locator(".kpis dd a").first
    shown = int(received.inner_text())
    assert shown >= len(SCENARIOS) * 2
    received.click()
    expect(page.get_by_role("heading", name="数字背后的诉求", level=1)).to_be_visible()
    expect(page.get_by_text(f"共 {shown} 件诉求。")).to_be_visible()
    assert page.locator("table.inbox tbody tr").count() == min(shown, 50)

    page.goto(live_server.url(f"/dashboard/map?start={start}&level=community"))
    expect(page.locator("#area-map[data-ready=true]")).to_be_attached()
    expect(page.locator("#area-map svg path").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "dashboard-map-zh")

    page.goto(live_server.url(f"/dashboard/operations?start={start}&lang=en"))
    expect(page.get_by_role("heading", name="Dashboard: Operations", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Time in each stage")).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "dashboard-operations-en")
    page.goto(live_server.url(f"/dashboard/rankings?start={start}"))
    expect(page.get_by_role("heading", name="Streets", exact=True)).to_be_visible()
    screenshot(page, "dashboard-rankings-en")


def test_supervisor_excludes_a_request_from_the_rates(live_server: LiveServer, desktop_page: Page) -> None:
    """The exclusions form: errors next to the fields, then the exclusion listed with its reason and note."""
    from sqlalchemy import select

    from chengzhi.requests.models import Request

    with get_sessionmaker(live_server.database_url)() as session:
        seeded = session.scalar(select(Request.id).limit(1)) is not None
    if not seeded:  # this test alone
        _seed(live_server)
    with get_sessionmaker(live_server.database_url)() as session:
        number = session.scalar(
            select(Request.tracking_number).where(Request.status == "closed").order_by(Request.id).limit(1)
        )
    assert number
    page = desktop_page
    page.goto(live_server.url("/login?next=/dashboard/exclusions"))
    page.get_by_label("用户名").fill("supervisor")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    start = (dt.date.today() - dt.timedelta(days=60)).isoformat()
    page.goto(live_server.url(f"/dashboard/exclusions?start={start}"))
    expect(page.get_by_role("heading", name="剔除诉求", level=2)).to_be_visible()
    page.get_by_role("button", name="记录剔除").click()
    expect(page.locator("#request-error")).to_have_text("请输入诉求编号。")
    expect(page.locator("#note-error")).to_have_text("请说明原因（将随剔除记录保存）。")
    expect(page.get_by_label("诉求编号")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "dashboard-exclusions-errors-zh")

    page.get_by_label("诉求编号").fill(number)
    page.get_by_label("诉求人拒绝评价").check()
    page.get_by_label("备注").fill("回访时拒绝评价")
    page.get_by_role("button", name="记录剔除").click()
    expect(page.get_by_role("status")).to_have_text(f"已记录诉求 {number} 的剔除。")
    row = page.locator("table.inbox tbody tr", has_text=number)
    expect(row).to_contain_text("诉求人拒绝评价")
    expect(row).to_contain_text("回访时拒绝评价")
    expect(row).to_contain_text("supervisor")
    screenshot(page, "dashboard-exclusions-zh")
