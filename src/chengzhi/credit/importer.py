"""`chengzhi credit import entities|records FILE`: CSV or XLSX, all or nothing, every bad row named with its line.

Columns are the canonical names below; a file whose header uses only them (e.g. exactly `uscc,name`) needs no
mapping. Otherwise a TOML mapping names, under `[columns]`, the file's column for each canonical one.
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from chengzhi.credit import codes, service
from chengzhi.credit.models import ENTITY_KINDS, ENTITY_STATUSES, RECORD_KINDS, SEVERITIES
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, Language, Text, gettext, message
from chengzhi.org import queries as org_queries
from chengzhi.security.archives import check_zip

ENTITY_COLUMNS = ("uscc", "name", "kind", "legal_rep", "address", "area", "industry", "status")
RECORD_COLUMNS = (
    "uscc", "kind", "title", "legal_basis", "decided_on", "severity", "outcome", "source", "request_id"
)  # fmt: skip
REQUIRED = {"entities": ("uscc", "name"), "records": ("uscc", "kind", "title", "legal_basis", "decided_on")}
SEVERITY_WORDS = {"轻微": "minor", "一般": "general", "严重": "serious"}
YES = {"1", "true", "yes", "y", "是", "pass", "kept", "合格", "履行"}
NO = {"0", "false", "no", "n", "否", "fail", "broken", "不合格", "未履行"}

MESSAGES: dict[str, Text] = {
    "unsupported_format": N_("Unsupported file type '%(suffix)s': use .csv or .xlsx."),
    "unreadable": N_("The file cannot be read: %(details)s"),
    "empty_file": N_("The file is empty: there is no header row."),
    "unknown_columns": N_(
        "Columns %(columns)s are not known (known: %(known)s); rename them or give a mapping."
    ),
    "missing_columns": N_("The file lacks the columns %(columns)s."),
    "mapping_invalid": N_("The mapping file is not valid: %(details)s"),
    "missing_value": N_("%(column)s is empty"),
    "bad_date": N_("%(column)s value '%(value)s' is not a date (YYYY-MM-DD)"),
    "bad_choice": N_("%(column)s value '%(value)s' is not one of %(allowed)s"),
    "bad_flag": N_("%(column)s value '%(value)s' is neither yes nor no"),
    "bad_number": N_("%(column)s value '%(value)s' is not a number"),
    "unknown_unit": N_("%(column)s value '%(value)s' is not a unit code of this city"),
    "unknown_entity": N_("no entity has the credit code %(value)s (import the entities first)"),
    "duplicate_code": N_("the credit code %(value)s repeats the one on line %(other)s"),
    "too_long": N_("%(column)s is longer than %(limit)s characters"),
    "line": N_("line %(line)s: %(reason)s"),
    "nothing_imported": N_("nothing imported: %(count)s problem(s)"),
}
LIMITS = {"name": 200, "legal_rep": 120, "address": 300, "industry": 20, "title": 300}


@dataclass(frozen=True)
class Problem:
    line: int  # 0: the file as a whole
    reason: str


class ImportFailed(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s)")


def say(lang: Language, key: str, **params: object) -> str:
    return gettext(lang, MESSAGES[key], **params)


def _rows(path: Path, lang: Language) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            text = path.read_text(encoding="utf-8-sig")
            reader = csv.reader(text.splitlines(keepends=True))
            rows = [(reader.line_num, row) for row in reader]
        elif suffix in (".xlsx", ".xlsm"):
            import openpyxl

            check_zip(path)  # ArchiveRefused is a ValueError: reported as unreadable, with its reason
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            rows = [(i, list(v)) for i, v in enumerate(book.active.iter_rows(values_only=True), start=1)]  # type: ignore[union-attr]
            book.close()
        else:
            raise ImportFailed([Problem(0, say(lang, "unsupported_format", suffix=suffix or path.name))])
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, KeyError) as exc:
        raise ImportFailed([Problem(0, say(lang, "unreadable", details=exc))]) from None
    if not rows:
        raise ImportFailed([Problem(0, say(lang, "empty_file"))])
    header = [str(h or "").strip() for h in rows[0][1]]
    return header, iter(rows[1:])


def _columns(header: list[str], what: str, mapping: Path | None, lang: Language) -> dict[str, int]:
    known = ENTITY_COLUMNS if what == "entities" else RECORD_COLUMNS
    names: dict[str, str] = {c: c for c in header if c in known}
    if mapping is not None:
        try:
            with mapping.open("rb") as handle:
                given = tomllib.load(handle).get("columns", {})
            names = {str(canonical): str(column) for canonical, column in given.items() if canonical in known}
        except (OSError, tomllib.TOMLDecodeError, AttributeError) as exc:
            raise ImportFailed([Problem(0, say(lang, "mapping_invalid", details=exc))]) from None
    else:
        unknown = [h for h in header if h and h not in known]
        if unknown:
            raise ImportFailed(
                [Problem(0, say(lang, "unknown_columns", columns=", ".join(unknown), known=", ".join(known)))]
            )
    missing = [c for c in REQUIRED[what] if c not in names or names[c] not in header]
    if missing:
        raise ImportFailed([Problem(0, say(lang, "missing_columns", columns=", ".join(missing)))])
    return {canonical: header.index(column) for canonical, column in names.items() if column in header}


def _cell(row: list[Any], index: int | None) -> str:
    if index is None or index >= len(row) or row[index] is None:
        return ""
    value = row[index]
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


class _RowError(Exception):
    pass


class _Row:
    def __init__(self, row: list[Any], columns: dict[str, int], lang: Language) -> None:
        self.row, self.columns, self.lang = row, columns, lang

    def text(self, column: str, required: bool = False) -> str | None:
        value = _cell(self.row, self.columns.get(column))
        if not value:
            if required:
                self.fail("missing_value", column=column)
            return None
        if column in LIMITS and len(value) > LIMITS[column]:
            self.fail("too_long", column=column, limit=LIMITS[column])
        return value

    def fail(self, key: str, **params: object) -> NoReturn:
        raise _RowError(say(self.lang, key, **params))

    def choice(self, column: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        value = self.text(column)
        if value is None:
            return default
        value = SEVERITY_WORDS.get(value, value.lower())
        if value not in allowed:
            self.fail("bad_choice", column=column, value=value, allowed=", ".join(allowed))
        return value

    def unit(self, column: str, session: Session) -> int | None:
        value = self.text(column)
        if value is None:
            return None
        unit_id = org_queries.unit_id_of_code(session, value)
        if unit_id is None:
            self.fail("unknown_unit", column=column, value=value)
        return unit_id


def _code(session: Session, row: _Row, lang: Language) -> str:
    raw = row.text("uscc", required=True) or ""
    found = service.code_problem(session, raw)
    if found is not None:
        raise _RowError(message(f"credit_code_{found[0]}", lang, found[1]))
    return codes.compact(raw)


def import_entities(
    session: Session, path: Path, on: dt.date, lang: Language, mapping: Path | None = None
) -> dict[str, int]:
    """Every row checked first; any problem and nothing is written. Existing codes are updated (name history)."""
    header, rows = _rows(path, lang)
    columns = _columns(header, "entities", mapping, lang)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    good: list[service.EntityData] = []
    for line, values in rows:
        if all(v is None or not str(v).strip() for v in values):
            continue
        row = _Row(values, columns, lang)
        try:
            uscc = _code(session, row, lang)
            if uscc in seen:
                row.fail("duplicate_code", value=uscc, other=seen[uscc])
            seen[uscc] = line
            good.append(
                service.EntityData(
                    uscc=uscc,
                    name=row.text("name", required=True) or "",
                    kind=row.choice("kind", ENTITY_KINDS, "enterprise") or "enterprise",
                    legal_rep=row.text("legal_rep"),
                    address=row.text("address"),
                    area_unit_id=row.unit("area", session),
                    industry=row.text("industry"),
                    status=row.choice("status", ENTITY_STATUSES, "active") or "active",
                )
            )
        except _RowError as exc:
            problems.append(Problem(line, say(lang, "line", line=line, reason=str(exc))))
    if problems:
        raise ImportFailed(problems)
    created = 0
    for data in good:
        created += service.entity_by_code(session, data.uscc) is None
        service.save_entity(session, data, on)
    return {"rows": len(good), "created": created, "updated": len(good) - created}


def import_records(
    session: Session,
    path: Path,
    on: dt.date,
    lang: Language,
    mapping: Path | None = None,
    source: str | None = None,
) -> dict[str, int]:
    """Records for entities already in the registry; the entities touched are regraded once at the end. Every
    record has its source: the row's `source` unit code, or `source` for the rows that name none."""
    default = org_queries.unit_id_of_code(session, source) if source else None
    if source and default is None:
        raise ImportFailed([Problem(0, say(lang, "unknown_unit", column="--source", value=source))])
    header, rows = _rows(path, lang)
    columns = _columns(header, "records", mapping, lang)
    problems: list[Problem] = []
    good: list[tuple[str, service.RecordData]] = []
    for line, values in rows:
        if all(v is None or not str(v).strip() for v in values):
            continue
        row = _Row(values, columns, lang)
        try:
            uscc = _code(session, row, lang)
            if service.entity_by_code(session, uscc) is None:
                row.fail("unknown_entity", value=uscc)
            kind = row.choice("kind", RECORD_KINDS, None) or ""
            decided = row.text("decided_on", required=True) or ""
            try:
                decided_on = dt.date.fromisoformat(decided)
            except ValueError:
                row.fail("bad_date", column="decided_on", value=decided)
            severity = row.choice("severity", SEVERITIES, None)
            if kind == "penalty" and severity is None:
                row.fail("missing_value", column="severity")
            flag = row.text("outcome")
            outcome: bool | None = None
            if flag is not None:
                if flag.lower() not in YES | NO:
                    row.fail("bad_flag", column="outcome", value=flag)
                outcome = flag.lower() in YES
            request = row.text("request_id")
            if request is not None and not request.isdigit():
                row.fail("bad_number", column="request_id", value=request)
            source_unit = row.unit("source", session) or default
            if source_unit is None:
                row.fail("missing_value", column="source")
            data = service.RecordData(
                kind=kind,
                title=row.text("title", required=True) or "",
                legal_basis=row.text("legal_basis", required=True) or "",
                decided_on=decided_on,
                severity=severity,
                outcome=outcome,
                source_unit_id=source_unit,
                request_id=int(request) if request else None,
            )
            service.check_record(session, data)
            good.append((uscc, data))
        except _RowError as exc:
            problems.append(Problem(line, say(lang, "line", line=line, reason=str(exc))))
        except ChengzhiError as exc:
            reason = message(exc.code, lang, exc.params)
            problems.append(Problem(line, say(lang, "line", line=line, reason=reason)))
    if problems:
        raise ImportFailed(problems)
    touched: dict[str, Any] = {}
    for uscc, data in good:
        entity = touched.get(uscc) or service.get_entity(session, uscc)
        touched[uscc] = entity
        service.add_record(session, entity, data, on, regrade=False)
    for entity in touched.values():
        service.refresh(session, entity, on)
    return {"rows": len(good), "entities": len(touched)}
