"""`chengzhi import requests`: real historical data in, all rows or none, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import json
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.imports.service import ImportFailed, import_requests
from chengzhi.requests.log import state_of, steps_of
from chengzhi.requests.models import Request, RequestEvent, RequestUnit
from chengzhi.requests.workflow import fold

from .conftest import Configure, auth
from .factories import City

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
REPLIES = DATA / "tc2020-replies" / "replies.csv"
BOSTON = DATA / "boston311" / "boston311-100.csv"
EXAMPLES = ROOT / "examples" / "mappings"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def needs(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"real data not present at {path} (see shared/data)")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def local_time(value: str, zone: ZoneInfo) -> dt.datetime:
    """The test's own reading of the files' times (not the importer's)."""
    for form in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(value.strip(), form).replace(tzinfo=zone)
        except ValueError:
            continue
    raise AssertionError(f"unexpected time {value!r}")


def squeeze(text: str | None) -> str:
    return "".join((text or "").split())


def requests_of(settings: Settings, source: str) -> list[Request]:
    with get_sessionmaker(settings.database_url)() as session:
        query = select(Request).where(Request.source == source).order_by(Request.id)
        return list(session.scalars(query).unique())


def count_requests(settings: Settings) -> int:
    with get_sessionmaker(settings.database_url)() as session:
        return session.scalar(select(func.count()).select_from(Request)) or 0


def assert_events_fold_to_projection(settings: Settings, requests: list[Request], actions: list[str]) -> None:
    with get_sessionmaker(settings.database_url)() as session:
        events = session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id.in_([r.id for r in requests]))
            .order_by(RequestEvent.request_id, RequestEvent.seq)
        )
        by_request: dict[int, list[RequestEvent]] = defaultdict(list)
        for event in events:
            by_request[event.request_id].append(event)
    for request in requests:
        log = by_request[request.id]
        assert [e.action for e in log] == actions[: len(log)] and len(log) in (1, len(actions)), request.id
        assert fold(steps_of(log)) == state_of(request), request.external_id


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


BOARD_HEADER = ["message_id", "user", "title", "time", "detail", "reply", "reply_time"]


def board_row(n: int, time: str = "2019/4/25 9:32:09", reply_time: str = "2019/5/10 14:56:53") -> list[str]:
    return [str(n), f"U{n:07d}", f"标题{n}", time, f"\n\t\t第{n}条留言内容\n\t\t\n", f"答复{n}", reply_time]


# ---------------------------------------------------------------- real data


def assert_replied_as_in_file(requests: list[Request], rows: list[dict[str, str]]) -> None:
    """Each request is its row of the replies file: times, texts and the reply, replied and not routed."""
    assert len(requests) == len(rows)
    by_id = {r.external_id: r for r in requests}
    for row in rows:
        request = by_id[row["message_id"]]
        assert request.channel == "import"
        assert request.status == "replied"
        assert request.received_at == local_time(row["time"], SHANGHAI)
        assert request.replied_at == local_time(row["reply_time"], SHANGHAI)
        assert squeeze(request.reply_text) == squeeze(row["reply"]) != ""
        assert request.title == " ".join(row["title"].split())
        title, detail = squeeze(row["title"]), squeeze(row["detail"])
        assert squeeze(request.text) == (title if detail == title else title + detail)  # a repeat is dropped
        assert "\t" not in request.text and "\n\n" not in request.text
        assert request.category_id is None and request.lead_unit_id is None
    # the two odd times in the file: an ISO-style received time and a reply time without a clock time
    assert by_id["2759"].received_at == dt.datetime(2019, 4, 8, 0, 37, 20, tzinfo=dt.UTC)
    assert by_id["27610"].replied_at == dt.datetime(2018, 4, 23, 16, 0, tzinfo=dt.UTC)


# The two rows with odd times (above), kept in the part of the file that is triaged.
ODD_TIMES = ("2759", "27610")


@pytest.mark.slow
@pytest.mark.being_triaged
@needs(REPLIES)
def test_tc2020_replies_become_replied_requests(settings: Settings, city: City) -> None:
    """Every row of the real file, as the import writes it (the triage worker's part is the next test's: triaging
    all 2,816 requests took four fifths of this test's time)."""
    report = import_requests(settings, REPLIES, EXAMPLES / "tc2020-replies.toml")
    rows = read_csv(REPLIES)
    assert len(rows) == 2816
    assert report["rows"] == report["imported"] == len(rows)
    assert report["skipped"] == 0
    assert report["outcomes"] == {"received": 0, "replied": len(rows), "closed": 0}

    requests = requests_of(settings, "tc2020-board")
    assert_replied_as_in_file(requests, rows)
    assert all(r.triage_pending for r in requests)  # left to the worker
    assert_events_fold_to_projection(settings, requests, ["receive", "record_outcome"])

    again = import_requests(settings, REPLIES, EXAMPLES / "tc2020-replies.toml")
    assert (again["imported"], again["skipped"]) == (0, len(rows))
    assert count_requests(settings) == len(rows)


@pytest.mark.slow
@needs(REPLIES)
def test_tc2020_replies_stay_replied_and_unrouted_once_triaged(
    settings: Settings, city: City, tmp_path: Path
) -> None:
    """The triage worker, run once the import commits, leaves the imported replies as they were written: on the
    first 200 rows of the real file and the rows with odd times."""
    rows = read_csv(REPLIES)
    part = rows[:200] + [row for row in rows[200:] if row["message_id"] in ODD_TIMES]
    assert len(part) == 201 and {row["message_id"] for row in part} >= set(ODD_TIMES)
    file = tmp_path / "replies-part.csv"
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(part)

    report = import_requests(settings, file, EXAMPLES / "tc2020-replies.toml")
    assert report["rows"] == report["imported"] == len(part)

    requests = requests_of(settings, "tc2020-board")
    assert not any(r.triage_pending for r in requests)  # the worker has read them
    assert_replied_as_in_file(requests, part)
    assert_events_fold_to_projection(settings, requests, ["receive", "record_outcome"])


BOSTON_TABLE: dict[str, str] = tomllib.loads((EXAMPLES / "boston311.toml").read_text(encoding="utf-8"))[
    "category"
]["values"]


def fixture_code_for(boston_type: str) -> str:
    """The test city's category for a Boston type: transport ones to bus, other listed ones to litter."""
    code = BOSTON_TABLE.get(boston_type)
    if code is None:
        return "water"
    return "bus" if code in ("illegal_parking", "traffic_signal") else "litter"


def boston_mapping_for_fixture_city() -> dict[str, Any]:
    """The shipped Boston mapping with its (demo city) category codes replaced by the test city's."""
    spec = tomllib.loads((EXAMPLES / "boston311.toml").read_text(encoding="utf-8"))
    spec["category"]["values"] = {
        boston_type: fixture_code_for(boston_type) for boston_type in spec["category"]["values"]
    }
    spec["category"]["default"] = fixture_code_for("")
    spec["lead_unit"] = {"column": "department", "values": {"BTDT": "city-transport"}, "default": ""}
    return spec


@pytest.mark.slow
@needs(BOSTON)
def test_the_shipped_boston_mapping_names_categories_the_city_must_have(
    settings: Settings, city: City
) -> None:
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, BOSTON, EXAMPLES / "boston311.toml", language="en")
    [problem] = failed.value.problems
    assert problem.row == 0
    assert "illegal_parking" in problem.reason and "Categories named in the mapping" in problem.reason
    assert count_requests(settings) == 0


def test_the_shipped_boston_mapping_fits_the_demo_city() -> None:
    catalogue = pytest.importorskip(
        "chengzhi.demo.catalogue", reason="the demo city's catalogue is not present"
    )
    spec = tomllib.loads((EXAMPLES / "boston311.toml").read_text(encoding="utf-8"))
    for code in {*spec["category"]["values"].values(), spec["category"]["default"]}:
        category = catalogue.CATEGORY_BY_CODE[code]
        required = [a["code"] for a in category.attributes if a.get("required")]
        assert not required, f"{code} asks {required}, which Boston's export cannot answer"


@pytest.mark.slow
@needs(BOSTON)
def test_boston_311_a_foreign_schema(settings: Settings, city: City) -> None:
    report = import_requests(settings, BOSTON, boston_mapping_for_fixture_city())
    rows = read_csv(BOSTON)
    statuses = Counter(row["case_status"] for row in rows)
    assert report["imported"] == len(rows) == 100
    assert report["outcomes"] == {"received": statuses["Open"], "replied": 0, "closed": statuses["Closed"]}

    requests = requests_of(settings, "boston311")
    by_id = {r.external_id: r for r in requests}
    transport_id = city.unit("city-transport").id
    with get_sessionmaker(settings.database_url)() as session:
        leads = set(session.scalars(select(RequestUnit.request_id).where(RequestUnit.role == "lead")))
    for row in rows:
        request = by_id[row["case_enquiry_id"]]
        assert request.language == "en"
        assert (request.lat, request.lon) == (float(row["latitude"]), float(row["longitude"]))
        assert request.received_at == local_time(row["open_dt"], NEW_YORK)
        if row["case_title"].strip():
            assert request.title == " ".join(row["case_title"].split())
        assert squeeze(row["type"]) in squeeze(request.text)
        if row["case_status"] == "Closed":
            assert request.status == "closed"
            assert request.closed_at == local_time(row["closed_dt"], NEW_YORK)
            assert squeeze(request.reply_text) == squeeze(row["closure_reason"])
            expected_lead = transport_id if row["department"] == "BTDT" else None
            assert request.lead_unit_id == expected_lead
            assert (request.id in leads) == (expected_lead is not None)
        else:
            assert request.status == "received"
            assert request.closed_at is None and request.lead_unit_id is None
        assert request.category is not None and request.category.code == fixture_code_for(row["type"])
    assert sum(1 for r in requests if r.lead_unit_id == transport_id) == sum(
        1 for row in rows if row["department"] == "BTDT" and row["case_status"] == "Closed"
    )
    assert_events_fold_to_projection(settings, requests, ["receive", "record_outcome"])


# ---------------------------------------------------------------- all or nothing


def test_a_bad_row_is_named_and_nothing_is_imported(settings: Settings, city: City, tmp_path: Path) -> None:
    rows = [board_row(1), board_row(2), board_row(3, time="2019/13/45 9:00:00"), board_row(4), board_row(5)]
    rows[4][6] = "2019/4/1 08:00:00"  # replied before it was received
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, rows)
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, EXAMPLES / "tc2020-replies.toml", language="en")
    problems = failed.value.problems
    assert [p.row for p in problems] == [4, 6]
    assert "time value '2019/13/45 9:00:00' is not a time" in problems[0].reason
    assert "reply_time time 2019/4/1 08:00:00 is before the received time" in problems[1].reason
    # the rows are numbered as a spreadsheet shows them; the file line is added where quoted newlines differ
    assert str(problems[0]).startswith("row 4 (line 10): ")
    assert count_requests(settings) == 0


def test_problems_are_told_in_chinese_by_default(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(1, time="昨天")])
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, EXAMPLES / "tc2020-replies.toml")
    assert "“time”的值“昨天”不是可识别的时间" in failed.value.problems[0].reason


def test_every_invalid_row_is_reported(settings: Settings, city: City, tmp_path: Path) -> None:
    good, empty_text, no_reply_time, duplicate = board_row(1), board_row(2), board_row(3), board_row(1)
    empty_text[2] = empty_text[4] = " "
    no_reply_time[6] = ""
    reply_time_only = board_row(5)
    reply_time_only[5] = ""
    file = write_csv(
        tmp_path / "b.csv", BOARD_HEADER, [good, empty_text, no_reply_time, duplicate, reply_time_only]
    )
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, EXAMPLES / "tc2020-replies.toml", language="en")
    reasons = {p.row: p.reason for p in failed.value.problems}
    assert reasons == {
        3: "title + detail is empty",
        4: "there is a reply but the reply time reply_time is empty",
        5: "id '1' repeats the one in row 2",
        6: "there is a reply time but the reply reply is empty",
    }
    assert failed.value.total == 4
    assert count_requests(settings) == 0


def test_reimport_skips_rows_already_imported(settings: Settings, city: City, tmp_path: Path) -> None:
    mapping = EXAMPLES / "tc2020-replies.toml"
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(n) for n in (1, 2, 3)])
    assert import_requests(settings, file, mapping)["imported"] == 3
    again = import_requests(settings, file, mapping)
    assert (again["imported"], again["skipped"]) == (0, 3)
    write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(n) for n in (1, 2, 3, 4)])
    grown = import_requests(settings, file, mapping)
    assert (grown["imported"], grown["skipped"]) == (1, 3)
    assert sorted(r.external_id or "" for r in requests_of(settings, "tc2020-board")) == ["1", "2", "3", "4"]


def test_imported_requests_are_served_like_any_other(
    settings: Settings, city: City, client: TestClient, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(7)])
    import_requests(settings, file, EXAMPLES / "tc2020-replies.toml")
    [request] = requests_of(settings, "tc2020-board")
    response = client.get(f"/api/v1/requests/{request.tracking_number}", headers=auth(client, "dispatcher"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["channel"]) == ("replied", "import")
    assert [e["action"] for e in body["events"]] == ["receive", "record_outcome"]
    assert body["events"][1]["note"] == "答复7"


def test_dry_run_checks_and_counts_but_writes_nothing(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(n) for n in (1, 2)])
    report = import_requests(settings, file, EXAMPLES / "tc2020-replies.toml", dry_run=True)
    assert report["dry_run"] is True
    assert (report["rows"], report["imported"], report["outcomes"]["replied"]) == (2, 0, 2)
    assert count_requests(settings) == 0


# ---------------------------------------------------------------- file kinds and mapping features


def test_xlsx_named_sheet_with_status_rules(settings: Settings, city: City, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "说明"
    notes.append(["导出说明：见第二个工作表"])
    cases = workbook.create_sheet("Cases")
    cases.append(
        ["编号", "受理时间", "内容", "类别", "纬度", "经度", "电话", "状态", "答复", "答复时间", "办结时间"]
    )
    received = dt.datetime(2023, 5, 1, 9, 30)
    cases.append(
        [1001, received, "路边垃圾没人清", "litter", 0.2, 0.3, "13912345678", "办理中", None, None, None]
    )
    cases.append(
        [
            1002,
            received,
            "停水了",
            "water",
            None,
            None,
            None,
            "已答复",
            "已恢复供水",
            "2023-05-02 10:00",
            None,
        ]
    )
    cases.append([None] * 11)  # a blank row is skipped
    cases.append(
        [
            1003,
            received,
            "公交晚点",
            "bus",
            0.5,
            1.5,
            None,
            "已办结",
            "已约谈",
            "2023-05-03 08:00",
            dt.datetime(2023, 5, 4, 17, 0),
        ]
    )
    file = tmp_path / "old-hotline.xlsx"
    workbook.save(file)
    mapping = {
        "source": {
            "name": "old-hotline",
            "timezone": "Asia/Shanghai",
            "datetime_formats": ["%Y-%m-%d %H:%M"],
        },
        "file": {"sheet": "Cases"},
        "fields": {
            "external_id": "编号",
            "text": "内容",
            "received_at": "受理时间",
            "lat": "纬度",
            "lon": "经度",
            "contact_phone": "电话",
        },
        "category": {"column": "类别"},  # the cells hold category codes themselves
        "outcome": {
            "status": "状态",
            "closed_values": ["已办结"],
            "open_values": ["办理中", "已答复"],
            "closed_at": "办结时间",
            "reply_text": "答复",
            "replied_at": "答复时间",
        },
    }
    report = import_requests(settings, file, mapping)
    assert report["outcomes"] == {"received": 1, "replied": 1, "closed": 1}
    by_id = {r.external_id: r for r in requests_of(settings, "old-hotline")}
    assert set(by_id) == {"1001", "1002", "1003"}
    assert all(r.received_at == received.replace(tzinfo=SHANGHAI) for r in by_id.values())
    assert by_id["1001"].status == "received" and by_id["1001"].contact_phone == "13912345678"
    assert (by_id["1001"].lat, by_id["1001"].lon) == (0.2, 0.3)
    assert by_id["1002"].status == "replied" and by_id["1002"].reply_text == "已恢复供水"
    assert by_id["1002"].replied_at == dt.datetime(2023, 5, 2, 2, 0, tzinfo=dt.UTC)
    assert by_id["1003"].status == "closed"
    assert by_id["1003"].closed_at == dt.datetime(2023, 5, 4, 9, 0, tzinfo=dt.UTC)
    assert by_id["1003"].replied_at == dt.datetime(2023, 5, 3, 0, 0, tzinfo=dt.UTC)
    codes = {r.external_id: r.category.code if r.category else None for r in by_id.values()}
    assert codes == {"1001": "litter", "1002": "water", "1003": "bus"}
    assert_events_fold_to_projection(settings, list(by_id.values()), ["receive", "record_outcome"])


def test_xlsx_missing_sheet(settings: Settings, city: City, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    file = tmp_path / "book.xlsx"
    workbook.save(file)
    mapping = tomllib.loads((EXAMPLES / "tc2020-replies.toml").read_text(encoding="utf-8"))
    mapping["file"]["sheet"] = "Cases"
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping, language="en")
    assert failed.value.problems[0].reason == "The workbook has no sheet 'Cases' (sheets: Sheet)."


def test_category_questions_codes_and_units_are_checked(
    settings: Settings, city: City, tmp_path: Path
) -> None:
    header = ["id", "when", "what", "kind", "size", "unit", "reply", "replied"]
    at, later = "2024-03-01 08:00:00", "2024-03-02 08:00:00"
    rows = [
        ["r1", at, "路面塌陷", "道路", "large", "D1S1", "已修复", later],
        ["r2", at, "路面坑洼", "道路", "", "D1S1", "已修复", later],
        ["r3", at, "路面裂缝", "道路", "huge", "D1S1", "", ""],
        ["r4", at, "不知道是什么", "其他", "", "", "", ""],
        ["r5", at, "垃圾", "垃圾", "", "nowhere", "已清理", later],
    ]
    file = write_csv(tmp_path / "cases.csv", header, rows)
    mapping: dict[str, Any] = {
        "source": {"name": "old-system", "datetime_formats": ["iso"]},
        "fields": {"external_id": "id", "text": "what", "received_at": "when"},
        "category": {"column": "kind", "values": {"道路": "road", "垃圾": "litter"}},
        "attributes": {"size": "size"},
        "lead_unit": {"column": "unit"},
        "outcome": {"reply_text": "reply", "replied_at": "replied"},
    }
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping, language="en")
    reasons = {p.row: p.reason for p in failed.value.problems}
    assert reasons == {
        3: "Answer the required question 'size'.",
        4: "The answer to question 'size' is not valid: one of large, small",
        5: "no category for kind value '其他' and the mapping has no default category",
        6: "Unit nowhere was not found.",
    }
    assert count_requests(settings) == 0

    write_csv(tmp_path / "cases.csv", header, rows[:1])
    import_requests(settings, file, mapping)
    [request] = requests_of(settings, "old-system")
    assert request.category is not None and request.category.code == "road"
    assert request.attributes == {"size": "large"}
    assert request.lead_unit_id == city.unit("D1S1").id
    # no time zone in the mapping: the platform's own (CHENGZHI_TIMEZONE)
    assert request.received_at == dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC)


def test_mapping_codes_must_exist_in_the_city(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(1)])
    mapping = tomllib.loads((EXAMPLES / "tc2020-replies.toml").read_text(encoding="utf-8"))
    mapping["category"] = {
        "column": "user",
        "values": {"U0000001": "litter", "x": "potholes"},
        "default": "nope",
    }
    mapping["lead_unit"] = {"default": "D9"}
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping, language="en")
    assert [str(p) for p in failed.value.problems] == [
        "Categories named in the mapping do not exist in this city or are inactive: nope, potholes",
        "Units named in the mapping do not exist in this city: D9",
    ]


def test_a_broken_mapping_or_file_is_refused(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "board.csv", BOARD_HEADER, [board_row(1)])
    broken = tmp_path / "broken.toml"
    broken.write_text(
        '[source]\nname = "x"\n[fields]\nexternal_id = "message_id"\ntext = "detail"\nrecieved_at = "time"\n'
    )
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, broken, language="en")
    reason = failed.value.problems[0].reason
    assert reason.startswith("The mapping file is not valid: ")
    assert "[fields.received_at] Field required" in reason and "[fields.recieved_at] Extra inputs" in reason

    mapping = tomllib.loads((EXAMPLES / "tc2020-replies.toml").read_text(encoding="utf-8"))
    mapping["fields"]["address"] = "location"
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping, language="en")
    assert failed.value.problems[0].reason.startswith("The file lacks columns the mapping uses: location.")

    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, tmp_path / "board.json", mapping, language="en")
    assert "Unsupported file type '.json'" in failed.value.problems[0].reason


def test_encoding_of_the_source(settings: Settings, city: City, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "gbk.csv", BOARD_HEADER, [board_row(1), board_row(2)], encoding="gb18030")
    mapping = tomllib.loads((EXAMPLES / "tc2020-replies.toml").read_text(encoding="utf-8"))
    with pytest.raises(ImportFailed) as failed:
        import_requests(settings, file, mapping, language="en")
    assert failed.value.problems[0].reason.startswith("Cannot be read as utf-8")
    mapping["file"]["encoding"] = "gb18030"
    assert import_requests(settings, file, mapping)["imported"] == 2
    assert [r.title for r in requests_of(settings, "tc2020-board")] == ["标题1", "标题2"]


# ---------------------------------------------------------------- the command


def test_cli_imports_and_reports_bad_rows(
    settings: Settings, city: City, tmp_path: Path, configure: Configure
) -> None:
    mapping = tmp_path / "board.toml"
    mapping.write_text(
        "\n".join(
            [
                "[source]",
                'name = "board"',
                'timezone = "Asia/Shanghai"',
                'datetime_formats = ["%Y/%m/%d %H:%M:%S"]',
                "[fields]",
                'external_id = "message_id"',
                'text = ["title", "detail"]',
                'title = "title"',
                'received_at = "time"',
                "[outcome]",
                'reply_text = "reply"',
                'replied_at = "reply_time"',
            ]
        ),
        encoding="utf-8",
    )
    good = write_csv(tmp_path / "good.csv", BOARD_HEADER, [board_row(n) for n in (1, 2, 3)])
    single_line = [[str(n), "U", f"标题{n}", "2019/4/25 9:32:09", "内容", "", ""] for n in (4, 5, 6)]
    single_line[2][3] = ""
    bad = write_csv(tmp_path / "bad.csv", BOARD_HEADER, single_line)
    configure(default_language="en")
    runner = CliRunner()
    result = runner.invoke(app, ["import", "requests", str(good), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["imported"], report["outcomes"]["replied"]) == (3, 3)

    result = runner.invoke(app, ["import", "requests", str(bad), "--mapping", str(mapping)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "row 4: time is empty"
    assert "nothing imported" in result.stderr
    assert count_requests(settings) == 3


def test_imported_records_need_not_answer_todays_required_questions(settings: Settings, city: City) -> None:
    """The old system never asked the category's required questions: an import may leave them unanswered."""
    from chengzhi.org.models import Role, Unit, UnitKind
    from chengzhi.org.service import Actor, RoleGrant
    from chengzhi.requests.service import Submission, submit_request

    with get_sessionmaker(settings.database_url)() as session, session.begin():
        hub = session.scalars(select(Unit).where(Unit.kind == UnitKind.city)).one()
        importer = Actor(
            user_id=None, username="import", grants=(RoleGrant(Role.operator, hub.id, hub.path),)
        )
        request = submit_request(
            session,
            importer,
            Submission(text="路面坑洼", channel="import", category_code="road"),
            settings,
            check_location=False,
        )
        assert request.attributes == {}
