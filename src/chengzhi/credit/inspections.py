"""Random inspections (双随机、一公开): entities drawn per grade and inspectors drawn per task, from a published seed.

Anyone holding the pool, the ratios and the seed reproduces the draw: the pool of each grade is sorted by code,
grades are drawn in the order A, B, C, D from one `random.Random(seed)`, then the inspectors of each task (in the
order of the drawn codes) from the same generator. Pure: nothing here touches the database.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chengzhi.i18n import N_, Text, gettext

# The yearly share of each grade to inspect: the bands of STANDARDS.md (one county's rule) and the defaults chosen.
BANDS: dict[str, tuple[float, float]] = {
    "A": (0.0, 0.05),
    "B": (0.05, 0.20),
    "C": (0.21, 0.60),
    "D": (0.61, 1.0),
}
DEFAULT_RATIOS: dict[str, float] = {"A": 0.05, "B": 0.10, "C": 0.30, "D": 0.70}
UNGRADED = "B"  # an entity not graded yet is drawn with B (the grade of an entity with no records)


DRAW_MESSAGES: dict[str, Text] = {
    "ratio_out_of_band": N_("The ratio %(ratio)s for grade %(grade)s is outside %(low)s..%(high)s."),
    "bad_ratio": N_("Give ratios as GRADE=RATIO, e.g. B=0.2, for the grades A, B, C and D."),
    "too_few_per_task": N_("A task needs at least two inspectors."),
    "too_few_inspectors": N_(
        "Entity %(code)s has only %(count)s inspectors without a conflict; it needs %(needed)s."
    ),
}


class DrawError(ValueError):
    def __init__(self, key: str, **params: object) -> None:
        self.key, self.params = key, params
        super().__init__(f"{key}: {params}")

    def message(self, lang: str) -> str:
        return gettext(lang, DRAW_MESSAGES[self.key], **self.params)


def quota(size: int, ratio: float) -> int:
    """How many of `size` entities to draw: size × ratio rounded half up (exact, no float surprise at .5)."""
    return min(size, math.floor(size * ratio + 0.5 + 1e-9))


def check_ratios(ratios: Mapping[str, float]) -> None:
    for grade, ratio in ratios.items():
        if grade not in BANDS:
            raise DrawError("bad_ratio")
        low, high = BANDS[grade]
        if not low <= ratio <= high:
            raise DrawError("ratio_out_of_band", ratio=ratio, grade=grade, low=low, high=high)


@dataclass(frozen=True)
class Task:
    uscc: str
    grade: str
    inspectors: tuple[str, ...]


def draw(
    pool: Mapping[str, str | None],
    seed: int,
    inspectors: Sequence[str],
    *,
    ratios: Mapping[str, float] | None = None,
    conflicts: Mapping[str, set[str]] | None = None,
    per_task: int = 2,
) -> list[Task]:
    """`pool`: code -> grade. `conflicts`: code -> inspectors to recuse (declared conflicts, last time's
    inspectors). Raises DrawError when a task cannot get `per_task` (at least two) inspectors."""
    chosen_ratios = {**DEFAULT_RATIOS, **(ratios or {})}
    check_ratios(chosen_ratios)
    if per_task < 2:
        raise DrawError("too_few_per_task")
    rng = random.Random(seed)
    by_grade: dict[str, list[str]] = {g: [] for g in BANDS}
    for code, grade in pool.items():
        by_grade[grade or UNGRADED].append(code)
    drawn: list[tuple[str, str]] = []
    for grade in BANDS:
        codes = sorted(by_grade[grade])
        drawn.extend(
            (code, grade) for code in sorted(rng.sample(codes, quota(len(codes), chosen_ratios[grade])))
        )
    roster = sorted(set(inspectors))
    tasks = []
    for code, grade in drawn:
        eligible = [i for i in roster if i not in (conflicts or {}).get(code, set())]
        if len(eligible) < per_task:
            raise DrawError("too_few_inspectors", code=code, count=len(eligible), needed=per_task)
        tasks.append(Task(code, grade, tuple(rng.sample(eligible, per_task))))
    return tasks
