"""Quality checks of a table and of a dataset: missing values, duplicate rows, values not of their column's type,
freshness against the declared update frequency, and personal data (resident ID-card numbers with a valid check
digit, mobile phone numbers, and names next to them), which blocks publication without conditions until masked.

The score is 100 minus the penalties below, each finding explained on the dataset's page; no personal value found
is stored or logged, only the column and how many.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stdnum.cn import ric

from chengzhi.i18n import N_
from chengzhi.opendata.vocab import STALE_AFTER_DAYS

ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
NAME_HEADERS = ("姓名", "名字", "联系人", "申请人", "name", "contact")

# Penalties (points out of 100).
PENALTY_MISSING = 20.0  # times the share of empty cells
PENALTY_DUPLICATES = 20.0  # times the share of duplicate rows
PENALTY_SCHEMA = 30.0  # times the share of cells that did not fit their column's type
PENALTY_STALE = 15.0
PENALTY_PERSONAL = 30.0

EXPLAIN = {
    "missing": N_("%(share)s of the cells are empty."),
    "duplicates": N_("%(count)s rows repeat another row."),
    "schema": N_("%(count)s values do not fit their column's type and were left empty."),
    "stale": N_("Last updated %(days)s days ago, later than its update frequency allows."),
    "personal_data": N_(
        "Personal data found (%(what)s): masked copies only, and no unconditional publication."
    ),
}


def is_id_card(value: str) -> bool:
    return bool(ric.is_valid(value))


def mask_id_card(value: str) -> str:
    return value[:6] + "*" * 8 + value[14:]


def mask_mobile(value: str) -> str:
    digits = re.sub(r"\D", "", value)[-11:]
    return digits[:3] + "****" + digits[7:]


def find_personal(text: str) -> set[str]:
    """The kinds of personal data in one cell: "id_card" (with a valid check digit), "mobile"."""
    kinds: set[str] = set()
    if len(text) < 11:
        return kinds
    if any(is_id_card(m.group(0)) for m in ID_CARD_RE.finditer(text)):
        kinds.add("id_card")
    if MOBILE_RE.search(text):
        kinds.add("mobile")
    return kinds


def mask_text(text: str) -> str:
    def _id(match: re.Match[str]) -> str:
        value = match.group(0)
        return mask_id_card(value) if is_id_card(value) else value

    text = ID_CARD_RE.sub(_id, text)
    return MOBILE_RE.sub(lambda m: mask_mobile(m.group(0)), text)


def is_name_header(header: str) -> bool:
    lowered = header.lower()
    return any(h in lowered for h in NAME_HEADERS)


@dataclass
class TableScan:
    """What a pass over a table's cells found, column by column."""

    headers: list[str]
    rows: int = 0
    empty: list[int] = field(default_factory=list)
    schema_errors: list[int] = field(default_factory=list)
    personal: list[dict[str, int]] = field(default_factory=list)
    duplicates: int = 0
    masked: bool = False

    def __post_init__(self) -> None:
        n = len(self.headers)
        self.empty = self.empty or [0] * n
        self.schema_errors = self.schema_errors or [0] * n
        self.personal = self.personal or [{} for _ in range(n)]

    def see_personal(self, column: int, text: str) -> None:
        for kind in find_personal(text):
            self.personal[column][kind] = self.personal[column].get(kind, 0) + 1

    def personal_findings(self) -> list[dict[str, Any]]:
        """Columns holding personal data, and name columns in a table that holds some."""
        found = [
            {"field": self.headers[i], "kind": kind, "count": count}
            for i, kinds in enumerate(self.personal)
            for kind, count in sorted(kinds.items())
        ]
        if found:
            found += [
                {"field": h, "kind": "name", "count": self.rows - self.empty[i]}
                for i, h in enumerate(self.headers)
                if is_name_header(h) and self.rows - self.empty[i] > 0
            ]
        return found


def table_quality(scan: TableScan) -> dict[str, Any]:
    """The quality record of a table resource (stored on the resource)."""
    cells = max(scan.rows * max(len(scan.headers), 1), 1)
    findings: list[dict[str, Any]] = []
    score = 100.0
    empty = sum(scan.empty)
    if empty:
        share = empty / cells
        score -= PENALTY_MISSING * share
        findings.append(
            {"check": "missing", "share": f"{share:.1%}", "columns": _by_column(scan.headers, scan.empty)}
        )
    if scan.duplicates:
        score -= PENALTY_DUPLICATES * scan.duplicates / max(scan.rows, 1)
        findings.append({"check": "duplicates", "count": scan.duplicates})
    errors = sum(scan.schema_errors)
    if errors:
        score -= PENALTY_SCHEMA * errors / cells
        findings.append(
            {"check": "schema", "count": errors, "columns": _by_column(scan.headers, scan.schema_errors)}
        )
    personal = [] if scan.masked else scan.personal_findings()
    if personal:
        score -= PENALTY_PERSONAL
        what = ", ".join(sorted({f"{p['field']}: {p['kind']}" for p in personal}))
        findings.append({"check": "personal_data", "what": what})
    return {
        "score": round(max(score, 0.0), 1),
        "rows": scan.rows,
        "findings": findings,
        "personal_data": personal,
        "masked": scan.masked,
    }


def _by_column(headers: Sequence[str], counts: Sequence[int]) -> dict[str, int]:
    return {h: n for h, n in zip(headers, counts, strict=True) if n}


def dataset_quality(
    resource_qualities: Iterable[dict[str, Any]], frequency: str, modified_at: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    """The dataset's score: the mean of its tables' scores (100 without tables), less the staleness penalty."""
    qualities = [q for q in resource_qualities if q]
    scores = [float(q.get("score", 100.0)) for q in qualities]
    score = sum(scores) / len(scores) if scores else 100.0
    findings = [f for q in qualities for f in q.get("findings", [])]
    limit = STALE_AFTER_DAYS.get(frequency)
    age = (now - modified_at).days
    if limit is not None and age > limit:
        score -= PENALTY_STALE
        findings.append({"check": "stale", "days": age})
    return {"score": round(max(score, 0.0), 1), "findings": findings, "checked_at": now.isoformat()}
