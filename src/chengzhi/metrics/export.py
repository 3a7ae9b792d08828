"""Every dashboard table as CSV or XLSX, streamed: CSV row by row, XLSX through openpyxl's write-only workbook
(rows go to a temporary file, which is then sent in chunks). Every cell passes `safe_cell`: text that a
spreadsheet program would run as a formula (`=HYPERLINK(…)`) is neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from starlette.responses import StreamingResponse

from chengzhi.security.cells import safe_cell

CHUNK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return safe_cell(value)


def _csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # so that spreadsheet programs read the Chinese names as UTF-8
    writer.writerow([safe_cell(h) for h in headers])
    for n, row in enumerate(rows, 1):
        writer.writerow(
            ["" if v is None else (v.isoformat() if isinstance(v, dt.date) else safe_cell(v)) for v in row]
        )
        if n % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _xlsx(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append([safe_cell(h) for h in headers])
    for row in rows:
        sheet.append([_cell(v) for v in row])
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            yield chunk


def download(name: str, fmt: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingResponse:
    if fmt == "xlsx":
        body, media = _xlsx(headers, rows), XLSX
    else:
        body, media = _csv(headers, rows), "text/csv; charset=utf-8"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )
