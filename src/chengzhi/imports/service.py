"""Importing a city's historical requests from CSV or XLSX: every row checked first, then all or nothing.

The file is read twice. The first pass checks every row against the mapping and the city (categories, units,
category questions) and keeps only the external ids; if any row is invalid, ImportFailed lists the problems and
nothing is written. The second pass writes every row not imported before through the real service functions
(`submit_request` on channel "import", then `record_outcome` for replied and closed rows), in one transaction.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.categories.service import find_category, validate_answers
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, transaction, utcnow
from chengzhi.errors import ChengzhiError, Invalid, NotFound
from chengzhi.i18n import Language
from chengzhi.imports.mapping import MappingSpec, load_mapping, parse_mapping
from chengzhi.imports.messages import ImportFailed, Messages, Problem, kind_of
from chengzhi.imports.rows import ImportRow, Record, RowParser, Table, UnreadableRow, as_text, open_table
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, RoleGrant, city_unit, get_unit
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.service import record_outcome, submit_request
from chengzhi.requests.workflow import IllegalTransition, Status
from chengzhi.security.cells import safe_row

__all__ = ["ImportFailed", "Problem", "import_requests", "importer_actor"]

# Rows written between flushes that also empty the session, so that memory stays flat on big files.
BATCH_SIZE = 500
# Ids looked up per query when finding rows imported before.
LOOKUP_CHUNK = 500


def importer_actor(city: Unit) -> Actor:
    """The system importer: no user account, operator rights in the whole city (events carry no actor id)."""
    return Actor(
        user_id=None,
        username="import",
        display_name="导入 import",
        grants=(RoleGrant(Role.operator, city.id, city.path),),
    )


@dataclass
class Catalog:
    """What the mapping names in the city: the city itself, its active categories and its units.

    Codes in the mapping's tables are checked at once; codes read from the file itself are looked up as rows
    name them (a miss is remembered as None).
    """

    session: Session
    city: Unit
    categories: dict[str, Category | None] = field(default_factory=dict)
    unit_ids: dict[str, int | None] = field(default_factory=dict)
    # Units in use, held here because the session keeps only weak references to unchanged objects.
    held: dict[int, Unit] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, mapping: MappingSpec, say: Messages) -> Catalog:
        try:
            catalog = cls(session, city_unit(session))
        except NotFound:
            raise ImportFailed([Problem(0, say("no_city"))]) from None
        problems = []
        if missing := sorted(c for c in mapping.category.codes if catalog.category(c) is None):
            problems.append(Problem(0, say("unknown_categories", codes=", ".join(missing))))
        if missing := sorted(c for c in mapping.lead_unit.codes if catalog.unit_id(c) is None):
            problems.append(Problem(0, say("unknown_units", codes=", ".join(missing))))
        if problems:
            raise ImportFailed(problems)
        return catalog

    def category(self, code: str) -> Category | None:
        if code not in self.categories:
            found = find_category(self.session, code)
            self.categories[code] = found if found is not None and found.active else None
        return self.categories[code]

    def unit_id(self, code: str) -> int | None:
        if code not in self.unit_ids:
            self.unit_ids[code] = org_queries.unit_id_of_code(self.session, code)
        return self.unit_ids[code]

    def unit(self, unit_id: int) -> Unit:
        """The unit, attached to the session."""
        if unit_id not in self.held:
            self.held[unit_id] = get_unit(self.session, unit_id)
        return self.held[unit_id]

    def release(self) -> None:
        """Write what is pending and empty the session, so that memory stays flat on big files."""
        self.session.flush()
        self.session.expunge_all()
        self.held.clear()


@dataclass
class _Validation:
    rows: int = 0
    first_row_of: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    invalid: int = 0
    invalid_rows: set[int] = field(default_factory=set)
    # kind -> rows with a problem of that kind, an example message, the first rows
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail(self, problem: Problem) -> None:
        self.invalid += 1
        self.invalid_rows.add(problem.row)
        if len(self.problems) < ImportFailed.MAX_PROBLEMS:
            self.problems.append(problem)
        for kind in dict.fromkeys(problem.kinds or ("other",)):
            seen = self.kinds.setdefault(kind, {"rows": 0, "example": problem.reason, "first_rows": []})
            seen["rows"] += 1
            if len(seen["first_rows"]) < 5:
                seen["first_rows"].append(problem.row)

    def summary(self) -> dict[str, dict[str, Any]]:
        """The problems by kind, the most frequent first."""
        return dict(sorted(self.kinds.items(), key=lambda item: (-item[1]["rows"], item[0])))


class Rejects:
    """The refused rows of an import with `--skip-invalid`: a CSV with the row number, the file's line, the
    reasons and the row's own columns, for correcting and importing again."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.file = path.open("w", newline="", encoding="utf-8-sig")
        self.header = header
        self.writer = csv.writer(self.file)
        self.writer.writerow(safe_row(["row", "line", "reasons", *header]))

    def write(self, record: Record, reasons: str) -> None:
        # Cells that would start a formula get an apostrophe (a spreadsheet opens this file); the importer takes
        # it off when the corrected file is imported again (security.cells.restored_cell).
        values = [as_text(record.values.get(column)) for column in self.header]
        self.writer.writerow(safe_row([record.row, record.line or "", reasons, *values]))

    def close(self) -> None:
        self.file.close()


def _rows(table: Table, parser: RowParser) -> Iterator[tuple[Record, ImportRow | list[str]]]:
    for record in table.records:
        yield record, parser.parse(record)


def _check_codes(row: ImportRow, catalog: Catalog, say: Messages) -> list[str]:
    """The row's category and lead unit exist; the category's questions are answered from the mapped columns."""
    reasons: list[str] = []
    code = row.submission.category_code
    category = catalog.category(code) if code is not None else None
    if code is not None and category is None:
        reasons.append(say.error(NotFound("category_not_found", ref=code)))
    elif category is not None:
        try:
            row.submission.attributes = validate_answers(category, row.attributes)
        except ChengzhiError as exc:
            reasons.append(say.error(exc))
    elif row.attributes:
        question = next(iter(row.attributes))
        reasons.append(
            say.error(Invalid("attribute_invalid", code=question, details="the row has no category"))
        )
    if row.lead_unit_code is not None and catalog.unit_id(row.lead_unit_code) is None:
        reasons.append(say.error(NotFound("unit_not_found", ref=row.lead_unit_code)))
    return reasons


def _validate(
    table: Table, parser: RowParser, catalog: Catalog, say: Messages, rejects: Rejects | None = None
) -> _Validation:
    result = _Validation()
    try:
        for record, parsed in _rows(table, parser):
            result.rows += 1
            reasons = parsed if isinstance(parsed, list) else []
            if isinstance(parsed, ImportRow):
                reasons.extend(_check_codes(parsed, catalog, say))
                other = result.first_row_of.setdefault(parsed.external_id, record.row)
                if other != record.row:
                    reasons.append(say("duplicate_id", value=parsed.external_id, other=other))
            if reasons:
                kinds = tuple(kind_of(r) for r in reasons)
                result.fail(Problem(record.row, "; ".join(reasons), record.line, kinds))
                if rejects is not None:
                    rejects.write(record, "; ".join(reasons))
    except UnreadableRow as unreadable:
        result.fail(unreadable.problem)
        raise ImportFailed(result.problems, result.invalid) from None  # the rest of the file cannot be read
    return result


def _already_imported(session: Session, source: str, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    chunk: list[str] = []

    def lookup() -> None:
        found.update(requests_queries.external_ids_present(session, source, chunk))
        chunk.clear()

    for external_id in ids:
        chunk.append(external_id)
        if len(chunk) >= LOOKUP_CHUNK:
            lookup()
    if chunk:
        lookup()
    return found


def _write(
    session: Session, row: ImportRow, actor: Actor, catalog: Catalog, settings: Settings, say: Messages
) -> None:
    city = catalog.unit(catalog.city.id)
    try:
        request = submit_request(
            session,
            actor,
            row.submission,
            settings,
            now=row.received_at,
            receiving_unit=city,
            check_location=False,
        )
        if row.progress_note:
            noted_at = row.replied_at or row.received_at
            record_outcome(session, actor, request, Status.received, noted_at, reply_text=row.progress_note)
        if row.outcome is not Status.received:
            at = row.outcome_at
            assert at is not None  # the parser refuses a replied or closed row without its time
            lead_id = catalog.unit_id(row.lead_unit_code) if row.lead_unit_code else None
            lead = catalog.unit(lead_id) if lead_id is not None else None
            record_outcome(
                session,
                actor,
                request,
                row.outcome,
                at,
                reply_text=row.reply_text,
                replied_at=row.replied_at,
                lead_unit=lead,
            )
    except ChengzhiError as exc:
        raise ImportFailed([Problem(row.row, say("not_written", details=say.error(exc)))]) from None
    except IllegalTransition as exc:
        raise ImportFailed([Problem(row.row, say("not_written", details=exc))]) from None


def import_requests(
    settings: Settings,
    file: Path,
    mapping: Path | dict[str, Any] | MappingSpec,
    *,
    dry_run: bool = False,
    language: Language | None = None,
    skip_invalid: bool = False,
    rejects: Path | None = None,
) -> dict[str, Any]:
    """Import the historical requests in `file` as `mapping` describes; all rows or none, unless `skip_invalid`.

    Rows imported before (same source and external id) are skipped and counted. Returns a report: rows read,
    imported, skipped, the outcomes of the imported rows, and the time taken. With `skip_invalid`, the valid rows
    are imported and the invalid ones are left out, counted, and written with their reasons to `rejects` (a CSV).
    With `dry_run`, every row is checked and counted as it would be, nothing is written, and the problems are
    summarised by kind instead of raised.
    """
    started = time.perf_counter()
    say = Messages(language or settings.default_language)
    if isinstance(mapping, MappingSpec):
        spec = mapping
    elif isinstance(mapping, dict):
        spec = parse_mapping(mapping, say)
    else:
        spec = load_mapping(mapping, say)
    zone = ZoneInfo(spec.source.timezone or settings.timezone)
    parser = RowParser(spec, zone, utcnow(), say)

    with transaction(get_sessionmaker(settings.database_url)) as session:
        catalog = Catalog.load(session, spec, say)
        with open_table(file, spec, say) as table:
            refused = Rejects(rejects, table.header) if rejects is not None and skip_invalid else None
            try:
                validation = _validate(table, parser, catalog, say, refused)
            finally:
                if refused is not None:
                    refused.close()
        if validation.problems and not (skip_invalid or dry_run):
            raise ImportFailed(validation.problems, validation.invalid)
        existing = _already_imported(session, spec.source.name, validation.first_row_of)
        validated = time.perf_counter()

        actor = importer_actor(catalog.city)
        outcomes: Counter[str] = Counter()
        skipped = written = 0
        with open_table(file, spec, say) as table:
            for record, parsed in _rows(table, parser):
                if record.row in validation.invalid_rows:
                    continue  # refused in the first pass (skip_invalid, or counted by a dry run)
                assert isinstance(parsed, ImportRow)  # the same file, checked above
                if parsed.external_id in existing:
                    skipped += 1
                    continue
                outcomes[parsed.outcome.value] += 1
                if dry_run:
                    continue
                _check_codes(parsed, catalog, say)  # the cleaned answers, as in the first pass
                _write(session, parsed, actor, catalog, settings, say)
                written += 1
                if written % BATCH_SIZE == 0:
                    catalog.release()
        session.flush()
    finished = time.perf_counter()
    return {
        "file": str(file),
        "source": spec.source.name,
        "dry_run": dry_run,
        "rows": validation.rows,
        "imported": written,
        "skipped": skipped,
        "outcomes": {s.value: outcomes[s.value] for s in (Status.received, Status.replied, Status.closed)},
        "invalid": validation.invalid,
        "rejects": str(rejects) if rejects is not None and skip_invalid else None,
        "problems": validation.summary(),
        "seconds": {
            "validate": round(validated - started, 3),
            "write": round(finished - validated, 3),
            "total": round(finished - started, 3),
        },
    }
