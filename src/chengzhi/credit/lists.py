"""Red and black lists (守信激励 / 失信惩戒) and the joint measures (联合奖惩) departments apply: data and pure rules.

An inclusion rule says which records put an entity on a list and until when (the list's publication period);
`listings` applies every rule to an entity's records as they stand on a day. The joint measures say, for each
situation (a list entry by its rule, or a grade), which department applies which measure for which purpose. The
service keeps `credit_list_entries` in step with `listings` and answers the lookup from both. Pure: nothing here
touches the database. Sources and assumptions: docs/credit.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from chengzhi.credit import repair
from chengzhi.i18n import N_, Text


@dataclass(frozen=True)
class ListRule:
    code: str
    list_kind: str  # "red" or "black"
    name: Text
    basis: str  # what the rule rests on


LIST_RULES: dict[str, ListRule] = {
    rule.code: rule
    for rule in (
        ListRule(
            "court_dishonesty",
            "black",
            N_("listed by a court as a dishonest judgment debtor"),
            "最高人民法院关于公布失信被执行人名单信息的若干规定",
        ),
        ListRule(
            "serious_penalty",
            "black",
            N_("an administrative penalty for serious dishonesty, while it is published"),
            "《行政处罚法》; publication periods of the rule set of the penalty's date",
        ),
        ListRule(
            "repeat_general",
            "black",
            N_("two penalties for general dishonesty within twelve months, while both are published"),
            "city rule (configurable): repeated general dishonesty",
        ),
        ListRule(
            "honour_grade_a",
            "red",
            N_("grade A with an honour of the last two years and no published penalty"),
            "city rule (configurable): 守信激励",
        ),
    )
}
RED_HONOUR_MONTHS = 24  # an honour keeps its entity on the red list this long (with grade A, no penalty)
REPEAT_MONTHS = 12  # a second general penalty decided before the first + 12 months: the black list


class RecordLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def severity(self) -> str | None: ...
    @property
    def decided_on(self) -> dt.date: ...
    @property
    def publish_until(self) -> dt.date | None: ...
    @property
    def repaired_on(self) -> dt.date | None: ...
    @property
    def withdrawn_on(self) -> dt.date | None: ...


@dataclass(frozen=True)
class Listing:
    list_kind: str
    rule: str
    record_id: int
    publish_until: dt.date | None  # first day no longer published (None: until removed)


def in_force(record: RecordLike, on: dt.date) -> bool:
    """Decided by `on` and not withdrawn; a penalty also published (not past its maximum, not repaired)."""
    if record.decided_on > on or (record.withdrawn_on is not None and record.withdrawn_on <= on):
        return False
    if record.kind == "penalty":
        return repair.published(record.decided_on, record.publish_until, record.repaired_on, on)
    return True


def _end(record: RecordLike) -> dt.date | None:
    if record.repaired_on is not None:
        return min(record.repaired_on, record.publish_until or record.repaired_on)
    return record.publish_until


def listings(records: list[RecordLike], grade: str | None, on: dt.date) -> list[Listing]:
    """Every list entry the entity's records justify on `on`, by rule (sorted by rule, then record)."""
    live = sorted((r for r in records if in_force(r, on)), key=lambda r: (r.decided_on, r.id))
    found: list[Listing] = []
    generals = [r for r in live if r.kind == "penalty" and r.severity == "general"]
    for r in live:
        if r.kind == "dishonesty":
            found.append(Listing("black", "court_dishonesty", r.id, None))
        elif r.kind == "penalty" and r.severity == "serious":
            found.append(Listing("black", "serious_penalty", r.id, _end(r)))
    for later in generals:
        earlier = [
            g
            for g in generals
            if g.id != later.id
            and (g.decided_on, g.id) < (later.decided_on, later.id)
            and later.decided_on < repair.add_months(g.decided_on, REPEAT_MONTHS)
        ]
        if earlier:
            ends = [e for e in (_end(later), _end(earlier[-1])) if e is not None]
            found.append(Listing("black", "repeat_general", later.id, min(ends) if ends else None))
    black = bool(found)
    penalised = any(r.kind == "penalty" for r in live)
    if grade == "A" and not black and not penalised:
        honours = [
            r for r in live if r.kind == "honour" and on < repair.add_months(r.decided_on, RED_HONOUR_MONTHS)
        ]
        if honours:
            latest = honours[-1]
            until = repair.add_months(latest.decided_on, RED_HONOUR_MONTHS)
            found.append(Listing("red", "honour_grade_a", latest.id, until))
    return sorted(found, key=lambda f: (f.rule, f.record_id))


@dataclass(frozen=True)
class Measure:
    situation: str  # "black:<rule>", "red:<rule>" or "grade:<G>"
    department: str  # who applies it (a key of DEPARTMENTS)
    purposes: tuple[str, ...]  # the lookups it answers ("*": any)
    measure: str  # refuse, strict_review, closer_review, more_inspections, fast_track, priority
    what: Text


DEPARTMENTS: dict[str, Text] = {
    "approval": N_("Administrative approval"),
    "finance": N_("Finance"),
    "procurement": N_("Public procurement"),
    "market": N_("Market regulation"),
    "any": N_("Every department"),
}
PURPOSES = ("licence", "subsidy", "procurement", "other")

# Joint measures (联合奖惩), as data: a city changes them here (or, later, in settings).
JOINT_MEASURES: tuple[Measure, ...] = (
    Measure("black:court_dishonesty", "any", ("*",), "refuse",
            N_("No licence, subsidy or public contract while listed by a court.")),
    Measure("black:serious_penalty", "finance", ("subsidy",), "refuse",
            N_("No subsidy while on the black list.")),
    Measure("black:serious_penalty", "procurement", ("procurement",), "refuse",
            N_("Excluded from public procurement while on the black list.")),
    Measure("black:serious_penalty", "approval", ("licence",), "strict_review",
            N_("Licence applications reviewed in full, no acceptance with documents to follow.")),
    Measure("black:repeat_general", "approval", ("licence", "subsidy"), "strict_review",
            N_("Reviewed in full: repeated general dishonesty.")),
    Measure("black:repeat_general", "market", ("other", "licence"), "more_inspections",
            N_("Inspected more often (grade D ratio) while listed.")),
    Measure("grade:D", "finance", ("subsidy",), "refuse", N_("No subsidy at credit grade D.")),
    Measure("grade:D", "approval", ("licence",), "strict_review", N_("Reviewed in full at credit grade D.")),
    Measure("grade:C", "any", ("*",), "closer_review", N_("Closer review at credit grade C.")),
    Measure("grade:A", "approval", ("licence",), "fast_track",
            N_("Accepted with documents to follow (容缺受理) at credit grade A.")),
    Measure("red:honour_grade_a", "approval", ("licence",), "fast_track",
            N_("Green channel for applications while on the red list.")),
    Measure("red:honour_grade_a", "finance", ("subsidy",), "priority",
            N_("Priority for subsidies while on the red list.")),
    Measure("red:honour_grade_a", "market", ("other", "licence"), "fewer_inspections",
            N_("Inspected less often (grade A ratio) while on the red list.")),
)  # fmt: skip


def measures_for(situations: set[str], purpose: str) -> list[Measure]:
    return [
        m
        for m in JOINT_MEASURES
        if m.situation in situations and ("*" in m.purposes or purpose in m.purposes)
    ]
