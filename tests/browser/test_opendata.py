"""Conditional access to open data, end to end in the browser: a data publisher creates a dataset open on
conditions, uploads its table and publishes it; a resident applies with a purpose and the agreement; the publisher
approves; the resident then reads the table (download link and datastore_search through the page's own session)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select

from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.i18n import gettext
from chengzhi.opendata import resources, service
from chengzhi.opendata.models import OpenLevel
from chengzhi.org.models import Role, User
from chengzhi.org.service import actor_for, create_user, get_unit_by_code

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


# A wide table (eight columns) with a long Chinese title and an English one: what makes a phone's page too wide.
WIDE = (
    "街道,日期,线路,上车人数,下车人数,换乘人数,平均等候分钟,备注说明\n"
    + "".join(f"东华门街道,2026-10-{d:02d},公交{d}路,{d * 10},{d * 9},{d},{d / 2},工作日早高峰客流较大\n" for d in range(1, 9))
)  # fmt: skip
TEMPLATES = Path(__file__).resolve().parents[2] / "src/chengzhi/web/templates/opendata"


def _ui_strings() -> list[tuple[str, str]]:
    """(English msgid, Chinese translation) of the catalogue pages' own words."""
    found = {
        m
        for t in ("list.html", "dataset.html")
        for m in re.findall(r'_\("([^"%]+)"\)', (TEMPLATES / t).read_text())
    }
    pairs = [(m, gettext("zh", m)) for m in sorted(found)]
    return [(en, zh) for en, zh in pairs if en != zh and len(en) > 3]


def test_the_catalogue_fits_a_phone_in_both_languages(live_server: LiveServer, mobile_page: Page) -> None:
    """/data, a ranked search and a dataset page with a wide table at 360 px: nothing scrolls sideways, and each
    language shows its own words (the English page has none of the Chinese labels, and the other way round)."""
    settings = Settings(
        _env_file=None, database_url=live_server.database_url, media_dir=str(live_server.media_dir),
        environment="test",
    )  # fmt: skip
    with get_sessionmaker(live_server.database_url)() as session, session.begin():
        unit = get_unit_by_code(session, "D1")
        user = create_user(session, username="phone-publisher", display_name="发布员", password=PASSWORD,
                           roles=[(Role.data_publisher, unit)])  # fmt: skip
        actor = actor_for(user)
        for name, title, title_en, level in [
            ("bus-ridership", "公交线路客流统计（按街道、按日期、按线路，含上下车与换乘人数）",
             "Bus ridership by street, day and line, with boardings, alightings and transfers",
             OpenLevel.unconditional),
            ("bus-stops-conditional", "公交站点名单", "Bus stops", OpenLevel.conditional),
        ]:  # fmt: skip
            data = service.DatasetInput(
                name=name, title=title, title_en=title_en, unit_id=unit.id, open_level=level,
                notes="按街道统计的公交客流。", tags=["公交", "客流", "交通运输"], frequency="monthly",
                contact_name="数据科", contact_email="data@example.org",
            )  # fmt: skip
            ds = service.create_dataset(session, actor, data)
            resources.add_file(session, settings, actor, ds, "ridership.csv", io.BytesIO(WIDE.encode()))
            service.publish_dataset(session, actor, ds)
    get_engine(live_server.database_url).dispose()

    page = mobile_page
    strings = _ui_strings()
    assert len(strings) > 20
    for lang in ("zh", "en"):
        for path, name, heading in [
            ("/data", "list", {"zh": "开放数据", "en": "Open data"}[lang]),
            ("/data?q=公交客流", "search", {"zh": "开放数据", "en": "Open data"}[lang]),
            ("/data/bus-ridership", "dataset",
             {"zh": "公交线路客流统计（按街道、按日期、按线路，含上下车与换乘人数）",
              "en": "Bus ridership by street, day and line, with boardings, alightings and transfers"}[lang]),
        ]:  # fmt: skip
            page.goto(live_server.url(path + ("&" if "?" in path else "?") + f"lang={lang}"))
            expect(page.locator("html")).to_have_attribute("lang", "en" if lang == "en" else "zh-Hans")
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} in {lang} is {width} px wide at 360 px"
            text = page.locator("main").inner_text()
            wrong = [zh if lang == "en" else en for en, zh in strings if (zh if lang == "en" else en) in text]
            assert wrong == [], f"{path} in {lang} shows the other language's words: {wrong}"
            screenshot(page, f"opendata-{name}-{lang}-360")
        # The search finds both (each has 公交 and 客流).
        page.goto(live_server.url(f"/data?q=公交客流&lang={lang}"))
        links = page.locator("main a[href^='/data/bus-']")
        expect(links).to_have_count(2)
