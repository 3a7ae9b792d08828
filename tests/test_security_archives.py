"""Zip bombs (issue 20, hostile input): an uploaded XLSX is a zip archive, and the sizes its members declare are
checked before openpyxl opens it (security/archives.py). A real workbook passes; an archive that would unpack a
thousand times its size, or beyond a gigabyte, is refused with a message in the uploader's language, never a 500."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.security import archives

from .conftest import auth
from .factories import City
from .opendata_helpers import make_dataset, publisher


def _bomb(unpacked: int) -> bytes:
    """An XLSX-shaped archive whose sheet is `unpacked` bytes of one repeated character (it packs ~1000 to 1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"0" * (1 << 20)
            for _ in range(unpacked >> 20):
                member.write(chunk)
    return buffer.getvalue()


def _workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "数量"])
    for i in range(200):
        sheet.append([f"{i:05d}", i])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_real_workbook_passes_and_a_bomb_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.xlsx"
    good.write_bytes(_workbook())
    archives.check_zip(good)  # no error
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(_bomb(64 << 20))
    assert bomb.stat().st_size < (64 << 20) // 500
    with pytest.raises(archives.ArchiveRefused) as refused:
        archives.check_zip(bomb)
    assert refused.value.code == "archive_ratio" and "sheet1.xml" in str(refused.value)
    not_a_zip = tmp_path / "plain.xlsx"
    not_a_zip.write_bytes(b"id,name\n1,a\n")
    archives.check_zip(not_a_zip)  # left to the reader, which says the file is unreadable


def test_the_total_unpacked_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.xlsx"
    path.write_bytes(_bomb(3 << 20))  # under the ratio rule's floor, over a lowered total
    monkeypatch.setattr(archives, "MAX_UNPACKED", 2 << 20)
    with pytest.raises(archives.ArchiveRefused) as refused:
        archives.check_zip(path)
    assert refused.value.code == "archive_size"


def test_an_open_data_upload_of_a_bomb_is_refused_with_a_message(
    settings: Settings, city: City, client: TestClient
) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_dataset(session, publisher(session, city), city, "bombed", publish=False)
    for lang, words in (("zh", "无法读取"), ("en", "cannot be read")):
        refused = client.post(
            "/api/v1/opendata/upload",
            data={"dataset": "bombed", "name": "表格"},
            files={"file": ("counts.xlsx", _bomb(32 << 20), "application/octet-stream")},
            headers={**auth(client, "publisher"), "Accept-Language": lang},
        )
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "opendata_unreadable_table" and words in error["message"], error
