"""What each request of the demo city is: when it arrives, the kind of history it will have, its category, where
it is, and the words of its submission (see `chengzhi.demo.generate`)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from chengzhi.categories.models import HandlerKind, Priority
from chengzhi.demo import texts, voice
from chengzhi.demo.catalogue import CATEGORIES, LIMITS, CategorySpec
from chengzhi.demo.city import Community, DemoCity
from chengzhi.demo.names import COMPANY_SUFFIXES, SHOP_SUFFIXES, SYLLABLES, caller_name, phone_number
from chengzhi.org.service import ANONYMOUS, Actor
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request

SETTLED_DAYS = 60  # requests older than this have finished their whole history
QUEUED_MIN = 3
MIN_EACH = 3  # each kind of history appears at least this often among settled requests (when n allows)

# Kinds of history and how often each is drawn.
SCENARIOS: dict[str, float] = {
    "answered": 0.15,  # a consultation answered by the operator at intake
    "normal": 0.47,
    "unrated": 0.09,  # replied and closed without a rating
    "return": 0.06,  # dispatched to the wrong unit, returned, dispatched again
    "extension_approved": 0.05,
    "extension_refused": 0.03,
    "reopen": 0.05,  # rated unsatisfied, reopened, handled again
    "co_handle": 0.05,  # the lead unit summons co-units (吹哨报到)
    "duplicate": 0.05,  # merged into an open request about the same problem
}
LATE_SHARE = 0.08  # requests with one stage done after its deadline
LATE_STAGES = ("sign", "contact", "reply", "review")
CHANNELS = (("phone", 0.45), ("app", 0.25), ("web", 0.2), ("open311", 0.1))
CONSULTATION_CHANNELS = (("phone", 0.75), ("app", 0.15), ("web", 0.1))
HOUR_WEIGHTS = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.0, 2.4, 2.3, 2.0,
    1.6, 1.8, 2.0, 2.0, 1.9, 1.7, 1.5, 1.4, 1.3, 1.0, 0.7, 0.4,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.15, 1.1, 1.05, 1.05, 1.0, 0.75, 0.7)

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass
class Plan:
    """One request to generate: when it arrives, what it is about, where, and the kind of history it has."""

    received_at: dt.datetime
    scenario: str
    spec: CategorySpec | None = None
    late: str | None = None
    queued: bool = False  # still waiting in the hotline's dispatch queue now
    showcase: bool = False  # submitted by the `resident` account, so that it shows requests being handled
    primary: Plan | None = None
    index: int = 0
    rng: random.Random = field(default_factory=random.Random)
    community: Community | None = None
    words: voice.Choice | None = (
        None  # which phrasing the problem is told in (a duplicate repeats its primary's)
    )
    place: str = ""  # the compound or road the request is about, for titles and replies
    slots: dict[str, str] = field(default_factory=dict)
    submission: svc.Submission | None = None
    actor: Actor | None = None
    resident: Actor | None = None  # set when a resident with an account submitted it
    request: Request | None = None


def weighted(rng: random.Random, pairs: list[tuple[Any, float]] | tuple[tuple[Any, float], ...]) -> Any:
    items = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    return rng.choices(items, weights=weights, k=1)[0]


def _plan_times(rng: random.Random, n: int, now: dt.datetime, tz: ZoneInfo) -> list[dt.datetime]:
    today = now.astimezone(tz).date()
    days = [today - dt.timedelta(days=d) for d in range(365)]
    # A little more each month (the hotline becomes better known), fewer at weekends.
    day_weights = [
        WEEKDAY_WEIGHTS[day.weekday()] * (0.85 + 0.3 * (1 - d / 365)) for d, day in enumerate(days)
    ]
    times = []
    latest = now - 10 * MINUTE
    for day in rng.choices(days, weights=day_weights, k=n):
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS, k=1)[0]
        local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=tz)
        when = local.astimezone(dt.UTC)
        if when > latest:
            when -= DAY
        times.append(when)
    return times


def _choose_category(rng: random.Random, plan: Plan, tz: ZoneInfo) -> CategorySpec:
    month = plan.received_at.astimezone(tz).month
    pairs = []
    for spec in CATEGORIES:
        weight = spec.weight * (spec.season[month - 1] if spec.season else 1.0)
        if plan.scenario == "answered":
            weight *= 1.0 if spec.consultation else 0.0
        elif spec.consultation:
            weight *= 0.25 if plan.scenario in ("normal", "unrated") else 0.0
        if plan.scenario.startswith("extension") and not LIMITS[spec.limits]["reply"].endswith("wd"):
            weight = 0.0
        if plan.scenario == "co_handle" and spec.handler_kind == HandlerKind.district:
            weight = 0.0
        pairs.append((spec, weight))
    chosen: CategorySpec = weighted(rng, pairs)
    return chosen


def make_plans(seed: int, n: int, now: dt.datetime, communities: list[Community], tz: ZoneInfo) -> list[Plan]:
    """Decide every request's arrival, kind of history and category; deterministic in `seed` and `now`."""
    rng = random.Random(f"chengzhi-demo:{seed}:plans")
    times = sorted(_plan_times(rng, n, now, tz))
    scenarios = list(SCENARIOS.items())
    plans = [Plan(received_at=t, scenario=weighted(rng, scenarios)) for t in times]
    settled_before = now - SETTLED_DAYS * DAY
    settled = [p for p in plans if p.received_at < settled_before]
    # Every kind of history at least MIN_EACH times among settled requests, taken from ordinary ones.
    if len(settled) >= 4 * MIN_EACH * len(SCENARIOS):
        for scenario in SCENARIOS:
            missing = MIN_EACH - sum(p.scenario == scenario for p in settled)
            if missing > 0:
                ordinary = [i for i, p in enumerate(settled) if p.scenario == "normal" and i > 0]
                for i in rng.sample(ordinary, missing):
                    settled[i].scenario = scenario
    for plan in plans:
        if (
            plan.scenario in ("normal", "co_handle", "extension_approved", "return")
            and rng.random() < LATE_SHARE
        ):
            plan.late = rng.choice(LATE_STAGES)
    normal_settled = [p for p in settled if p.scenario == "normal"]
    if len(normal_settled) > 3 * MIN_EACH:
        late = [p for p in normal_settled if p.late]
        for plan in rng.sample([p for p in normal_settled if not p.late], max(0, MIN_EACH - len(late))):
            plan.late = "reply"
    for plan in plans:
        if plan.scenario != "duplicate":
            plan.spec = _choose_category(rng, plan, tz)
    # A duplicate repeats an earlier request about a real problem a few hours later. The primary is given working
    # days to reply, so it is still open (it cannot be replied, rated and closed within 20 hours): the merge is legal.
    for position, plan in enumerate(plans):
        if plan.scenario != "duplicate":
            continue
        candidates = [
            p
            for p in plans[max(0, position - 60) : position]
            if p.scenario in ("normal", "unrated", "co_handle")
            and p.spec
            and not p.spec.consultation
            and LIMITS[p.spec.limits]["reply"].endswith("wd")
        ]
        if not candidates:
            plan.scenario = "normal"
            plan.spec = _choose_category(rng, plan, tz)
            continue
        primary = rng.choice(candidates)
        plan.primary, plan.spec = primary, primary.spec
        plan.received_at = min(primary.received_at + rng.uniform(2, 20) * HOUR, now - 10 * MINUTE)
    plans.sort(key=lambda p: p.received_at)
    # The newest few wait for a dispatcher, so that the hotline's queue is not empty when the demo starts.
    waiting = [p for p in plans if p.scenario in ("normal", "unrated")][-max(QUEUED_MIN, n // 400) :]
    for plan in waiting if n >= 50 else ():
        plan.queued = True
    # The `resident` account's latest requests are being handled when the demo starts (the newest is queued).
    newest = [p for p in reversed(plans) if p.scenario == "normal" and p.spec and not p.spec.consultation]
    recent = [p for p in newest if p.received_at > now - 10 * DAY] or newest[:1]
    for plan in recent[:: max(1, len(recent) // 4)][:4]:
        plan.showcase = True
    weights = [(c, c.weight) for c in communities]
    for index, plan in enumerate(plans):
        plan.index = index
        plan.rng = random.Random(f"chengzhi-demo:{seed}:request:{index}")
        plan.community = plan.primary.community if plan.primary else weighted(plan.rng, weights)
    return plans


# ---------------------------------------------------------------- the request's content


def template_slots(rng: random.Random, plan: Plan) -> dict[str, str]:
    """The words a request's templates may use: places of its community, times, numbers, names."""
    community = plan.community
    assert community is not None
    floor = rng.randint(2, 33)
    roads = rng.sample(community.roads, 2) if len(community.roads) > 1 else community.roads * 2
    shop_a, shop_b = rng.sample(SYLLABLES, 2)
    firm_a, firm_b = rng.sample(SYLLABLES, 2)
    return {
        "compound": rng.choice(community.compounds),
        "building": rng.choice((f"{rng.randint(1, 24)}栋", f"{rng.randint(1, 30)}号楼")),
        "unit_no": f"{rng.randint(1, 4)}单元",
        "room": f"{floor}{rng.randint(1, 4):02d}室",
        "floor": f"{floor}楼",
        "road": roads[0],
        "road2": roads[1],
        "landmark": community.landmark,
        "community": community.unit.name_zh,
        "street": community.street.name_zh,
        "district": community.district.name_zh,
        "days": str(rng.randint(2, 10)),
        "hours": str(rng.randint(2, 12)),
        "weeks": str(rng.randint(1, 4)),
        "months": str(rng.randint(2, 8)),
        "num": str(rng.randint(2, 9)),
        "age": rng.choice(("八十", "九十")),
        "temp": str(rng.randint(12, 16)),
        "minutes": str(rng.randint(20, 45)),
        "arrive": str(rng.randint(12, 30)),
        "since": rng.choice(("昨天晚上", "今天早上", "今天上午", "前天下午", "今天凌晨", "昨天中午")),
        "night_time": rng.choice(("晚上十一点以后", "凌晨一两点", "深夜十二点", "半夜")),
        "shop": shop_a[0] + shop_b[0] + rng.choice(SHOP_SUFFIXES),
        "company": "示范市" + firm_a[0] + firm_b[0] + rng.choice(COMPANY_SUFFIXES),
        "line": f"{rng.randint(1, 399)}路",
        "doorplate": f"{rng.randint(1, 399)}号",
        "block": f"{rng.randint(1, 30)}-{rng.randint(1, 4)}-{floor}{rng.randint(1, 4):02d}",
    }


def _answers(
    rng: random.Random, spec: CategorySpec, slots: dict[str, str], received: dt.datetime
) -> dict[str, Any]:
    """Answers to the category's questions (required ones always, others often); their wording goes to slots."""
    answers: dict[str, Any] = {}
    for attribute in spec.attributes:
        code, datatype = attribute["code"], attribute.get("datatype", "string")
        values = attribute.get("values", [])
        value: Any
        if datatype == "singlevaluelist":
            chosen = rng.choice(values)
            value, shown = chosen["key"], chosen["name"]
        elif datatype == "multivaluelist":
            chosen_many = rng.sample(values, rng.randint(1, 2))
            value, shown = [v["key"] for v in chosen_many], "、".join(v["name"] for v in chosen_many)
        elif datatype == "number":
            number = {
                "days": rng.randint(2, 9),
                "amount": rng.choice((3, 5, 8, 12, 15, 26, 38, 45, 60)) * 1000 + rng.randrange(10) * 100,
                "workers": rng.randint(1, 30),
            }.get(code, rng.randint(1, 9))
            value, shown = number, str(number)
        elif datatype == "datetime":
            moment = received - rng.uniform(2, 72) * HOUR
            value, shown = moment.isoformat(timespec="minutes"), ""
        elif code == "line":
            value = shown = slots["line"]
        elif code == "lamp_number":
            value = shown = f"LD-{rng.randint(100, 999)}"
        else:
            value = shown = rng.choice(("交通出行", "城市建设", "公共服务", "生态环境", "便民服务"))
        slots[f"attr_{code}"] = shown
        if attribute.get("required") or rng.random() < 0.7:
            answers[code] = value
    return answers


def prepare(plan: Plan, demo: DemoCity) -> None:
    """Write the request as the resident (or the operator taking the call) would."""
    rng, spec, community = plan.rng, plan.spec, plan.community
    assert spec is not None and community is not None
    channels = CONSULTATION_CHANNELS if spec.consultation else CHANNELS
    channel: str = "app" if plan.showcase else weighted(rng, channels)
    slots = template_slots(rng, plan)
    answers = _answers(rng, spec, slots, plan.received_at)
    if plan.primary is not None:  # the same problem in another resident's words
        plan.words = plan.primary.words
        slots.update({k: plan.primary.slots[k] for k in ("compound", "building", "road", "road2", "shop")})
        slots.update({k: v for k, v in plan.primary.slots.items() if k.startswith("attr_")})
        answers = dict(plan.primary.submission.attributes) if plan.primary.submission else answers
    else:
        plan.words = voice.choose(rng, spec.code, spec.consultation)
    assert plan.words is not None
    plan.slots = slots
    raw = plan.words.raw
    problem = texts.fill(raw, slots)
    text = voice.compose(
        rng,
        problem,
        slots,
        code=spec.code,
        by_phone=channel == "phone",
        consultation=spec.consultation,
        group=spec.group,
        personal=spec.group in texts.PERSONAL_GROUPS or spec.code in texts.PERSONAL_CATEGORIES,
        plain=plan.primary is not None,
    )
    place = slots["compound"] if "{compound}" in raw else slots["road"] if "{road}" in raw else ""
    plan.place = place
    title = voice.title(rng, text, problem, spec.name_zh, place, spec.consultation)
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    if spec.consultation:
        address = f"{community.district.name_zh}{community.street.name_zh}" if channel != "phone" else None
    else:
        lon, lat = demo.grid.point_in_cell(rng, *community.cell)
        address = voice.address(rng, slots, "{compound}" in raw)
    # Only staff set a priority at intake; a resident's "trapped" answer is read from the text by the triage worker.
    priority = Priority.emergency.value if answers.get("trapped") == "yes" and channel == "phone" else None
    contact_name = caller_name(rng)
    contact_phone = phone_number(rng)
    if channel == "phone":
        plan.actor = rng.choice(demo.operators)
    elif plan.showcase or (channel in ("web", "app") and rng.random() < 0.12):
        resident, contact_phone = demo.residents[0] if plan.showcase else rng.choice(demo.residents)
        plan.actor = plan.resident = resident
        contact_name = resident.display_name
    else:
        plan.actor = ANONYMOUS
    plan.submission = svc.Submission(
        text=text,
        channel=channel,
        title=title,
        category_code=spec.code,
        priority=priority,
        lat=lat,
        lon=lon,
        address=address,
        contact_name=contact_name,
        contact_phone=contact_phone,
        attributes=answers,
    )
