"""The rule sets of publication periods (credit/repair.py) checked against what their sources say.

Each reading below is what a source states, written down as figures (the sources are cited, not copied): the
date a rule set took effect, and per class of dishonesty the minimum publication period (repair may be applied
for from then) and the maximum (publication ends automatically), both counted from the date of the penalty
decision. A reading leaves a figure as None where no source reachable from here states it; docs/credit.md says
which figures rest on which source and which are still unverified.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from chengzhi.credit import repair

NOTICE_2019 = "发改办财金〔2019〕527号"
ORDER_58 = "国家发展改革委令第58号"
MEASURES_2026 = "国家发展改革委《信用修复管理办法》"
NEWS_2026 = (
    "https://finance.stockstar.com/IG2025112600020150.shtml",
    "https://www.yuhaojiang.com/redian/1328015.html",
)


@dataclass(frozen=True)
class Reading:
    rule_set: str
    severity: str
    min_months: int | None
    max_months: int | None
    source: str


READINGS = (
    # The notice's sentence on serious dishonesty, quoted by a credit-repair service (0797cx.cn, article 15265,
    # 2019-07-04): from the decision date, at least six months, at most three years, taken down at the maximum.
    Reading("2019", "serious", 6, 36, f"{NOTICE_2019}, via https://www.0797cx.cn/page37?article_id=15265"),
    # A prefecture statistics bureau's publication rules of 2022-04-29 (before Order No. 58), under the notice:
    # serious 6 months to 3 years, general 3 months to 1 year, from the decision date.
    Reading(
        "2019", "serious", 6, 36, "黔东南州统计局, tjj.qdn.gov.cn/tjfw/sxqygs/202204/t20220429_73686150.html"
    ),
    Reading(
        "2019", "general", 3, 12, "黔东南州统计局, tjj.qdn.gov.cn/tjfw/sxqygs/202204/t20220429_73686150.html"
    ),
    # Order No. 58's minimum periods as a 2025 guide to the order tabulates them (3dwhite.cn): general
    # 3 months, serious 1 year. Its maximum periods were not found in any source reachable here.
    Reading("2023", "general", 3, None, f"{ORDER_58}, via http://www.3dwhite.cn/17b1679d2120.html"),
    Reading("2023", "serious", 12, None, f"{ORDER_58}, via http://www.3dwhite.cn/17b1679d2120.html"),
    # Issue 16 states the rules in force from 2026-04-01.
    Reading("2026", "minor", None, 3, "issue 16"),
    Reading("2026", "general", 3, 12, "issue 16"),
    Reading("2026", "serious", 12, 36, "issue 16"),
    # The NDRC's announcement of 2025-11-26 of its Credit Repair Measures (信用修复管理办法, adopted 2025-11-19,
    # in force from 2026-04-01), as two news pages report it: minor dishonesty in principle not published, at
    # most 3 months where a department finds it necessary, repair as soon as the legal duty is fulfilled; general
    # 3 months to 1 year; serious 1 to 3 years; publication ends automatically at the maximum.
    Reading("2026", "minor", 0, 3, f"{MEASURES_2026}, via {NEWS_2026[0]}"),
    Reading("2026", "general", 3, 12, f"{MEASURES_2026}, via {NEWS_2026[0]}"),
    Reading("2026", "serious", 12, 36, f"{MEASURES_2026}, via {NEWS_2026[1]}"),
)

# The date each rule set took effect, where a source states it. Order No. 58: adopted 2023-01-11, published
# 2023-01-13, in force from 2023-05-01 (the order's own promulgation text, as reproduced from www.gov.cn at
# zs531.com/news/325.html and m.sacsnlax.com/zwgk/content/post_1956177.html). The 2026 measures: in force from
# 2026-04-01 (NEWS_2026, both pages).
EFFECTIVE = {"2023": dt.date(2023, 5, 1), "2026": dt.date(2026, 4, 1)}


def _rules(code: str) -> repair.RuleSet:
    return next(r for r in repair.RULE_SETS if r.code == code)


@pytest.mark.parametrize("reading", READINGS, ids=lambda r: f"{r.rule_set}-{r.severity}")
def test_periods_are_the_ones_the_sources_state(reading: Reading) -> None:
    period = _rules(reading.rule_set).periods[reading.severity]
    if reading.min_months is not None:
        assert period.min_months == reading.min_months, reading.source
    if reading.max_months is not None:
        assert period.max_months == reading.max_months, reading.source


@pytest.mark.parametrize(("code", "effective"), sorted(EFFECTIVE.items()))
def test_rule_sets_take_effect_on_the_day_the_sources_state(code: str, effective: dt.date) -> None:
    assert _rules(code).effective == effective
    day = dt.timedelta(days=1)
    assert repair.rule_set_on(effective - day).code != code
    assert repair.rule_set_on(effective).code == code
    assert repair.rule_set_on(effective + day).code == code


def test_the_2019_notice_knows_two_classes_so_minor_is_general() -> None:
    """The notice and the 2022 publication rules name general and serious dishonesty only."""
    periods = _rules("2019").periods
    assert periods["minor"] == periods["general"]


def test_every_reading_names_a_rule_set_that_exists() -> None:
    codes = {r.code for r in repair.RULE_SETS}
    assert {r.rule_set for r in READINGS} <= codes and set(EFFECTIVE) <= codes
