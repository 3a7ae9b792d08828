"""The demo city's credit supervision: enterprises with valid credit codes, records of several departments over
four years, grades with their history, the red and black lists, a random-inspection plan with some results
entered, an objection and a repair application under review, and a substantiated complaint from one of the
city's requests.
Deterministic for a seed and a day; quick (well under a second)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.credit import cases, codes, listing, plans, service
from chengzhi.credit.models import CreditEntity
from chengzhi.demo.city import DISTRICTS, DemoCity
from chengzhi.requests.models import Request

INDUSTRIES = (
    ("catering", "餐饮"),
    ("food", "食品"),
    ("building", "建筑"),
    ("retail", "零售"),
    ("logistics", "物流"),
)
SUFFIXES = ("有限公司", "商贸有限公司", "餐饮店", "建设工程有限公司", "物流有限公司", "食品厂")
WORDS = ("青岚", "云湖", "金桥", "枫林", "星河", "福顺", "安康", "鑫源", "华美", "永兴", "瑞丰", "和信")
ENTITIES = 60


def _code(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    prefix = "91" + "4301" + "".join(rng.choice("0123456789") for _ in range(2))
    return codes.make_code(prefix, "".join(rng.choice(alphabet) for _ in range(8)))


def make_credit(session: Session, demo: DemoCity, seed: int, on: dt.date) -> dict[str, Any]:
    rng = random.Random(f"chengzhi-demo:{seed}:credit")
    market = demo.unit("city-market_regulation")
    sources = [market, demo.unit("city-environment"), demo.unit("city-housing"), demo.unit("city-health")]
    districts = [demo.unit(code) for code, *_ in DISTRICTS]
    entities: list[CreditEntity] = []
    for i in range(ENTITIES):
        industry = INDUSTRIES[i % len(INDUSTRIES)][0]
        name = f"示范市{rng.choice(WORDS)}{rng.choice(WORDS)}{SUFFIXES[i % len(SUFFIXES)]}"
        if any(e.name == name for e in entities):
            name = f"{name[:-4]}{i}{name[-4:]}"
        entity_data = service.EntityData(
            _code(rng), name, legal_rep=f"{rng.choice('张王李赵刘陈杨黄')}{rng.choice('伟芳娜敏静强磊军')}",
            address=f"示范市{districts[i % 4].name_zh}{rng.randrange(1, 300)}号", area_unit_id=districts[i % 4].id,
            industry=industry,
        )  # fmt: skip
        entities.append(service.save_entity(session, entity_data, on - dt.timedelta(days=1500)))
    service.save_entity(  # one entity renamed: its former name stays searchable
            session,
            service.EntityData(entities[0].uscc, "示范市青岚新康餐饮管理有限公司", industry="catering",
                               area_unit_id=districts[0].id, legal_rep=entities[0].legal_rep),
            on - dt.timedelta(days=400),
        )  # fmt: skip
    kinds = [("licence", None, None, "食品经营许可", "《食品安全法》第三十五条"),
             ("inspection", None, True, "日常监督检查合格", "《市场监督管理行政处罚程序规定》"),
             ("inspection", None, False, "日常监督检查不合格", "《市场监督管理行政处罚程序规定》"),
             ("honour", None, None, "守合同重信用企业", "示范市表彰决定"),
             ("penalty", "minor", None, "未按规定公示证照", "《行政处罚法》第三十三条"),
             ("penalty", "general", None, "超范围经营", "《食品安全法》第一百二十二条"),
             ("penalty", "serious", None, "生产经营不符合安全标准的食品", "《食品安全法》第一百二十四条"),
             ("commitment", None, True, "信用承诺履行", "告知承诺制"),
             ("commitment", None, False, "信用承诺未履行", "告知承诺制")]  # fmt: skip
    for i, entity in enumerate(entities):
        count = 1 + rng.randrange(6)
        for _ in range(count):
            kind, severity, outcome, title, basis = rng.choice(kinds)
            if kind == "penalty" and rng.random() < 0.5:
                kind, severity, outcome, title, basis = kinds[0]
            decided = on - dt.timedelta(days=rng.randrange(5, 1400))
            data = service.RecordData(kind, title, basis, decided, severity=severity, outcome=outcome,
                                      source_unit_id=rng.choice(sources).id)  # fmt: skip
            service.add_record(session, entity, data, on, regrade=False)
        if i in (3, 17):  # honours of the last two years and a clean record: the red list (with grade A)
            for title in ("守合同重信用企业", "示范市诚信经营示范店"):
                data = service.RecordData("honour", title, "示范市表彰决定", on - dt.timedelta(days=90 + i))
                service.add_record(session, entity, data, on, regrade=False)
    court = service.RecordData(
        "dishonesty", "失信被执行人", "（2025）示执字第118号", on - dt.timedelta(days=200)
    )
    service.add_record(session, entities[7], court, on, regrade=False)
    serious = service.RecordData("penalty", "生产经营不符合安全标准的食品", "《食品安全法》第一百二十四条",
                                 on - dt.timedelta(days=420), severity="serious", source_unit_id=market.id)  # fmt: skip
    serious_record = service.add_record(session, entities[11], serious, on, regrade=False)
    general = service.RecordData("penalty", "超范围经营", "《食品安全法》第一百二十二条",
                                 on - dt.timedelta(days=30), severity="general", source_unit_id=market.id)  # fmt: skip
    general_record = service.add_record(session, entities[12], general, on, regrade=False)
    for entity in entities:  # the grade history as it happened (graded on each record's day), then today's
        for day in sorted({r.decided_on for r in service.records_of(session, entity)}):
            service.regrade_entity(session, entity, day)
        service.refresh(session, entity, on)  # today's grade, then the lists (the red list needs the grade)
    # An objection under review and a repair application awaiting its decision.
    cases.file_objection(
        session, general_record.id, entities[12].name, "处罚对象认定有误，已提交证明材料", on, 15
    )
    cases.apply_for_repair(session, serious_record.id, entities[11].name, "已销毁问题食品并完成整改，附整改报告",
                           "本企业公开承诺依法诚信经营，如再违反愿接受联合惩戒", on, 15)  # fmt: skip
    # A resident's request about a restaurant, found substantiated.
    request_id = session.scalar(select(Request.id).order_by(Request.id).limit(1))
    if request_id is not None:
        link = cases.link_complaint(session, entities[1], request_id, "handler.city-market_regulation", on)
        cases.decide_complaint(session, link.id, True, "credit", "《消费者权益保护法》第五十六条", on)
    # The market regulation administration's random-inspection plan: roster, one declared conflict, results.
    for n, person in enumerate(("周敏", "吴强", "郑磊", "孙芳", "钱军")):
        username = "handler.city-market_regulation" if n == 0 else None
        plans.add_inspector(session, market.id, person, username)
    roster = plans.roster(session, market.id)
    plans.declare_conflict(session, roster[0].id, entities[5], "近亲属在该企业任职", on)
    plan = plans.create_plan(session, market.id, f"{on.year}年度食品经营者双随机抽查", on.year, seed + on.year,
                             "handler.city-market_regulation", on, ratios={"B": 0.2}, industry="food")  # fmt: skip
    for k, (task, _, _) in enumerate(plans.tasks_of(session, plan)[:3]):
        plans.enter_result(
            session, task.id, set(), True, k != 1, "未发现问题" if k != 1 else "未公示食品经营许可证", on
        )
    return {
        "credit_entities": len(entities),
        "credit_plan": plan.id,
        "credit_lists": {kind: len(listing.listed_entities(session, kind, on)) for kind in ("red", "black")},
    }
