"""credit: publication periods of the 2019 and 2023 rule sets corrected against their sources

The 2019 notice (发改办财金〔2019〕527号) sets 3 months to 1 year for general and 6 months to 3 years for serious
dishonesty (two classes: a minor penalty is a general one); NDRC Order No. 58 took effect on 2023-05-01, not
2023-01-01. Penalty records keep the rule set they were judged by, so their `rule_set` and `publish_until` are
recomputed here; the open black-list entries built on a record whose end moved follow it. No schema change.
Downgrading puts the records back by the former periods (list entries stay as they are).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 03:30:00
"""

import calendar
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (code, in force from, {severity: (min months, max months)}): a copy of credit/repair.py at this revision.
NEW = (
    ("2019", dt.date(2019, 5, 1), {"minor": (3, 12), "general": (3, 12), "serious": (6, 36)}),
    ("2023", dt.date(2023, 5, 1), {"minor": (0, 0), "general": (3, 12), "serious": (12, 36)}),
    ("2026", dt.date(2026, 4, 1), {"minor": (0, 3), "general": (3, 12), "serious": (12, 36)}),
)
OLD = (
    ("2019", dt.date(2019, 5, 1), {"minor": (0, 0), "general": (3, 36), "serious": (12, 36)}),
    ("2023", dt.date(2023, 1, 1), {"minor": (0, 0), "general": (3, 12), "serious": (12, 36)}),
    ("2026", dt.date(2026, 4, 1), {"minor": (0, 3), "general": (3, 12), "serious": (12, 36)}),
)
REPEAT_MONTHS = 12  # credit/lists.py: a second general penalty within 12 months of an earlier one
BATCH = 10_000


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _day(value: Any) -> dt.date:
    day = _as_date(value)
    assert day is not None
    return day


def _window(rules: Sequence[Any], decided: dt.date, severity: str) -> tuple[str, dt.date]:
    code, _, periods = rules[0]
    chosen = (code, periods)
    for code, effective, periods in rules:
        if effective <= decided:
            chosen = (code, periods)
    return chosen[0], _add_months(decided, chosen[1][severity][1])


records = sa.table(
    "credit_records",
    sa.column("id", sa.Integer),
    sa.column("entity_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("severity", sa.String),
    sa.column("decided_on", sa.Date),
    sa.column("rule_set", sa.String),
    sa.column("publish_until", sa.Date),
    sa.column("repaired_on", sa.Date),
    sa.column("withdrawn_on", sa.Date),
)
entries = sa.table(
    "credit_list_entries",
    sa.column("id", sa.Integer),
    sa.column("entity_id", sa.Integer),
    sa.column("rule", sa.String),
    sa.column("record_id", sa.Integer),
    sa.column("publish_until", sa.Date),
    sa.column("removed_on", sa.Date),
)


def _recompute(rules: Sequence[Any]) -> set[int]:
    """Penalties judged before the 2026 rules get the window of `rules`; returns the entities that changed."""
    conn = op.get_bind()
    touched: set[int] = set()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(records.c.id, records.c.entity_id, records.c.severity, records.c.decided_on,
                      records.c.rule_set, records.c.publish_until)
            .where(records.c.kind == "penalty", records.c.severity.is_not(None), records.c.id > last,
                   records.c.decided_on < dt.date(2026, 4, 1))
            .order_by(records.c.id)
            .limit(BATCH)
        ).all()  # fmt: skip
        if not rows:
            return touched
        last = rows[-1].id
        changed = []
        for r in rows:
            code, until = _window(rules, _day(r.decided_on), r.severity)
            if (code, until) != (r.rule_set, _as_date(r.publish_until)):
                changed.append({"rid": r.id, "rule_set": code, "publish_until": until})
                touched.add(r.entity_id)
        if changed:
            conn.execute(
                records.update()
                .where(records.c.id == sa.bindparam("rid"))
                .values(rule_set=sa.bindparam("rule_set"), publish_until=sa.bindparam("publish_until")),
                changed,
            )


def _end(r: Any) -> dt.date | None:
    until, repaired = _as_date(r.publish_until), _as_date(r.repaired_on)
    if repaired is not None:
        return min(repaired, until or repaired)
    return until


def _follow_entries(entity_ids: set[int]) -> None:
    """Open black-list entries of the changed entities end with their records, as credit/lists.py computes."""
    conn = op.get_bind()
    ids = sorted(entity_ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        penalties: dict[int, Any] = {
            r.id: r
            for r in conn.execute(
                sa.select(records).where(records.c.entity_id.in_(chunk), records.c.kind == "penalty")
            )
        }
        open_entries = conn.execute(
            sa.select(entries.c.id, entries.c.entity_id, entries.c.rule, entries.c.record_id)
            .where(entries.c.entity_id.in_(chunk), entries.c.removed_on.is_(None),
                   entries.c.rule.in_(["serious_penalty", "repeat_general"]))
        ).all()  # fmt: skip
        for entry in open_entries:
            record = penalties.get(entry.record_id)
            if record is None:
                continue
            ends = [_end(record)]
            if entry.rule == "repeat_general":
                earlier = sorted(
                    (g for g in penalties.values()
                     if g.entity_id == entry.entity_id and g.severity == "general" and g.withdrawn_on is None
                     and (g.decided_on, g.id) < (record.decided_on, record.id)
                     and _day(record.decided_on) < _add_months(_day(g.decided_on), REPEAT_MONTHS)),
                    key=lambda g: (g.decided_on, g.id),
                )  # fmt: skip
                if earlier:
                    ends.append(_end(earlier[-1]))
            known = [e for e in ends if e is not None]
            conn.execute(
                entries.update()
                .where(entries.c.id == entry.id)
                .values(publish_until=min(known) if known else None)
            )


def upgrade() -> None:
    _follow_entries(_recompute(NEW))


def downgrade() -> None:
    _recompute(OLD)
