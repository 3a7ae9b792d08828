"""Red and black lists: inclusion rules at the day before, of and after every limit (pure), the entries kept in
step with records (both databases), and the set-based regrade equal to the rule model entity by entity."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from chengzhi.credit import listing, lists, repair, scoring, service
from chengzhi.credit.models import CreditGrade

from .factories import City
from .test_credit_rules import generated_codes

DAY = dt.timedelta(days=1)


@dataclass
class Rec:
    id: int
    kind: str
    decided_on: dt.date
    severity: str | None = None
    publish_until: dt.date | None = None
    repaired_on: dt.date | None = None
    withdrawn_on: dt.date | None = None


def penalty(id_: int, on: dt.date, severity: str) -> Rec:
    return Rec(id_, "penalty", on, severity, repair.window(on, severity).publish_until)


def rules_on(records: list[Rec], on: dt.date, grade: str | None = "C") -> list[tuple[str, int]]:
    return [(f.rule, f.record_id) for f in lists.listings(list(records), grade, on)]


def test_a_serious_penalty_blacklists_until_its_publication_ends() -> None:
    decided = dt.date(2026, 5, 10)
    rec = penalty(1, decided, "serious")
    end = dt.date(2029, 5, 10)
    assert rec.publish_until == end
    assert rules_on([rec], decided - DAY) == []  # not yet decided
    assert rules_on([rec], decided) == [("serious_penalty", 1)]
    assert rules_on([rec], end - DAY) == [("serious_penalty", 1)]
    assert rules_on([rec], end) == [] and rules_on([rec], end + DAY) == []
    assert lists.listings([rec], "D", decided)[0].publish_until == end
    rec.repaired_on = dt.date(2027, 6, 1)  # repair ends the listing on its day
    assert rules_on([rec], rec.repaired_on - DAY) == [("serious_penalty", 1)]
    assert rules_on([rec], rec.repaired_on) == []
    rec.repaired_on, rec.withdrawn_on = None, dt.date(2026, 6, 1)  # an upheld objection too
    assert rules_on([rec], dt.date(2026, 5, 31)) != [] and rules_on([rec], dt.date(2026, 6, 1)) == []


@pytest.mark.parametrize(
    ("second_on", "listed"),
    [(dt.date(2027, 4, 30), True), (dt.date(2027, 5, 1), False), (dt.date(2027, 5, 2), False)],
)
def test_two_general_penalties_within_twelve_months(second_on: dt.date, listed: bool) -> None:
    first = penalty(1, dt.date(2026, 5, 1), "general")  # 2026 rules: published until 2027-05-01
    second = penalty(2, second_on, "general")
    assert (("repeat_general", 2) in rules_on([first, second], second_on)) is listed
    if listed:  # until the first one's publication ends (both must be published)
        entry = lists.listings([first, second], "C", second_on)[0]
        assert entry.publish_until == first.publish_until == dt.date(2027, 5, 1)
        assert second.publish_until == dt.date(2028, 4, 30)
        assert rules_on([first, second], dt.date(2027, 4, 30)) == [("repeat_general", 2)]
        assert rules_on([first, second], dt.date(2027, 5, 1)) == []


def test_a_court_listing_has_no_end() -> None:
    rec = Rec(7, "dishonesty", dt.date(2020, 1, 1))
    assert lists.listings([rec], "D", dt.date(2040, 1, 1))[0].publish_until is None


def test_red_list_with_grade_a_and_an_honour_of_the_last_two_years() -> None:
    honour = Rec(3, "honour", dt.date(2025, 3, 15))
    end = dt.date(2027, 3, 15)
    assert rules_on([honour], end - DAY, grade="A") == [("honour_grade_a", 3)]
    assert rules_on([honour], end, grade="A") == []
    assert rules_on([honour], end + DAY, grade="A") == []
    assert lists.listings([honour], "A", dt.date(2026, 1, 1))[0].publish_until == end
    assert rules_on([honour], dt.date(2026, 1, 1), grade="B") == []
    minor = penalty(4, dt.date(2026, 5, 10), "minor")  # 2026 rules: published until 2026-08-10
    assert rules_on([honour, minor], dt.date(2026, 8, 9), grade="A") == []
    assert rules_on([honour, minor], dt.date(2026, 8, 10), grade="A") == [("honour_grade_a", 3)]


def test_measures_by_situation_and_purpose() -> None:
    black = lists.measures_for({"black:serious_penalty", "grade:D"}, "subsidy")
    assert {(m.department, m.measure) for m in black} == {("finance", "refuse")}
    licence = lists.measures_for({"black:serious_penalty", "grade:D"}, "licence")
    assert {m.measure for m in licence} == {"strict_review"}
    court = lists.measures_for({"black:court_dishonesty"}, "procurement")
    assert [m.measure for m in court] == ["refuse"]
    assert lists.measures_for({"red:honour_grade_a", "grade:A"}, "licence")[0].measure == "fast_track"


# ------------------------------------------------------------------ with a database

CODES = generated_codes(60, seed=314)
ON = dt.date(2026, 6, 1)


def test_entries_follow_records_repair_and_expiry(session: Session, city: City) -> None:
    entity = service.save_entity(session, service.EntityData(CODES[0], "甲公司"), ON)
    decided = dt.date(2025, 6, 1)
    data = service.RecordData("penalty", "严重违法", "法", decided, severity="serious")
    record = service.add_record(session, entity, data, ON)
    entries = listing.open_entries(session, entity.id)
    assert [(e.list_kind, e.rule, e.record_id, e.listed_on) for e in entries] == [
        ("black", "serious_penalty", record.id, ON)
    ]
    view = service.public_view(session, entity, ON, "en")
    assert view["lists"][0]["list"] == "black" and "serious" in view["lists"][0]["why"]
    service.apply_repair(session, record.id, dt.date(2026, 6, 2), "整改完毕，公开承诺")
    (entry,) = listing.entries_of(session, entity.id)
    assert (entry.removed_on, entry.removed_why) == (dt.date(2026, 6, 2), "repaired")
    assert service.lookup(session, CODES[0], "subsidy", dt.date(2026, 6, 2))["lists"] == []

    other = service.save_entity(session, service.EntityData(CODES[1], "乙公司"), ON)
    general = service.RecordData("penalty", "一般违法", "法", dt.date(2025, 9, 1), severity="general")
    service.add_record(session, other, general, ON)
    again = service.RecordData("penalty", "再次违法", "法", dt.date(2026, 3, 1), severity="general")
    service.add_record(session, other, again, ON)
    (entry,) = listing.open_entries(session, other.id)
    assert (entry.rule, entry.publish_until) == ("repeat_general", dt.date(2026, 9, 1))
    assert listing.expire(session, dt.date(2026, 8, 31)) == 0
    assert listing.expire(session, dt.date(2026, 9, 1)) == 1
    session.refresh(entry)
    assert (entry.removed_on, entry.removed_why) == (dt.date(2026, 9, 1), "expired")
    assert listing.listed_entities(session, "black", dt.date(2026, 9, 1)) == []


def test_an_industry_model_overrides_the_general_one(session: Session, city: City) -> None:
    """The same serious penalty weighs more in the food trade; the other industries keep the general model."""
    day = dt.date(2026, 6, 1)
    scores = {}
    for code, industry in zip(CODES[40:43], ("food", "retail", None), strict=True):
        entity = service.save_entity(session, service.EntityData(code, f"企业{code}", industry=industry), day)
        penalty = service.RecordData("penalty", "t", "b", day, severity="serious")
        service.add_record(session, entity, penalty, day)
        scores[industry] = (entity.score, service.grade_history(session, entity)[-1].model)
    assert scores == {
        "food": (490.0, "food-2026"),
        "retail": (530.0, "general-2026"),
        None: (530.0, "general-2026"),
    }
    assert service.regrade_all(session, day)["scores_changed"] == 0  # the nightly agrees, model by model


def test_set_based_regrade_equals_the_rule_model(session: Session, city: City) -> None:
    rng = random.Random(8)
    kinds = [("licence", None, None), ("inspection", None, True), ("inspection", None, False),
             ("inspection", None, None), ("honour", None, None), ("penalty", "minor", None),
             ("penalty", "general", None), ("penalty", "serious", None), ("commitment", None, True),
             ("commitment", None, False), ("complaint", None, True), ("complaint", None, False),
             ("dishonesty", None, None)]  # fmt: skip
    entities = []
    for i, code in enumerate(CODES[:40]):
        industry = "food" if i % 3 == 0 else ("retail" if i % 3 == 1 else None)  # food: its own model
        entity = service.save_entity(session, service.EntityData(code, f"企业{i}", industry=industry), ON)
        entities.append(entity)
        for _ in range(rng.randrange(0, 8)):
            kind, severity, outcome = rng.choice(kinds)
            if kind == "dishonesty" and rng.random() < 0.7:
                kind = "licence"
            decided = ON - dt.timedelta(days=rng.randrange(0, 1400))
            data = service.RecordData(kind, "t", "b", decided, severity=severity, outcome=outcome)
            record = service.add_record(session, entity, data, ON, regrade=False)
            if kind == "penalty" and rng.random() < 0.2:
                record.repaired_on = decided + dt.timedelta(days=200)
            if rng.random() < 0.05:
                record.withdrawn_on = decided + dt.timedelta(days=10)
    later = ON + dt.timedelta(days=123)
    first = service.regrade_all(session, later, batch=7)
    assert first["entities"] == 40 and first["grades_changed"] == 40
    for entity in entities:
        facts = [service._fact(r, later) for r in service.records_of(session, entity)]
        model = service.MODELS.for_industry(entity.industry)
        expected = scoring.evaluate(model, facts, later)
        assert entity.score == pytest.approx(expected.score, abs=0.011) and entity.grade == expected.grade
        (history,) = session.query(CreditGrade).filter_by(entity_id=entity.id).all()
        assert history.model == ("food-2026" if entity.industry == "food" else "general-2026")
        assert [e["record_id"] for e in history.explanation] == [e["record_id"] for e in expected.explanation]
        for got, want in zip(history.explanation, expected.explanation, strict=True):
            assert got["variant"] == want["variant"] and got["dimension"] == want["dimension"]
            assert float(got["delta"]) == pytest.approx(want["delta"], abs=0.011)
    again = service.regrade_all(session, later, batch=1000)
    assert (again["scores_changed"], again["grades_changed"]) == (0, 0)
    assert session.query(CreditGrade).count() == 40
