"""The demo city's request texts read like a real city's (docs/demo.md, "Texts"): many phrasings per problem, none
dominating, slips, mixed topics, vague messages, questions among complaints, short and long messages, addresses
written in several ways; the same seed gives the same words."""

from __future__ import annotations

import datetime as dt
import random
import statistics
import string
from collections import Counter
from zoneinfo import ZoneInfo

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, transaction
from chengzhi.demo import texts, voice
from chengzhi.demo import texts_voice as tv
from chengzhi.demo.city import Community, build_city
from chengzhi.demo.plans import Plan, make_plans, prepare, template_slots
from chengzhi.migrate import upgrade
from chengzhi.org.models import Unit, UnitKind

NOW = dt.datetime(2026, 11, 20, 4, 30, tzinfo=dt.UTC)
N = 1200


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _plans(settings: Settings, seed: int = 7) -> list[Plan]:
    """The requests' plans and words, without their histories (nothing is written but the organisation)."""
    upgrade(settings.database_url)
    with transaction(get_sessionmaker(settings.database_url)) as session:
        demo = build_city(session, random.Random(f"chengzhi-demo:{seed}:city"))
        plans = make_plans(seed, N, NOW, demo.communities, ZoneInfo(settings.timezone))
        for plan in plans:
            prepare(plan, demo)
        session.rollback()
    return plans


def test_every_phrasing_names_only_slots_that_exist() -> None:
    unit = Unit(code="c", name_zh="某社区", name_en="Some Community", kind=UnitKind.community)
    community = Community(
        unit=unit, street=unit, district=unit, cell=(0, 0), compounds=["甲小区"], roads=["乙路", "丙路"],
        landmark="丁公园", weight=1.0,
    )  # fmt: skip
    base = set(
        template_slots(random.Random(1), Plan(received_at=NOW, scenario="normal", community=community))
    )
    attributes = {f"attr_{code}" for code in ("trapped", "problems", "amount", "workers", "line", "scope")}
    attributes |= {"attr_size", "attr_period", "attr_days", "attr_lamp_number"}
    assert set(tv.EXTRA_PROBLEMS) <= set(texts.PROBLEMS)
    for code, family in tv.EXTRA_PROBLEMS.items():
        for template in family:
            assert _fields(template) <= base | attributes, (code, template)
    for family in (
        tv.VAGUE,
        tv.COLLOQUIAL_OPENERS,
        tv.PHONE_OPENERS,
        tv.HISTORY,
        tv.DETAILS,
        tv.FEELINGS,
        tv.ASKS,
    ):
        assert set().union(*map(_fields, family)) <= base, family
    assert all(_fields(f) == {"problem"} for f in tv.QUESTION_FORMS)
    assert all(_fields(f) == {"second"} for f in tv.SECOND_FIRST)
    assert all(a in texts.PROBLEMS and set(b) <= set(texts.PROBLEMS) for a, b in tv.NEIGHBOURS.items())


def test_the_demo_texts_are_varied_like_a_real_citys(settings: Settings) -> None:
    plans = _plans(settings)
    done = [p for p in plans if p.submission is not None and p.spec is not None and p.words is not None]
    assert len(done) == N
    bodies = [p.submission.text for p in done if p.submission]
    assert len(set(bodies)) >= 0.97 * N
    # Many phrasings, none over 3 % of the requests.
    phrasings = Counter((p.words.code, p.words.index, p.words.vague) for p in done if p.words)
    assert len(phrasings) >= 250
    assert max(phrasings.values()) <= 0.03 * N, phrasings.most_common(3)
    # Words of a neighbouring category, vague messages, mixed topics, questions, slips: each a real share.
    neighbour = sum(p.words.code != p.spec.code and not p.words.vague for p in done if p.words and p.spec)
    vague = sum(p.words.vague for p in done if p.words)
    mixed = sum(any(c in b for c in tv.CONNECTORS) for b in bodies)
    asked = sum(any(f.split("{")[0] and f.split("{")[0] in b for f in tv.QUESTION_FORMS) for b in bodies)
    slips = sum(any(wrong in b for _, wrong in tv.SLIPS if len(wrong) > 1) for b in bodies)
    for name, count, low in (
        ("neighbour", neighbour, 0.04), ("vague", vague, 0.02), ("mixed", mixed, 0.05),
        ("asked", asked, 0.02), ("slips", slips, 0.05),
    ):  # fmt: skip
        assert low * N <= count <= 0.3 * N, (name, count)
    # Short and long messages.
    lengths = [len(b) for b in bodies]
    assert min(lengths) < 20 and max(lengths) > 120 and statistics.pstdev(lengths) > 15
    # Titles do not give the category away: most do not name it.
    named = sum(p.spec.name_zh in (p.submission.title or "") for p in done if p.spec and p.submission)
    assert named < 0.4 * N
    # The same address in several forms.
    forms = Counter(
        "compound-first" if (p.submission.address or "").startswith(p.slots["compound"]) else "other"
        for p in done
        if p.submission
        and p.spec
        and not p.spec.consultation
        and p.slots["compound"] in (p.submission.address or "")
    )
    assert forms["compound-first"] > 0 and forms["other"] > 0


def test_the_same_seed_gives_the_same_words(settings: Settings) -> None:
    first = [(p.submission.title, p.submission.text) for p in _plans(settings) if p.submission]
    again = [(p.submission.title, p.submission.text) for p in _plans(settings) if p.submission]
    other = [(p.submission.title, p.submission.text) for p in _plans(settings, seed=8) if p.submission]
    assert first == again
    assert first != other


def test_a_message_is_composed_from_its_parts() -> None:
    rng = random.Random(3)
    slots = {"compound": "甲花园", "road": "乙路", "building": "3栋", "days": "4"}
    problem = texts.fill("{compound}{building}停水了，到现在没来", slots)
    by_phone = [
        voice.compose(rng, problem, slots, code="water_outage", by_phone=True, consultation=False)
        for _ in range(200)
    ]
    assert all("甲花园" in t for t in by_phone)
    online = {
        voice.compose(rng, problem, slots, code="water_outage", by_phone=False, consultation=False)
        for _ in range(200)
    }
    assert len(online) > 150
    assert any(len(t) < 15 for t in online)  # a few words only
    assert voice.first_clause("甲小区停水，到现在。") == "甲小区停水"
