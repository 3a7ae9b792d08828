"""Documentation as a tested contract: settings, commands and routes that exist are documented."""

from __future__ import annotations

from pathlib import Path

from chengzhi.app import create_app
from chengzhi.clidoc import cli_reference
from chengzhi.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`CHENGZHI_{name.upper()}`" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_cli_reference_is_up_to_date() -> None:
    written = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert written == cli_reference(), "docs/cli.md is stale: run `python -m chengzhi.clidoc > docs/cli.md`"


def test_every_api_route_is_documented() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    spec = create_app(Settings(scheduler_enabled=False)).openapi()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
        if f"| {method.upper()} | `{path}` |" not in text
    ]
    assert not missing, f"routes missing from docs/api.md: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8")[:1500]
    assert "make run" in head and "make test" in head
