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
import re
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
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
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


MODEL_TABLE = Table(
    "credit_regrade_model",
    _TEMP,
    Column("key", String(60), primary_key=True),  # kind|severity|t or f (outcome true or not)
    Column("variant", String(40)),
    Column("dimension", String(40)),
    Column("points", Float),  # points x the dimension's weight
    Column("half_life", Float),  # None: no decay
    Column("cap_rank", Integer),  # index in the grade order of the grade it caps to; 0: none
    prefixes=["TEMPORARY"],
)
M = MODEL_TABLE.c


def _keys(variant: str) -> list[str]:
    """The record keys (kind|severity|outcome) a model variant stands for (as scoring.variant reads a record)."""
    kind, _, sub = variant.partition(":")
    if sub in SEVERITIES:
        return [f"{kind}|{sub}|t", f"{kind}|{sub}|f"]
    if sub in ("pass", "kept"):
        return [f"{kind}||t"]
    if sub in ("fail", "broken"):  # anything but a true outcome
        return [f"{kind}||f"]
    return [f"{kind}||t", f"{kind}||f"]


def _model_rows(model: scoring.Model) -> list[dict[str, Any]]:
    order = [g for g, _ in model.thresholds]
    rows = []
    for dim_name, dim in model.dimensions.items():
        for variant, value in dim.points.items():
            for name in (variant, dim_name):
                if not re.fullmatch(r"[A-Za-z0-9_:.-]+", name):  # embedded in JSON text without escaping
                    raise ValueError(f"model name {name!r}: letters, digits and _ : . - only")
            cap = order.index(model.caps[variant]) if variant in model.caps else 0
            for key in _keys(variant):
                rows.append({"key": key, "variant": variant, "dimension": dim_name,
                             "points": value * dim.weight, "half_life": dim.half_life_days, "cap_rank": cap})  # fmt: skip
    return rows


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
    """The model's per-record expressions over records joined to the model table (`joined`): the variant, its
    dimension, the decay and the rounded delta; every CASE of the model is one hash-join lookup."""

    def __init__(self, model: scoring.Model, dialect: str, on: dt.date) -> None:
        outcome = case((R.outcome == true(), "t"), else_="f")
        record_key = R.kind + literal("|") + func.coalesce(R.severity, "") + literal("|") + outcome
        self.joined = R.__table__.join(MODEL_TABLE, M.key == record_key)
        self.decay = case(
            (M.half_life.is_(None), 1.0),
            else_=func.power(0.5, cast(_age_days(dialect, on), Float) / M.half_life),
        )
        rounded = func.round(cast(M.points * self.decay, Numeric), 2)
        self.delta = cast(rounded, Float)  # summed as floats, as scoring.evaluate does
        self.delta_text = cast(rounded, String)
        self.variant, self.dimension, self.cap_rank = M.variant, M.dimension, M.cap_rank
        self.order = [g for g, _ in model.thresholds]
        self.model = model
        self.rows = _model_rows(model)


def _grade_of(c: Compiled, score: ColumnElement[Any], cap: ColumnElement[Any], dialect: str) -> Any:
    rank = case(
        *((score >= lowest, c.order.index(g)) for g, lowest in c.model.thresholds[:-1]),
        else_=len(c.order) - 1,
    )
    worst = func.greatest(rank, cap) if dialect == "postgresql" else func.max(rank, cap)
    return case(*((worst == i, g) for i, g in enumerate(c.order)), else_=c.order[-1])


def _explanations(c: Compiled, dialect: str, first: int, last: int, on: dt.date) -> Any:
    """Per entity whose grade changed: its explanation as JSON text, built by string concatenation (several times
    cheaper than json_build_object per record on PostgreSQL; the variant and dimension names are checked to need
    no escaping)."""
    item = (
        literal('{"record_id":') + cast(R.id, String)
        + literal(',"variant":"') + c.variant
        + literal('","dimension":"') + c.dimension
        + literal('","delta":') + c.delta_text
        + literal(',"decay":') + cast(func.round(cast(c.decay, Numeric), 4), String)
        + literal("}")
    )  # fmt: skip
    changed = select(SCRATCH.c.entity_id).where(SCRATCH.c.old_grade.is_distinct_from(SCRATCH.c.grade))
    where = and_(R.entity_id.between(first, last), R.entity_id.in_(changed), _counts(on))
    if dialect == "postgresql":
        agg = func.string_agg(item, aggregate_order_by(literal_column("','"), R.decided_on, R.id))
        chosen = select(R.entity_id, agg.label("joined")).select_from(c.joined).where(where)
        return chosen.group_by(R.entity_id).subquery()
    ordered = (
        select(R.entity_id, item.label("item"))
        .select_from(c.joined)
        .where(where)
        .order_by(R.entity_id, R.decided_on, R.id)
    )
    inner = ordered.subquery()
    return (
        select(inner.c.entity_id, func.group_concat(inner.c.item, ",").label("joined"))
        .group_by(inner.c.entity_id)
        .subquery()
    )


def regrade_all(
    session: Session,
    on: dt.date,
    batch: int = 100_000,
    model: scoring.Model | None = None,
    *,
    only: str | None = None,
    skip: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Recompute every entity's score and grade on `on` (only those of the industry `only`, or all but those of
    the industries in `skip`: the ones another model grades). Returns the number of entities, how many scores and
    grades changed, and the entities whose grade moved to or from A (id -> new grade)."""
    chosen = model or scoring.model_from(scoring.DEFAULT_MODEL)
    graded = CreditEntity.industry == only if only is not None else true()
    if skip:
        graded = or_(CreditEntity.industry.is_(None), CreditEntity.industry.not_in(skip))
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":  # aggregate a range of entities in memory rather than spill to disk
        conn.execute(text("SET LOCAL work_mem = '128MB'"))
    SCRATCH.create(conn, checkfirst=True)
    MODEL_TABLE.create(conn, checkfirst=True)
    c = Compiled(chosen, dialect, on)
    conn.execute(delete(MODEL_TABLE))
    conn.execute(insert(MODEL_TABLE), c.rows)
    now = dt.datetime.now(dt.UTC)
    total, changed_scores, after = 0, 0, 0
    grades_changed, regraded = 0, dict[int, str]()
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
        agg: Any = (
            select(
                R.entity_id,
                func.sum(c.delta).label("total"),
                func.max(c.cap_rank).label("cap"),
            )
            .select_from(c.joined)
            .where(R.entity_id.between(first, last), _counts(on))
            .group_by(R.entity_id)
        )
        if only is not None or skip:  # only the entities this model grades
            in_scope = select(CreditEntity.id).where(CreditEntity.id.between(first, last), graded)
            agg = agg.where(R.entity_id.in_(in_scope))
        agg = agg.subquery()
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
            .where(CreditEntity.id.between(first, last), graded)
        )
        conn.execute(insert(SCRATCH).from_select(["entity_id", "score", "grade", "old_grade"], computed))
        if dialect == "postgresql":
            conn.execute(
                text("ANALYZE credit_regrade_scratch")
            )  # a temporary table has no statistics otherwise
        explained = _explanations(c, dialect, first, last, on)
        text_json = literal("[") + func.coalesce(explained.c.joined, literal("")) + literal("]")
        explanation = cast(text_json, JSON) if dialect == "postgresql" else text_json
        history = (
            select(
                SCRATCH.c.entity_id, SCRATCH.c.score, SCRATCH.c.grade, literal(chosen.name), explanation,
                literal(on, Date), literal(now, CreditGrade.computed_at.type),
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
        moved_grade = SCRATCH.c.old_grade.is_distinct_from(SCRATCH.c.grade)
        grades_changed += session.scalar(select(func.count()).select_from(SCRATCH).where(moved_grade)) or 0
        # Only the grades that moved to or from A matter to the lists (the red list): kept, not all of them.
        to_or_from_a = or_(SCRATCH.c.old_grade == "A", SCRATCH.c.grade == "A")
        query = select(SCRATCH.c.entity_id, SCRATCH.c.grade).where(moved_grade, to_or_from_a)
        regraded.update((row[0], row[1]) for row in conn.execute(query))
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
    MODEL_TABLE.drop(conn, checkfirst=True)
    session.expire_all()  # the set-based updates bypassed the identity map
    return {
        "entities": total,
        "scores_changed": changed_scores,
        "grades_changed": grades_changed,
        "to_or_from_a": regraded,
    }
