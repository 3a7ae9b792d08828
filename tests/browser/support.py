"""Helpers for the browser tests: the live server's address, what a page did, screenshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page

from ..factories import PASSWORD

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


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/<name>.png for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


__all__ = ["ARTIFACTS", "PASSWORD", "LiveServer", "Recorder", "screenshot"]
