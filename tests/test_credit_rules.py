"""Credit domain, pure parts: code validation, the rule model and the repair periods (no database)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from chengzhi.credit import codes, repair, scoring

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def generated_codes(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        prefix = rng.choice("159") + rng.choice("123") + "".join(rng.choice("0123456789") for _ in range(6))
        org8 = "".join(rng.choice(ALPHABET) for _ in range(8))
        out.append(codes.make_code(prefix, org8))
    return out


def test_generated_codes_are_valid() -> None:
    for code in generated_codes(500):
        assert codes.problem(code) is None, code
    assert codes.problem("91110000600037341L") is None  # stdnum's own example


def test_a_wrong_check_digit_says_so_and_names_the_right_one() -> None:
    for code in generated_codes(200, seed=11):
        wrong = next(c for c in ALPHABET if c != code[-1])
        found = codes.problem(code[:-1] + wrong)
        assert found == ("checksum", {"code": code[:-1] + wrong, "expected": code[-1]})


def test_every_single_character_change_is_caught() -> None:
    code = generated_codes(1, seed=3)[0]
    for i in range(18):
        for c in ALPHABET:
            if c != code[i]:
                assert codes.problem(code[:i] + c + code[i + 1 :]) is not None, (i, c)


def test_a_wrong_organisation_check_digit_is_caught_even_with_a_valid_outer_check() -> None:
    code = generated_codes(1, seed=5)[0]
    org_digit = next(c for c in "0123456789" if c != code[16])
    body = code[:16] + org_digit
    corrupted = body + codes.check_digit(body)  # the outer check digit recomputed: stdnum alone accepts it
    assert codes.problem(corrupted) == ("org_checksum", {"code": corrupted, "expected": code[16]})


@pytest.mark.parametrize(
    ("code", "key"),
    [("9111000060003734", "length"), ("91110000600037341LX", "length"), ("91110000I00037341L", "format"),
     ("A1110000600037341L", "format")],
)  # fmt: skip
def test_length_and_format(code: str, key: str) -> None:
    found = codes.problem(code)
    assert found is not None and found[0] == key


MODEL = scoring.model_from(scoring.DEFAULT_MODEL)
ON = dt.date(2026, 6, 1)


def fact(
    i: int, kind: str, days_ago: int = 0, severity: str | None = None, outcome: bool | None = None
) -> scoring.Fact:
    return scoring.Fact(i, kind, severity, outcome, ON - dt.timedelta(days=days_ago), True)


def test_no_records_is_b() -> None:
    assert scoring.evaluate(MODEL, [], ON) == scoring.Score(650.0, "B", [])


def test_good_history_is_a_and_explained() -> None:
    facts = [fact(1, "licence"), fact(2, "inspection", outcome=True), fact(3, "honour")]
    score = scoring.evaluate(MODEL, facts, ON)
    assert score.grade == "A" and score.score == 705
    assert [(e["record_id"], e["delta"]) for e in score.explanation] == [(1, 10), (2, 15), (3, 30)]


def test_general_penalty_is_c_and_serious_is_d() -> None:
    assert scoring.evaluate(MODEL, [fact(1, "penalty", severity="general")], ON).grade == "C"
    assert scoring.evaluate(MODEL, [fact(1, "penalty", severity="serious")], ON).grade == "D"


def test_dishonesty_caps_at_d_whatever_the_score() -> None:
    facts = [fact(i, "honour") for i in range(10)] + [fact(99, "dishonesty")]
    score = scoring.evaluate(MODEL, facts, ON)
    assert score.score > 671 and score.grade == "D"


def test_decay_halves_at_the_half_life_and_ignores_future_and_uncounted_records() -> None:
    score = scoring.evaluate(MODEL, [fact(1, "penalty", days_ago=730, severity="general")], ON)
    assert score.explanation[0]["delta"] == -30 and score.score == 620
    future = scoring.Fact(2, "honour", None, None, ON + dt.timedelta(days=1), True)
    ended = scoring.Fact(3, "penalty", "serious", None, ON, False)
    assert scoring.evaluate(MODEL, [future, ended], ON).score == 650


def test_broken_commitment_and_failed_inspection_move_down() -> None:
    facts = [fact(1, "commitment", outcome=False), fact(2, "inspection", outcome=False)]
    score = scoring.evaluate(MODEL, facts, ON)
    assert score.score == 560 and score.grade == "C"


# ---------------------------------------------------------------- repair periods

CASES = [
    # (decided_on, severity, rule set, repair from, publication ends)
    (dt.date(2026, 4, 1), "minor", "2026", dt.date(2026, 4, 1), dt.date(2026, 7, 1)),
    (dt.date(2026, 4, 1), "general", "2026", dt.date(2026, 7, 1), dt.date(2027, 4, 1)),
    (dt.date(2026, 4, 1), "serious", "2026", dt.date(2027, 4, 1), dt.date(2029, 4, 1)),
    (dt.date(2026, 3, 31), "general", "2023", dt.date(2026, 6, 30), dt.date(2027, 3, 31)),
    (dt.date(2026, 3, 31), "serious", "2023", dt.date(2027, 3, 31), dt.date(2029, 3, 31)),
    (dt.date(2023, 5, 1), "general", "2023", dt.date(2023, 8, 1), dt.date(2024, 5, 1)),
    (dt.date(2023, 5, 1), "serious", "2023", dt.date(2024, 5, 1), dt.date(2026, 5, 1)),
    (dt.date(2023, 4, 30), "minor", "2019", dt.date(2023, 7, 30), dt.date(2024, 4, 30)),
    (dt.date(2023, 4, 30), "general", "2019", dt.date(2023, 7, 30), dt.date(2024, 4, 30)),
    (dt.date(2023, 4, 30), "serious", "2019", dt.date(2023, 10, 30), dt.date(2026, 4, 30)),
    (dt.date(2023, 1, 1), "general", "2019", dt.date(2023, 4, 1), dt.date(2024, 1, 1)),
    (dt.date(2022, 12, 31), "general", "2019", dt.date(2023, 3, 31), dt.date(2023, 12, 31)),
    (dt.date(2022, 12, 31), "serious", "2019", dt.date(2023, 6, 30), dt.date(2025, 12, 31)),
    (dt.date(2019, 8, 31), "serious", "2019", dt.date(2020, 2, 29), dt.date(2022, 8, 31)),
    (dt.date(2018, 6, 30), "general", "2019", dt.date(2018, 9, 30), dt.date(2019, 6, 30)),
]
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(("decided", "severity", "rules", "start", "end"), CASES)
def test_windows_by_the_rules_of_the_records_date(
    decided: dt.date, severity: str, rules: str, start: dt.date, end: dt.date
) -> None:
    assert repair.window(decided, severity) == repair.Window(rules, start, end)
    # Publication ends automatically at the maximum: the day before is published, the day of and after are not.
    assert repair.published(decided, end, None, end - DAY)
    assert not repair.published(decided, end, None, end)
    assert not repair.published(decided, end, None, end + DAY)
    # Repair opens at the minimum: not the day before, the day of and after yes (while still published).
    if start > decided:
        assert not repair.can_repair(decided, severity, start - DAY)
    assert repair.can_repair(decided, severity, start)
    assert repair.can_repair(decided, severity, start + DAY) == (start + DAY < end)
    assert not repair.can_repair(decided, severity, end)


@pytest.mark.parametrize("decided", [dt.date(2026, 3, 31), dt.date(2023, 5, 1)])
def test_minor_penalties_under_the_2023_rules_are_never_published(decided: dt.date) -> None:
    w = repair.window(decided, "minor")
    assert w.publish_until == decided and not repair.published(decided, w.publish_until, None, decided)


@pytest.mark.parametrize("decided", [dt.date(2023, 4, 30), dt.date(2020, 1, 1)])
def test_minor_penalties_under_the_2019_rules_are_general_ones(decided: dt.date) -> None:
    """The 2019 notice knows two classes (general, serious): a minor penalty is published as a general one."""
    assert repair.window(decided, "minor") == repair.window(decided, "general")
    assert repair.published(decided, repair.window(decided, "minor").publish_until, None, decided)


def test_rule_set_boundaries_and_month_ends() -> None:
    assert repair.rule_set_on(dt.date(2026, 3, 31)).code == "2023"
    assert repair.rule_set_on(dt.date(2026, 4, 1)).code == "2026"
    assert repair.rule_set_on(dt.date(2023, 4, 30)).code == "2019"
    assert repair.rule_set_on(dt.date(2023, 5, 1)).code == "2023"
    assert repair.rule_set_on(dt.date(2023, 5, 2)).code == "2023"
    assert repair.rule_set_on(dt.date(2022, 12, 31)).code == "2019"
    assert repair.rule_set_on(dt.date(2010, 1, 1)).code == "2019"  # older than every set: the earliest
    assert repair.add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert repair.add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)


def test_repair_ends_publication_on_its_day() -> None:
    decided, end = dt.date(2026, 5, 1), dt.date(2027, 5, 1)
    repaired = dt.date(2026, 9, 1)
    assert repair.published(decided, end, repaired, repaired - DAY)
    assert not repair.published(decided, end, repaired, repaired)
