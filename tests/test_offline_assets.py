"""No network at run time: /docs and every vendored library are served by the platform itself, with licences."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from chengzhi.app import STATIC_DIR, create_app
from chengzhi.config import Settings


def test_api_docs_page_loads_only_local_assets(tmp_path: Path) -> None:
    client = TestClient(
        create_app(Settings(scheduler_enabled=False, database_url=f"sqlite:///{tmp_path}/x.db"))
    )
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
    assert len(assets) >= 2
    assert not re.search(r"https?://", page.text), "the docs page refers to an outside address"
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").json()["info"]["title"].startswith("Chengzhi")


def test_every_vendored_library_carries_its_licence() -> None:
    vendor = STATIC_DIR / "vendor"
    libraries = [p for p in vendor.iterdir() if p.is_dir()]
    assert libraries
    index = (vendor / "README.md").read_text(encoding="utf-8")
    for library in libraries:
        assert any(f.name.upper().startswith(("LICENSE", "LICENCE")) for f in library.iterdir()), library.name
        version = library.name.rpartition("-")[2]
        assert version in index, f"{library.name} is not listed in vendor/README.md"
