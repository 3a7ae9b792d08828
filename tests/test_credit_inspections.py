"""Random inspections: quotas per grade exact, draws reproducible from the seed, inspectors with recusal."""

from __future__ import annotations

import pytest

from chengzhi.credit import inspections

from .test_credit_rules import generated_codes

CODES = generated_codes(400, seed=99)
GRADES = "AAAABBBBBBCCCD"  # a pool with every grade, uneven
POOL = {code: GRADES[i % len(GRADES)] for i, code in enumerate(CODES)}
ROSTER = [f"inspector{i}" for i in range(8)]


def test_quotas_are_exact_per_grade() -> None:
    tasks = inspections.draw(POOL, seed=20261206, inspectors=ROSTER)
    sizes = {g: sum(1 for v in POOL.values() if v == g) for g in "ABCD"}
    for grade, ratio in inspections.DEFAULT_RATIOS.items():
        expected = int(sizes[grade] * ratio + 0.5)
        assert sum(1 for t in tasks if t.grade == grade) == expected, grade
    assert (
        inspections.quota(10, 0.05) == 1
        and inspections.quota(9, 0.05) == 0
        and inspections.quota(30, 0.7) == 21
    )


def test_the_draw_is_reproducible_from_the_seed_and_independent_of_order() -> None:
    first = inspections.draw(POOL, seed=42, inspectors=ROSTER)
    shuffled = dict(reversed(list(POOL.items())))
    assert inspections.draw(shuffled, seed=42, inspectors=list(reversed(ROSTER))) == first
    assert inspections.draw(POOL, seed=43, inspectors=ROSTER) != first


def test_two_inspectors_per_task_with_recusal() -> None:
    conflicts = {code: {"inspector0", "inspector1", "inspector2"} for code in CODES}
    tasks = inspections.draw(POOL, seed=7, inspectors=ROSTER, conflicts=conflicts)
    for task in tasks:
        assert len(set(task.inspectors)) == 2
        assert not set(task.inspectors) & conflicts[task.uscc]
    with pytest.raises(inspections.DrawError):
        inspections.draw(POOL, seed=7, inspectors=ROSTER[:4], conflicts=conflicts)
    with pytest.raises(inspections.DrawError):
        inspections.draw(POOL, seed=7, inspectors=ROSTER, per_task=1)


def test_ratios_outside_their_band_are_refused_and_ungraded_count_as_b() -> None:
    with pytest.raises(inspections.DrawError):
        inspections.draw(POOL, seed=1, inspectors=ROSTER, ratios={"A": 0.1})
    tasks = inspections.draw({c: None for c in CODES[:50]}, seed=1, inspectors=ROSTER, ratios={"B": 0.2})
    assert len(tasks) == 10 and {t.grade for t in tasks} == {"B"}
