"""Hostile input beyond the fuzzing: XML read only through defusedxml (entity bombs in an XLSX refused with a clear
error), file names that try to climb out of the media directory ignored (files are stored by content hash), and
oversized bodies refused before they are read; nothing is stored in each case."""

from __future__ import annotations

import ast
import tomllib
import zipfile
from pathlib import Path

import openpyxl
import openpyxl.xml
import pytest
from fastapi.testclient import TestClient

from chengzhi.config import Settings
from chengzhi.imports.service import ImportFailed, import_requests

from .factories import City
from .open311_helpers import V2, make_key
from .test_api_errors import SUBMIT, created_number, token_headers, valid_submission
from .test_import import EXAMPLES
from .test_photos import image_bytes, upload

SRC = Path(__file__).resolve().parents[1] / "src" / "chengzhi"
UNSAFE_XML = ("xml.dom", "xml.sax", "lxml", "xmltodict", "xml.parsers")
PARSERS = ("fromstring", "XMLParser", "iterparse", "parse")


def test_no_module_parses_xml_without_defusedxml() -> None:
    assert openpyxl.xml.DEFUSEDXML, "openpyxl reads XLSX through defusedxml once it is installed"
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{path.name}: import {n}" for n in names if n.startswith(UNSAFE_XML)]
            if not isinstance(node, ast.Attribute) or node.attr not in PARSERS:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("ET", "ElementTree", "etree"):
                found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == [], "parse XML with defusedxml"


def entity_bomb_xlsx(path: Path) -> Path:
    plain = path.with_name("plain.xlsx")
    book = openpyxl.Workbook()
    book.active.append(["message_id", "detail"])  # type: ignore[union-attr]
    book.save(plain)
    dtd = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    )
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/workbook.xml":
                text = data.decode().split("?>", 1)[-1]
                data = (dtd + text.replace("<workbook ", '<workbook a="&lol3;" ', 1)).encode()
            out.writestr(name, data)
    return path


def test_xml_entities_in_an_xlsx_are_refused(settings: Settings, city: City, tmp_path: Path) -> None:
    file = entity_bomb_xlsx(tmp_path / "bomb.xlsx")
    mapping = tomllib.loads((EXAMPLES / "tc2020-replies.toml").read_text(encoding="utf-8"))
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping, language="en")
    assert failed.value.problems[0].reason.startswith("The file cannot be read: ")


@pytest.mark.parametrize(
    "filename",
    ["../../../../tmp/escaped.jpg", "..\\..\\evil.php", "/etc/passwd", "a/../../b.png", "\x00.jpg"],
)
def test_file_names_cannot_climb_out_of_the_media_directory(
    client: TestClient, city: City, settings: Settings, tmp_path: Path, filename: str
) -> None:
    resident = token_headers(client, "resident")
    number = created_number(client.post(SUBMIT, json=valid_submission(), headers=resident))
    response = upload(client, number, image_bytes("JPEG"), filename, "image/jpeg", resident)
    assert response.status_code == 201, response.text
    stored = [p for p in settings.media_dir.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].parent == settings.media_dir
    assert stored[0].name.endswith(".jpg") and len(stored[0].stem) == 64  # a SHA-256, not the name sent
    assert not Path("/tmp/escaped.jpg").exists()


def test_traversal_in_addresses_finds_nothing(client: TestClient, city: City) -> None:
    for path in (
        "/media/photos/..%2F..%2Fconfig.py",
        "/media/photos/../../pyproject.toml",
        "/static/../config.py",
        "/static/..%2Fconfig.py",
        "/static/%2e%2e/app.py",
    ):
        response = client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert "CHENGZHI" not in response.text and "import" not in response.text, path


def test_oversized_bodies_are_refused_unread(client: TestClient, city: City, settings: Settings) -> None:
    key = make_key(settings)
    huge = "x" * (settings.max_photo_bytes + 512 * 1024)
    refused = client.post(
        f"{V2}/requests.json", data={"api_key": key, "service_code": "litter", "description": huge}
    )
    assert refused.status_code == 413
    assert client.get(f"{V2}/requests.json").json() == []
    form = client.post(SUBMIT, content=b"{" + b" " * (settings.max_photo_bytes + 300 * 1024) + b"}")
    assert form.status_code == 413
