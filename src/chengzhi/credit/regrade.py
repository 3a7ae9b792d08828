"""The full regrade, set-based: the rule model of `scoring.py` translated into SQL, run by ranges of entities.

For each range: one INSERT ... SELECT computes every entity's score and grade into a temporary table (the
records' points, weights, half-lives and caps become CASE expressions generated from the model, the decay is
`power(0.5, age / half-life)`, each delta rounded to 0.01 as `scoring.evaluate` does); one INSERT ... SELECT
writes a history row with its explanation (built in SQL as JSON) for every entity whose grade changed; one
UPDATE ... FROM moves the scores and grades that changed. Nothing is evaluated row by row in Python. The same
statements run on PostgreSQL and SQLite (3.35+: `power`); only the date arithmetic and the JSON aggregate differ.
Tests check that the result equals `scoring.evaluate` entity by entity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from chengzhi.credit import scoring
from chengzhi.credit.models import SEVERITIES, CreditEntity, CreditGrade, CreditRecord

_TEMP = MetaData()  # not the application's metadata: migrations never see it
SCRATCH = Table(
    "credit_regrade_scratch",
    _TEMP,
    Column("entity_id", Integer, primary_key=True),
    Column("score", Float),
    Column("grade", String(1)),
    Column("old_grade", String(1)),
    prefixes=["TEMPORARY"],
)

R = CreditRecord


def _matches(variant: str) -> ColumnElement[bool]:
    """The SQL condition for a record variant of the model ("penalty:serious", "inspection:pass", "honour")."""
    kind, _, sub = variant.partition(":")
    condition: ColumnElement[bool] = R.kind == kind
    if sub in SEVERITIES:
        return and_(condition, R.severity == sub)
    if sub in ("pass", "kept"):
        return and_(condition, R.outcome == true())
    if sub in ("fail", "broken"):  # scoring.variant: anything but a true outcome
        return and_(condition, or_(R.outcome.is_(None), R.outcome == false()))
    return condition


def _counts(on: dt.date) -> ColumnElement[bool]:
    """scoring.Fact.counts and the decision date, in SQL (service._fact)."""
    return and_(
        R.decided_on <= on,
        or_(R.withdrawn_on.is_(None), R.withdrawn_on > on),
        or_(
            R.kind != "penalty",
            and_(
                or_(R.repaired_on.is_(None), R.repaired_on > on),
                or_(R.publish_until.is_(None), R.publish_until > on),
            ),
        ),
        or_(R.kind != "complaint", R.outcome.is_(None), R.outcome == true()),
    )


def _age_days(dialect: str, on: dt.date) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(literal(on, Date) - R.decided_on, Integer)  # date - date is a number of days
    return func.julianday(literal(on.isoformat())) - func.julianday(R.decided_on)


class Compiled:
    """The model's per-record expressions: which variant, its dimension, the decayed and rounded delta."""

    def __init__(self, model: scoring.Model, dialect: str, on: dt.date) -> None:
        points, half_lives, variants, dimensions = [], [], [], []
        for dim_name, dim in model.dimensions.items():
            for variant, value in dim.points.items():
                when = _matches(variant)
                points.append((when, value * dim.weight))
                half_lives.append((when, dim.half_life_days if dim.half_life_days else null()))
                variants.append((when, variant))
                dimensions.append((when, dim_name))
        self.known = or_(*(w for w, _ in variants))
        half_life = case(*half_lives, else_=null())
        decay = case(
            (half_life.is_(None), 1.0),
            else_=func.power(0.5, cast(_age_days(dialect, on), Float) / half_life),
        )
        self.decay = decay
        self.delta = func.round(cast(case(*points, else_=0.0) * decay, Numeric), 2)
        self.variant = case(*variants, else_=null())
        self.dimension = case(*dimensions, else_=null())
        order = [g for g, _ in model.thresholds]
        self.cap_rank = case(*((_matches(v), order.index(g)) for v, g in model.caps.items()), else_=0)
        self.order = order
        self.model = model


def _grade_of(c: Compiled, score: ColumnElement[Any], cap: ColumnElement[Any], dialect: str) -> Any:
    rank = case(
        *((score >= lowest, c.order.index(g)) for g, lowest in c.model.thresholds[:-1]),
        else_=len(c.order) - 1,
    )
    worst = func.greatest(rank, cap) if dialect == "postgresql" else func.max(rank, cap)
    return case(*((worst == i, g) for i, g in enumerate(c.order)), else_=c.order[-1])


def _explanations(c: Compiled, dialect: str, first: int, last: int, on: dt.date) -> Any:
    item = (
        func.json_build_object if dialect == "postgresql" else func.json_object
    )(
        "record_id", R.id, "variant", c.variant, "dimension", c.dimension,
        "delta", c.delta, "decay", func.round(cast(c.decay, Numeric), 4),
    )  # fmt: skip
    changed = select(SCRATCH.c.entity_id).where(SCRATCH.c.old_grade.is_distinct_from(SCRATCH.c.grade))
    where = and_(R.entity_id.between(first, last), R.entity_id.in_(changed), _counts(on), c.known)
    if dialect == "postgresql":
        agg = func.json_agg(aggregate_order_by(item, R.decided_on, R.id))
        return select(R.entity_id, agg.label("explanation")).where(where).group_by(R.entity_id).subquery()
    ordered = select(R.entity_id, item.label("item")).where(where).order_by(R.entity_id, R.decided_on, R.id)
    inner = ordered.subquery()
    return (
        select(inner.c.entity_id, func.json_group_array(func.json(inner.c.item)).label("explanation"))
        .group_by(inner.c.entity_id)
        .subquery()
    )


def regrade_all(
    session: Session, on: dt.date, batch: int = 100_000, model: scoring.Model | None = None
) -> dict[str, Any]:
    """Recompute every entity's score and grade on `on`. Returns the number of entities, how many scores and
    grades changed, and (id, old grade, new grade) of each entity whose grade changed."""
    chosen = model or scoring.model_from(scoring.DEFAULT_MODEL)
    conn = session.connection()
    dialect = conn.dialect.name
    SCRATCH.create(conn, checkfirst=True)
    c = Compiled(chosen, dialect, on)
    now = dt.datetime.now(dt.UTC)
    total, changed_scores, after = 0, 0, 0
    regraded: list[tuple[int, str | None, str]] = []
    while True:
        last = session.scalar(
            select(CreditEntity.id)
            .where(CreditEntity.id > after)
            .order_by(CreditEntity.id)
            .offset(batch - 1)
            .limit(1)
        ) or session.scalar(select(func.max(CreditEntity.id)).where(CreditEntity.id > after))
        if last is None:
            break
        first = after + 1
        conn.execute(delete(SCRATCH))
        agg = (
            select(
                R.entity_id,
                func.sum(c.delta).label("total"),
                func.max(c.cap_rank).label("cap"),
            )
            .where(R.entity_id.between(first, last), _counts(on), c.known)
            .group_by(R.entity_id)
            .subquery()
        )
        score = cast(literal(chosen.base) + func.coalesce(agg.c.total, 0), Float)
        cap = func.coalesce(agg.c.cap, 0)
        computed = (
            select(
                CreditEntity.id,
                func.round(cast(score, Numeric), 2),
                _grade_of(c, score, cap, dialect),
                CreditEntity.grade,
            )
            .select_from(CreditEntity)
            .outerjoin(agg, agg.c.entity_id == CreditEntity.id)
            .where(CreditEntity.id.between(first, last))
        )
        conn.execute(insert(SCRATCH).from_select(["entity_id", "score", "grade", "old_grade"], computed))
        explained = _explanations(c, dialect, first, last, on)
        empty = cast(literal("[]"), JSON) if dialect == "postgresql" else literal_column("'[]'")
        history = (
            select(
                SCRATCH.c.entity_id, SCRATCH.c.score, SCRATCH.c.grade, literal(chosen.name),
                func.coalesce(explained.c.explanation, empty), literal(on, Date), literal(now, CreditGrade.computed_at.type),
            )
            .select_from(SCRATCH)
            .outerjoin(explained, explained.c.entity_id == SCRATCH.c.entity_id)
            .where(SCRATCH.c.old_grade.is_distinct_from(SCRATCH.c.grade))
        )  # fmt: skip
        conn.execute(
            insert(CreditGrade).from_select(
                ["entity_id", "score", "grade", "model", "explanation", "computed_on", "computed_at"], history
            )
        )
        regraded += [
            (row[0], row[1], row[2])
            for row in conn.execute(
                select(SCRATCH.c.entity_id, SCRATCH.c.old_grade, SCRATCH.c.grade).where(
                    SCRATCH.c.old_grade.is_distinct_from(SCRATCH.c.grade)
                )
            )
        ]
        moved = conn.execute(
            update(CreditEntity)
            .where(
                CreditEntity.id == SCRATCH.c.entity_id,
                or_(
                    CreditEntity.score.is_distinct_from(SCRATCH.c.score),
                    CreditEntity.grade.is_distinct_from(SCRATCH.c.grade),
                ),
            )
            .values(score=SCRATCH.c.score, grade=SCRATCH.c.grade, graded_at=now)
            .execution_options(synchronize_session=False)
        )
        changed_scores += int(moved.rowcount or 0)
        total += session.scalar(select(func.count()).select_from(SCRATCH)) or 0
        after = last
    SCRATCH.drop(conn, checkfirst=True)
    session.expire_all()  # the set-based updates bypassed the identity map
    return {
        "entities": total,
        "scores_changed": changed_scores,
        "grades_changed": len(regraded),
        "regraded": regraded,
    }
