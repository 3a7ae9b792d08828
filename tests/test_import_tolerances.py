"""Importing real exports as a city migrating years of records meets them: New York 311 files in both of their
shapes (the open-data API's field names, the older export's human column names), written here by hand with the
three problems found in the real ones: open cases with interim resolution notes and no closing time, closing
times a few seconds before the last update, date-only update times before the received time."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.imports.service import ImportFailed, import_requests
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.security.cells import restored_cell, safe_cell

from .conftest import Configure
from .factories import City

API_HEADER = [
    "unique_key",
    "created_date",
    "closed_date",
    "agency",
    "complaint_type",
    "descriptor",
    "incident_address",
    "status",
    "resolution_description",
    "resolution_action_updated_date",
    "latitude",
    "longitude",
]
API_ROWS = [
    # closed, clean
    [
        "58000001",
        "2023-06-01T09:00:00.000",
        "2023-06-02T10:00:00.000",
        "DSNY",
        "Dirty Condition",
        "Trash",
        "1 MAIN ST",
        "Closed",
        "The Department of Sanitation cleaned the location.",
        "2023-06-02T10:00:00.000",
        "40.71",
        "-74.00",
    ],
    # closed, the closing time 3 seconds before the last update
    [
        "58000002",
        "2023-06-01T09:30:00.000",
        "2023-06-03T12:00:00.000",
        "DEP",
        "Water System",
        "No Water",
        "2 MAIN ST",
        "Closed",
        "Service was restored.",
        "2023-06-03T12:00:03.000",
        "40.72",
        "-74.01",
    ],
    # open, with an interim note and no closing time
    [
        "58000003",
        "2023-06-02T08:15:00.000",
        "",
        "DSNY",
        "Dirty Condition",
        "Litter",
        "3 MAIN ST",
        "In Progress",
        "The Department of Sanitation will inspect the location.",
        "2023-06-04T00:00:00.000",
        "40.73",
        "-74.02",
    ],
    # closed, the update time date-only and before the received time of the same day
    [
        "58000004",
        "2023-06-05T15:20:00.000",
        "2023-06-05T18:00:00.000",
        "DSNY",
        "Dirty Condition",
        "Trash",
        "4 MAIN ST",
        "Closed",
        "Cleaned.",
        "2023-06-05",
        "40.74",
        "-74.03",
    ],
    # a complaint type the city has no category for: refused
    [
        "58000005",
        "2023-06-06T11:00:00.000",
        "",
        "NYPD",
        "Noise - Residential",
        "Loud Music",
        "5 MAIN ST",
        "Open",
        "",
        "",
        "40.75",
        "-74.04",
    ],
    # a received time that is not a time: refused
    ["58000006", "yesterday", "", "DSNY", "Dirty Condition", "Trash", "6 MAIN ST", "Open", "", "", "", ""],
]

HUMAN_HEADER = [
    "Unique Key",
    "Created Date",
    "Closed Date",
    "Agency",
    "Complaint Type",
    "Descriptor",
    "Incident Address",
    "Status",
    "Resolution Description",
    "Resolution Action Updated Date",
    "Latitude",
    "Longitude",
]
HUMAN_ROWS = [
    [
        "47000001",
        "01/05/2021 10:12:33 AM",
        "01/06/2021 09:00:00 AM",
        "DSNY",
        "Dirty Condition",
        "Trash",
        "7 MAIN ST",
        "Closed",
        "Cleaned.",
        "01/06/2021 09:00:05 AM",
        "40.70",
        "-73.99",
    ],
    [
        "47000002",
        "01/07/2021 04:00:00 PM",
        "",
        "DEP",
        "Water System",
        "Leak",
        "8 MAIN ST",
        "Pending",
        "The Department of Environmental Protection is investigating.",
        "01/08/2021",
        "",
        "",
    ],
]


def mapping(header: list[str], formats: list[str], **tolerances: Any) -> dict[str, Any]:
    column = dict(zip(API_HEADER, header, strict=True))
    return {
        "source": {
            "name": "nyc311",
            "timezone": "America/New_York",
            "datetime_formats": formats,
            "language": "en",
        },
        "fields": {
            "external_id": column["unique_key"],
            "text": [column["complaint_type"], column["descriptor"]],
            "received_at": column["created_date"],
            "address": column["incident_address"],
            "lat": column["latitude"],
            "lon": column["longitude"],
        },
        "category": {
            "column": column["complaint_type"],
            "values": {"Dirty Condition": "litter", "Water System": "water"},
        },
        "outcome": {
            "status": column["status"],
            "closed_values": ["Closed"],
            "open_values": ["Open", "In Progress", "Pending", "Assigned"],
            "closed_at": column["closed_date"],
            "reply_text": column["resolution_description"],
            "replied_at": column["resolution_action_updated_date"],
        },
        "tolerances": tolerances,
    }


API_FORMATS = ["iso"]
HUMAN_FORMATS = ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y"]
TOLERANT = {"clock_skew_seconds": 60, "date_only_times": True, "open_case_notes": "progress"}


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def imported(session: Session) -> dict[str, Request]:
    session.rollback()
    return {
        r.external_id or "": r for r in session.scalars(select(Request).where(Request.source == "nyc311"))
    }


def test_all_or_nothing_stays_the_default(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write(tmp_path / "nyc.csv", API_HEADER, API_ROWS)
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping(API_HEADER, API_FORMATS), language="en")
    reasons = " | ".join(str(p) for p in failed.value.problems)
    assert "row 3: the closed time" in reasons  # 3 seconds before the last update
    assert "row 4: there is a reply but the reply time" not in reasons  # it has an update time...
    assert "row 5: resolution_action_updated_date time 2023-06-05 is before the received time" in reasons
    # Strictly, the open case with a note and an update time passes as "replied": the tolerance keeps it open.
    assert failed.value.total == 4


def test_dry_run_summarises_the_problems_by_kind(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write(tmp_path / "nyc.csv", API_HEADER, API_ROWS)
    report = import_requests(settings, file, mapping(API_HEADER, API_FORMATS), dry_run=True, language="en")
    assert report["imported"] == 0 and report["invalid"] == 4
    problems = report["problems"]
    assert problems["closed_before_replied"]["rows"] == 1
    assert problems["closed_before_replied"]["first_rows"] == [3]
    assert problems["before_received"]["first_rows"] == [5]
    assert problems["no_category"]["first_rows"] == [6]
    assert problems["bad_datetime"]["first_rows"] == [7]
    assert "example" in problems["bad_datetime"]
    assert report["outcomes"] == {"received": 0, "replied": 1, "closed": 1}


def test_tolerances_and_skip_invalid_import_the_real_shapes(
    settings: Settings, city: City, session: Session, tmp_path: Path
) -> None:
    file = write(tmp_path / "nyc.csv", API_HEADER, API_ROWS)
    rejects = tmp_path / "nyc.rejects.csv"
    report = import_requests(
        settings,
        file,
        mapping(API_HEADER, API_FORMATS, **TOLERANT),
        skip_invalid=True,
        rejects=rejects,
        language="en",
    )
    assert report["imported"] == 4 and report["invalid"] == 2
    assert report["outcomes"] == {"received": 1, "replied": 0, "closed": 3}
    rows = imported(session)
    assert set(rows) == {"58000001", "58000002", "58000003", "58000004"}
    assert rows["58000002"].status == "closed" and rows["58000002"].replied_at == rows["58000002"].closed_at
    assert (
        rows["58000004"].replied_at == rows["58000004"].received_at
    )  # the date-only update, taken as intake
    open_case = rows["58000003"]
    assert open_case.status == "received" and open_case.reply_text is None
    events = session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == open_case.id).order_by(RequestEvent.seq)
    ).all()
    assert [e.action for e in events] == ["receive", "record_outcome"]
    assert events[1].note == "The Department of Sanitation will inspect the location."
    assert events[1].payload["status"] == "received"

    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        refused = list(csv.DictReader(handle))
    assert [(r["row"], r["unique_key"]) for r in refused] == [("6", "58000005"), ("7", "58000006")]
    assert "no category" in refused[0]["reasons"] and "not a time" in refused[1]["reasons"]

    # The corrected rejects import on their own later; the rows imported before are skipped.
    again = import_requests(
        settings, file, mapping(API_HEADER, API_FORMATS, **TOLERANT), skip_invalid=True, rejects=rejects
    )
    assert again["imported"] == 0 and again["skipped"] == 4


def test_the_older_export_with_human_column_names(
    settings: Settings, city: City, session: Session, tmp_path: Path
) -> None:
    file = write(tmp_path / "nyc-2021.csv", HUMAN_HEADER, HUMAN_ROWS)
    strict = import_requests(
        settings, file, mapping(HUMAN_HEADER, HUMAN_FORMATS), dry_run=True, language="en"
    )
    assert strict["invalid"] == 1
    report = import_requests(settings, file, mapping(HUMAN_HEADER, HUMAN_FORMATS, **TOLERANT))
    assert report["imported"] == 2 and report["invalid"] == 0
    rows = imported(session)
    assert rows["47000001"].status == "closed"
    assert rows["47000002"].status == "received"


def test_cli_skip_invalid_writes_the_rejects_next_to_the_file(
    settings: Settings, city: City, tmp_path: Path, configure: Configure
) -> None:
    configure(default_language="en")
    file = write(tmp_path / "nyc.csv", API_HEADER, API_ROWS)
    spec = tmp_path / "nyc.toml"
    spec.write_text(
        """
[source]
name = "nyc311"
timezone = "America/New_York"
language = "en"
[fields]
external_id = "unique_key"
text = ["complaint_type", "descriptor"]
received_at = "created_date"
[category]
column = "complaint_type"
[category.values]
"Dirty Condition" = "litter"
"Water System" = "water"
[outcome]
status = "status"
closed_values = ["Closed"]
open_values = ["Open", "In Progress"]
closed_at = "closed_date"
reply_text = "resolution_description"
replied_at = "resolution_action_updated_date"
[tolerances]
clock_skew_seconds = 60
date_only_times = true
open_case_notes = "progress"
""",
        encoding="utf-8",
    )
    runner = CliRunner()
    dry = runner.invoke(app, ["import", "requests", str(file), "--mapping", str(spec), "--dry-run"])
    assert dry.exit_code == 1, dry.output
    result = runner.invoke(app, ["import", "requests", str(file), "--mapping", str(spec), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "nyc.rejects.csv").exists()
    assert '"imported": 4' in result.output


def test_the_rejects_file_is_formula_safe_and_imports_back_as_written(
    settings: Settings, city: City, session: Session, tmp_path: Path
) -> None:
    """A refused row's cells that would start a formula (`=HYPERLINK(…)`, `-74.04`) are written with an apostrophe,
    so a spreadsheet opening the rejects file runs nothing; importing the corrected file takes the apostrophe off,
    and the request holds the values of the original file."""
    formula = '=HYPERLINK("http://evil.example/","click")'
    rows = [row[:] for row in API_ROWS]
    rows[4][5] = formula  # 58000005: refused (no category for its complaint type)
    file = write(tmp_path / "nyc.csv", API_HEADER, rows)
    rejects = tmp_path / "nyc.rejects.csv"
    spec = mapping(API_HEADER, API_FORMATS, **TOLERANT)
    assert import_requests(settings, file, spec, skip_invalid=True, rejects=rejects)["invalid"] == 2
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        refused = list(csv.DictReader(handle))
    assert refused[0]["descriptor"] == "'" + formula and refused[0]["longitude"] == "'-74.04"
    assert all(not v.startswith(("=", "+", "-", "@")) for r in refused for v in r.values())

    refused[0]["complaint_type"] = "Dirty Condition"  # corrected in a spreadsheet, saved as CSV
    corrected = tmp_path / "nyc.corrected.csv"
    with corrected.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(refused[0]))
        writer.writeheader()
        writer.writerows(refused)
    again = import_requests(
        settings, corrected, spec, skip_invalid=True, rejects=tmp_path / "again.rejects.csv"
    )
    assert again["imported"] == 1 and again["invalid"] == 1
    row = imported(session)["58000005"]
    assert formula in row.text and not row.text.count("'=")
    assert row.lon == pytest.approx(-74.04)


def test_restored_cell_undoes_safe_cell_only() -> None:
    for value in ("=SUM(1)", "+86 138", "-74.04", "@x", "\uff1d1", "plain", "'quoted", "'", "", None, 3):
        assert restored_cell(safe_cell(value)) == value
    assert restored_cell("'plain") == "'plain" and restored_cell("''=1") == "''=1"
