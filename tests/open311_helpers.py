"""Helpers for the Open311 tests: API keys, XML parsing, a live server process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.open311 import keys
from chengzhi.org.service import get_unit_by_code

from .patience import START_SECONDS

V2 = "/open311/v2"


def make_key(
    settings: Settings, name: str = "app", *, unit: str | None = None, rate: str = "1000/minute"
) -> str:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        target = get_unit_by_code(session, unit) if unit else None
        return keys.create_key(session, name, rate, target).key


LIST_TAGS = ("attributes", "values", "notes", "endpoints", "formats")


def _value(element: ET.Element) -> Any:
    children = list(element)
    if element.tag in LIST_TAGS:
        return [_value(c) for c in children]
    if not children:
        return element.text
    return {c.tag: _value(c) for c in children}


def xml_items(content: bytes) -> tuple[str, list[dict[str, Any]]]:
    """A list document (`<services><service>...`): the root's name and its items as dicts."""
    root = ET.fromstring(content)
    return root.tag, [{c.tag: _value(c) for c in item} for item in root]


def xml_object(content: bytes) -> tuple[str, dict[str, Any]]:
    """A one-object document (discovery, service_definition): the root's name and its fields."""
    root = ET.fromstring(content)
    return root.tag, {c.tag: _value(c) for c in root}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def start_server(
    database_url: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    *,
    port: int | None = None,
    log_level: str = "warning",
) -> LiveServer:
    """uvicorn with the app factory on a free port of 127.0.0.1, its own settings from the environment."""
    port = port or free_port()
    log = workdir / f"server-{port}.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHENGZHI_")},
        "CHENGZHI_DATABASE_URL": database_url,
        "CHENGZHI_ENVIRONMENT": "test",
        "CHENGZHI_SCHEDULER_ENABLED": "false",
        "CHENGZHI_MEDIA_DIR": str(workdir / f"media-{port}"),
        **(env or {}),
    }
    handle = log.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "chengzhi.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            log_level,
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=workdir,
    )
    handle.close()
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    deadline = (
        time.monotonic() + START_SECONDS
    )  # a loaded machine (the whole suite on two cores) starts slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped:\n{server.tail()}")
        try:
            if httpx.get(f"{server.url}/api/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the server did not answer within {START_SECONDS:.0f} s:\n{server.tail()}")


def session_for(settings: Settings) -> Session:
    return get_sessionmaker(settings.database_url)()


def assert_open311_error(response: httpx.Response) -> None:
    """An error as the Open311 specification says: a list of one {code, description}, in XML or JSON."""
    if response.headers["content-type"].startswith("text/xml"):
        root, items = xml_items(response.content)
        assert root == "errors", response.text
    else:
        assert response.headers["content-type"].startswith("application/json"), response.headers
        items = response.json()
    assert isinstance(items, list) and len(items) == 1, response.text
    assert int(items[0]["code"]) == response.status_code and items[0]["description"], response.text
