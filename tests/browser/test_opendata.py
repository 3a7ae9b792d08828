"""Conditional access to open data, end to end in the browser: a data publisher creates a dataset open on
conditions, uploads its table and publishes it; a resident applies with a purpose and the agreement; the publisher
approves; the resident then reads the table (download link and datastore_search through the page's own session)."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select

from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.org.models import Role, User
from chengzhi.org.service import create_user, get_unit_by_code

from ..factories import give_level
from .support import PASSWORD, LiveServer, screenshot

TABLE = "街道,日期,数量\n东华门,2026-10-01,3\n景山,2026-10-02,5\n交道口,2026-10-03,8\n"


def _publisher(server: LiveServer) -> None:
    """A data publisher of district D1, written straight into the live server's database; the resident who applies
    has their real name verified (identity level 2, what applying for conditional data needs: docs/identity.md)."""
    with get_sessionmaker(server.database_url)() as session, session.begin():
        resident = session.scalar(select(User).where(User.username == "resident"))
        assert resident is not None
        give_level(session, resident, 2)
        create_user(
            session,
            username="data-publisher",
            display_name="数据发布员",
            password=PASSWORD,
            roles=[(Role.data_publisher, get_unit_by_code(session, "D1"))],
        )
    get_engine(server.database_url).dispose()


def _sign_in(page: Page, server: LiveServer, username: str, next_path: str) -> None:
    page.context.clear_cookies()
    page.goto(server.url(f"/login?next={next_path}"))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"**{next_path}")


def test_conditional_access_from_application_to_data(
    live_server: LiveServer, desktop_page: Page, tmp_path: Path
) -> None:
    _publisher(live_server)
    page = desktop_page
    _sign_in(page, live_server, "data-publisher", "/data/new")
    page.get_by_label("名称（即网址：小写字母、数字、- 和 _）").fill("street-counts-browser")
    page.get_by_label("标题", exact=True).fill("街道月度数量")
    page.get_by_label("开放属性").select_option("conditional")
    page.get_by_role("button", name="创建草稿", exact=True).click()
    page.wait_for_url("**/data/street-counts-browser")
    table = tmp_path / "counts.csv"
    table.write_text(TABLE, encoding="utf-8")
    page.get_by_label("添加文件（CSV、XLSX 表格可在线查询）").set_input_files(str(table))
    page.get_by_role("button", name="上传", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("已上传并完成质量检查。")
    page.get_by_role("button", name="发布", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("已发布。")
    screenshot(page, "opendata-published-zh")

    _sign_in(page, live_server, "resident", "/data/street-counts-browser")
    expect(page.get_by_role("cell", name="申请获批后可用")).to_be_visible()
    page.get_by_label("使用目的").fill("研究各街道月度数量的变化趋势。")
    page.get_by_label("我接受数据使用协议", exact=False).check()
    page.get_by_role("button", name="申请", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("申请已提交，由发布单位审核。")

    _sign_in(page, live_server, "data-publisher", "/data/street-counts-browser")
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("审核结果已记录。")

    _sign_in(page, live_server, "resident", "/data/street-counts-browser")
    download = page.get_by_role("link", name="下载")
    expect(download).to_be_visible()
    screenshot(page, "opendata-approved-zh")
    href = download.get_attribute("href")
    assert href is not None
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # The resident's own session reads the data; nobody else does.
    assert httpx.get(href, cookies=cookies).text.count("\n") == 4
    assert httpx.get(href).status_code == 403
