"""Reading an export row by row (CSV or XLSX) and turning each row into what the importer writes.

Nothing here touches the database: a row is checked against the mapping alone; the service adds the checks that
need the city's categories and units.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chengzhi.imports.mapping import CodeTableSpec, FileSpec, MappingSpec
from chengzhi.imports.messages import ImportFailed, Messages, Problem
from chengzhi.requests.service import Submission
from chengzhi.requests.workflow import Status
from chengzhi.security.archives import check_zip
from chengzhi.security.cells import restored_cell

# Lengths of the request columns that the service does not shorten itself.
LIMITS = {"external_id": 80, "address": 300, "contact_name": 120, "contact_phone": 40, "contact_email": 200}


@dataclass(frozen=True)
class Record:
    row: int  # as a spreadsheet numbers it: the header is row 1
    line: int | None  # the line of the file where the row starts (CSV), if known
    values: dict[str, Any]


@dataclass
class Table:
    header: list[str]
    records: Iterator[Record]


class UnreadableRow(Exception):
    """Raised from inside the iteration over a file's rows: the rest of the file cannot be read."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def file_format(path: Path, spec: FileSpec) -> str | None:
    if spec.format:
        return spec.format
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    return None


@contextmanager
def open_table(path: Path, mapping: MappingSpec, say: Messages) -> Iterator[Table]:
    """The file's header and an iterator over its non-blank rows; ImportFailed for a file that cannot be read.

    The iteration raises UnreadableRow for a problem found mid-file (decoding, broken CSV).
    """
    kind = file_format(path, mapping.file)
    if kind is None:
        raise ImportFailed([Problem(0, say("unsupported_format", suffix=path.suffix or path.name))])
    opener = _open_csv if kind == "csv" else _open_xlsx
    with opener(path, mapping.file, say) as table:
        _check_header(table.header, mapping, say)
        yield table


def _check_header(header: list[str], mapping: MappingSpec, say: Messages) -> None:
    wanted = mapping.columns()
    missing = [c for c in wanted if c not in header]
    if missing:
        available = ", ".join(h for h in header if h) or "-"
        raise ImportFailed(
            [Problem(0, say("missing_columns", columns=", ".join(missing), available=available))]
        )
    for column in wanted:
        if header.count(column) > 1:
            raise ImportFailed([Problem(0, say("duplicate_header", column=column))])


def _blank(values: list[Any] | tuple[Any, ...]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


@contextmanager
def _open_csv(path: Path, spec: FileSpec, say: Messages) -> Iterator[Table]:
    try:
        handle = path.open(encoding=spec.encoding, newline="")
    except OSError as exc:
        raise ImportFailed([Problem(0, say("unreadable_file", details=exc))]) from None
    with handle:
        reader = csv.reader(handle, delimiter=spec.delimiter, quotechar=spec.quotechar)
        try:
            header = [restored_cell(h.strip().lstrip("\ufeff")) for h in next(reader)]
        except StopIteration:
            raise ImportFailed([Problem(0, say("empty_file"))]) from None
        except UnicodeDecodeError as exc:
            raise ImportFailed(
                [Problem(1, say("undecodable", encoding=spec.encoding, details=exc))]
            ) from None
        except csv.Error as exc:
            raise ImportFailed([Problem(1, say("csv_error", details=exc))]) from None

        def records() -> Iterator[Record]:
            row, next_line = 1, reader.line_num + 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError as exc:
                    problem = Problem(row + 1, say("undecodable", encoding=spec.encoding, details=exc))
                    raise UnreadableRow(problem) from None
                except csv.Error as exc:
                    raise UnreadableRow(Problem(row + 1, say("csv_error", details=exc), next_line)) from None
                row, line, next_line = row + 1, next_line, reader.line_num + 1
                if _blank(values):
                    continue
                if len(values) > len(header) and not _blank(values[len(header) :]):
                    reason = say("field_count", count=len(values), expected=len(header))
                    raise UnreadableRow(Problem(row, reason, line))
                # A rejects file's neutralised cells (`'=…`) are read as written before (security.cells).
                yield Record(row, line, dict(zip(header, map(restored_cell, values), strict=False)))

        yield Table(header, records())


@contextmanager
def _open_xlsx(path: Path, spec: FileSpec, say: Messages) -> Iterator[Table]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        check_zip(path)  # an ArchiveRefused is a ValueError: reported as unreadable, with its reason
        workbook = load_workbook(path, read_only=True, data_only=True)
    # ValueError: openpyxl's word for XML it refuses, DTDs and entities included (it parses with defusedxml).
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ImportFailed([Problem(0, say("unreadable_file", details=exc))]) from None
    try:
        if spec.sheet is not None and spec.sheet not in workbook.sheetnames:
            sheets = ", ".join(workbook.sheetnames)
            raise ImportFailed([Problem(0, say("sheet_not_found", sheet=spec.sheet, sheets=sheets))])
        sheet = workbook[spec.sheet] if spec.sheet is not None else workbook.worksheets[0]
        rows = sheet.iter_rows(min_row=1, values_only=True)
        first = next(rows, None)
        if first is None or _blank(first):
            raise ImportFailed([Problem(0, say("empty_file"))])
        header = ["" if v is None else restored_cell(str(v).strip()) for v in first]

        def records() -> Iterator[Record]:
            for row, values in enumerate(rows, start=2):
                if not _blank(values):
                    yield Record(row, None, dict(zip(header, map(restored_cell, values), strict=False)))

        yield Table(header, records())
    finally:
        workbook.close()


# ---------------------------------------------------------------- one row


@dataclass
class ImportRow:
    """A valid row: the submission and the outcome it had in the old system."""

    row: int
    external_id: str
    submission: Submission
    received_at: dt.datetime
    outcome: Status
    reply_text: str | None = None
    replied_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    lead_unit_code: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    progress_note: str | None = None  # a note on a case still open in the old system (tolerance)

    @property
    def outcome_at(self) -> dt.datetime | None:
        return self.closed_at if self.outcome is Status.closed else self.replied_at


_HORIZONTAL_SPACE = re.compile(r"[ \t\xa0]+")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}")


def _without_time(text: str, parsed: dt.datetime) -> bool:
    """A value that names a day but no time of day ("2019-03-05", "03/05/2019")."""
    return parsed.time() == dt.time() and not _TIME_OF_DAY.search(text)


def clean_text(value: str, mode: str) -> str:
    """`lines`: strip each line, drop blank lines; `collapse`: one line, single spaces; `keep`: strip only."""
    if mode == "collapse":
        return " ".join(value.split())
    if mode == "lines":
        lines = (_HORIZONTAL_SPACE.sub(" ", line).strip() for line in value.splitlines())
        return "\n".join(line for line in lines if line)
    return value.strip()


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


class RowParser:
    """Turns records into ImportRows, or into the reasons a row is invalid."""

    def __init__(self, mapping: MappingSpec, zone: ZoneInfo, now: dt.datetime, say: Messages) -> None:
        self.mapping = mapping
        self.zone = zone
        self.now = now
        self.say = say
        self.closed_values = {v.strip().casefold() for v in mapping.outcome.closed_values}
        self.skew = dt.timedelta(seconds=mapping.tolerances.clock_skew_seconds)
        self.date_only: set[str] = set()  # the columns of the current row that held a date without a time
        self.open_values = {v.strip().casefold() for v in mapping.outcome.open_values}

    def _text(self, record: Record, column: str | None, mode: str | None = None) -> str:
        if column is None:
            return ""
        return clean_text(as_text(record.values.get(column)), mode or self.mapping.fields.whitespace)

    def _time(self, record: Record, column: str, reasons: list[str]) -> dt.datetime | None:
        raw = record.values.get(column)
        if isinstance(raw, dt.datetime):
            naive_or_aware = raw
        elif isinstance(raw, dt.date):
            naive_or_aware = dt.datetime.combine(raw, dt.time())
            self.date_only.add(column)
        else:
            text = as_text(raw).strip()
            if not text:
                return None
            parsed = self._parse_time(text)
            if parsed is not None and _without_time(text, parsed):
                self.date_only.add(column)
            if parsed is None:
                formats = ", ".join(self.mapping.source.datetime_formats)
                reasons.append(self.say("bad_datetime", column=column, value=text[:40], formats=formats))
                return None
            naive_or_aware = parsed
        if naive_or_aware.tzinfo is None:
            naive_or_aware = naive_or_aware.replace(tzinfo=self.zone)
        moment = naive_or_aware.astimezone(dt.UTC)
        if moment > self.now:
            reasons.append(self.say("in_future", column=column, value=as_text(raw).strip()))
        return moment

    def _parse_time(self, text: str) -> dt.datetime | None:
        for form in self.mapping.source.datetime_formats:
            try:
                return dt.datetime.fromisoformat(text) if form == "iso" else dt.datetime.strptime(text, form)
            except ValueError:
                continue
        return None

    def _coordinate(self, record: Record, column: str, bound: float, reasons: list[str]) -> float | None:
        text = as_text(record.values.get(column)).strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            reasons.append(self.say("bad_number", column=column, value=text[:40]))
            return None
        if not math.isfinite(value) or not -bound <= value <= bound:
            reasons.append(self.say("out_of_range", column=column, value=text[:40], low=-bound, high=bound))
            return None
        return value

    def _code(self, record: Record, table: CodeTableSpec, key: str, reasons: list[str]) -> str | None:
        """A code from a column: looked up in `values` (or the cell is the code itself when there is no table);
        `default` for empty or unlisted values, where "" means none; without a default they are invalid."""
        if table.column is None:
            return table.default or None
        value = clean_text(as_text(record.values.get(table.column)), "collapse")
        code = (table.values.get(value) if table.values else value) if value else None
        if code is None:
            if table.default is None:
                reasons.append(self.say(key, column=table.column, value=value))
            return table.default or None
        return code

    def parse(self, record: Record) -> ImportRow | list[str]:
        m, f = self.mapping, self.mapping.fields
        reasons: list[str] = []
        self.date_only = set()

        external_id = clean_text(as_text(record.values.get(f.external_id)), "collapse")
        if not external_id:
            reasons.append(self.say("missing_value", column=f.external_id))
        parts = [self._text(record, column) for column in f.text]
        text = f.text_separator.join(dict.fromkeys(p for p in parts if p))
        if not text:
            reasons.append(self.say("missing_value", column=" + ".join(f.text)))
        received_at = self._time(record, f.received_at, reasons)
        if received_at is None and not as_text(record.values.get(f.received_at)).strip():
            reasons.append(self.say("missing_value", column=f.received_at))

        lat = lon = None
        if f.lat is not None and f.lon is not None:
            lat = self._coordinate(record, f.lat, 90, reasons)
            lon = self._coordinate(record, f.lon, 180, reasons)
            lat_given = bool(as_text(record.values.get(f.lat)).strip())
            lon_given = bool(as_text(record.values.get(f.lon)).strip())
            if lat_given != lon_given:
                reasons.append(self.say("half_location"))

        optional = {
            "external_id": external_id,
            "address": self._text(record, f.address, "collapse") or None,
            "contact_name": self._text(record, f.contact_name, "collapse") or None,
            "contact_phone": self._text(record, f.contact_phone, "collapse") or None,
            "contact_email": self._text(record, f.contact_email, "collapse") or None,
        }
        for name, value in optional.items():
            if value and len(value) > LIMITS[name]:
                column = getattr(f, name)
                reasons.append(self.say("too_long", column=column, limit=LIMITS[name]))

        category_code = self._code(record, m.category, "no_category", reasons)
        attributes = {
            code: value
            for code, column in m.attributes.items()
            if (value := clean_text(as_text(record.values.get(column)), "collapse"))
        }

        outcome, reply_text, replied_at, closed_at, progress_note = self._outcome(
            record, received_at, reasons
        )
        # Only a replied or closed request has a lead unit: an open one waits for dispatch here.
        lead_unit_code = None
        if outcome is not Status.received:
            lead_unit_code = self._code(record, m.lead_unit, "no_lead_unit", reasons)
        if reasons or received_at is None:
            return reasons
        submission = Submission(
            text=text,
            channel="import",
            title=self._text(record, f.title, "collapse"),
            category_code=category_code,
            lat=lat,
            lon=lon,
            address=optional["address"],
            contact_name=optional["contact_name"],
            contact_phone=optional["contact_phone"],
            contact_email=optional["contact_email"],
            attributes=attributes,
            language=m.source.language,
            source=m.source.name,
            external_id=external_id,
        )
        return ImportRow(
            row=record.row,
            external_id=external_id,
            submission=submission,
            received_at=received_at,
            outcome=outcome,
            reply_text=reply_text,
            replied_at=replied_at,
            closed_at=closed_at,
            lead_unit_code=lead_unit_code,
            attributes=attributes,
            progress_note=progress_note,
        )

    def _not_before(
        self, moment: dt.datetime | None, column: str | None, floor: dt.datetime | None
    ) -> dt.datetime | None:
        """The tolerances: a time a little before `floor` (clock skew), or a date without a time on `floor`'s
        day, is taken as `floor`."""
        if moment is None or floor is None or column is None or moment >= floor:
            return moment
        if floor - moment <= self.skew:
            return floor
        same_day = moment.astimezone(self.zone).date() == floor.astimezone(self.zone).date()
        if self.mapping.tolerances.date_only_times and column in self.date_only and same_day:
            return floor
        return moment

    def _outcome(
        self, record: Record, received_at: dt.datetime | None, reasons: list[str]
    ) -> tuple[Status, str | None, dt.datetime | None, dt.datetime | None, str | None]:
        """Closed if the status column says so (or, without one, if there is a closed time); replied if there is
        a reply; otherwise the request stays received (with the tolerance, keeping an open case's note)."""
        o = self.mapping.outcome
        progress_note = None
        reply_text = self._text(record, o.reply_text) or None
        replied_at = self._time(record, o.replied_at, reasons) if o.replied_at else None
        closed_at = self._time(record, o.closed_at, reasons) if o.closed_at else None
        replied_at = self._not_before(replied_at, o.replied_at, received_at)
        closed_at = self._not_before(closed_at, o.closed_at, received_at)
        closed_given = bool(o.closed_at and as_text(record.values.get(o.closed_at)).strip())
        replied_given = bool(o.replied_at and as_text(record.values.get(o.replied_at)).strip())

        if o.status is not None:
            status_value = clean_text(as_text(record.values.get(o.status)), "collapse")
            closed = status_value.casefold() in self.closed_values
            if not closed and self.open_values and status_value.casefold() not in self.open_values:
                reasons.append(self.say("unknown_status", column=o.status, value=status_value))
        else:
            closed = closed_given
        if closed:
            if not closed_given:
                reasons.append(self.say("closed_without_time", column=o.closed_at))
            if reply_text and replied_at is None and not replied_given:
                replied_at = closed_at  # the old system replied when it closed the case
            outcome = Status.closed
        elif (
            reply_text
            and self.mapping.tolerances.open_case_notes == "progress"
            and (o.status is not None or not replied_given)
        ):
            outcome, progress_note = Status.received, reply_text
            reply_text, closed_at = None, None
        elif reply_text:
            if not replied_given:
                reasons.append(self.say("reply_without_time", column=o.replied_at or o.closed_at))
            outcome = Status.replied
        else:
            outcome = Status.received
            replied_at = closed_at = None
        if replied_given and not reply_text and not progress_note and o.reply_text:
            reasons.append(self.say("time_without_reply", column=o.reply_text))

        if received_at is not None:
            shown = as_text(record.values.get(self.mapping.fields.received_at)).strip()
            for column, moment in ((o.replied_at, replied_at), (o.closed_at, closed_at)):
                if column is not None and moment is not None and moment < received_at:
                    value = as_text(record.values.get(column)).strip()
                    reasons.append(self.say("before_received", column=column, value=value, received=shown))
        if closed and closed_at is not None and replied_at is not None and closed_at < replied_at:
            if replied_at - closed_at <= self.skew or (
                self.mapping.tolerances.date_only_times
                and {o.replied_at, o.closed_at} & self.date_only
                and replied_at.astimezone(self.zone).date() == closed_at.astimezone(self.zone).date()
            ):
                replied_at = closed_at  # the reply came with the closing
            else:
                reasons.append(
                    self.say(
                        "closed_before_replied",
                        value=as_text(record.values.get(o.closed_at or "")).strip(),
                        replied=as_text(record.values.get(o.replied_at)).strip() if o.replied_at else "",
                    )
                )
        return outcome, reply_text, replied_at, closed_at, progress_note
