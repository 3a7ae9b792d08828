"""The real `ckanapi` from PyPI against a live server process (uvicorn on a free loopback port), on both
databases: `RemoteCKAN` calls (search, show, organisations, groups, tags, datastore_search, an API token for a
conditional dataset) and its command line (`ckanapi action status_show`, `ckanapi search datasets`,
`ckanapi dump datasets --all`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ckanapi
import pytest

from chengzhi.caches import reset_caches
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.opendata import access
from chengzhi.org.models import Role
from chengzhi.org.service import actor_for, issue_token

from .conftest import _truncate, make_settings
from .factories import build_city, make_user
from .open311_helpers import LiveServer, start_server
from .opendata_helpers import build_catalogue
from .patience import START_SECONDS

pytestmark = pytest.mark.slow
CKANAPI = str(Path(sys.executable).with_name("ckanapi"))


@pytest.fixture(scope="module")
def live(
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("opendata-live")
    settings: Settings = make_settings(db_url, workdir)
    tokens: dict[str, str] = {}
    with get_sessionmaker(db_url)() as session, session.begin():
        city = build_city(session)
        catalogue = build_catalogue(session, settings, city)
        researcher = make_user(session, city, "researcher", Role.resident, "city")
        session.flush()
        application = access.apply(
            session, actor_for(researcher), catalogue.conditional, "街道月度数量的研究分析", True
        )
        access.decide(session, catalogue.publisher, application, True, days=30)
        tokens["researcher"] = issue_token(session, researcher, 1)[0]
        tokens["conditional_resource"] = catalogue.conditional.resources[0].id
        tokens["open_resource"] = catalogue.open.resources[0].id
    server = start_server(db_url, workdir)
    try:
        yield server, tokens
    finally:
        server.stop()
        _truncate(db_url)
        reset_caches()


def _cli(server: LiveServer, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [CKANAPI, *args, "-r", server.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_remote_ckan_reads_the_catalogue(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, tokens = live
    ckan = ckanapi.RemoteCKAN(server.url)
    assert ckan.action.status_show()["ckan_version"].startswith("2.")
    assert ckan.action.package_list() == ["residents-conditional", "street-counts"]
    found = ckan.action.package_search(
        fq="organization:D1", sort="id asc", rows=10, **{"facet.field": ["tags"]}
    )
    assert found["count"] == 2 and found["facets"]["tags"] == {"街道": 2}
    shown = ckan.action.package_show(id="street-counts")
    assert shown["organization"]["name"] == "D1" and shown["resources"][0]["datastore_active"] is True
    assert ckan.action.organization_show(id="D1")["package_count"] == 2
    assert "regions" in ckan.action.group_list()
    assert ckan.action.tag_list() == ["街道"]
    assert ckan.action.resource_show(id=tokens["open_resource"])["format"] == "CSV"
    rows = ckan.action.datastore_search(
        resource_id=tokens["open_resource"], filters={"街道": "景山"}, limit=5
    )
    assert rows["total"] == 13 and len(rows["records"]) == 5
    assert len(ckan.action.current_package_list_with_resources()) == 2
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="internal-list")
    with pytest.raises(ckanapi.NotAuthorized):
        ckan.action.datastore_search(resource_id=tokens["conditional_resource"])
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="metadata_modified:[soon TO *]")
    # The approved applicant's API token, as ckanapi sends it.
    allowed = ckanapi.RemoteCKAN(server.url, apikey=tokens["researcher"])
    assert allowed.action.datastore_search(resource_id=tokens["conditional_resource"])["total"] == 10
    # GET-only clients (ckanapi --get-request) see the same.
    reader = ckanapi.RemoteCKAN(server.url, get_only=True)
    assert reader.action.package_search(q="street", rows=1)["count"] == 1


def test_ckanapi_command_line(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = live
    status = json.loads(_cli(server, "action", "status_show"))
    assert status["site_url"] == server.url
    found = [json.loads(line) for line in _cli(server, "search", "datasets", "q=数据集").splitlines()]
    assert sorted(p["name"] for p in found) == ["residents-conditional", "street-counts"]
    dumped = [json.loads(line) for line in _cli(server, "dump", "datasets", "--all", "-q").splitlines()]
    assert sorted(p["name"] for p in dumped) == ["residents-conditional", "street-counts"]
    assert all(p["resources"] for p in dumped)
