"""The demo city shows credit supervision: enterprises with records and grades, both lists, a plan with results,
cases under review and a substantiated complaint; the same seed gives the same credit data (both databases)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chengzhi.config import Settings
from chengzhi.credit import cases, listing, plans, service
from chengzhi.credit.models import CreditEntity, CreditGrade, CreditRecord
from chengzhi.db import get_sessionmaker
from chengzhi.demo.city import DEMO_PASSWORD
from chengzhi.demo.generate import generate_demo_city

from .test_pages_admin import sign_in

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


def test_demo_city_has_credit_supervision(settings: Settings, client: TestClient) -> None:
    summary = generate_demo_city(settings, seed=5, n_requests=20, now=NOW)
    assert summary["credit_entities"] == 60 and summary["credit_lists"]["black"] >= 2
    on = dt.date(2026, 11, 30)
    with get_sessionmaker(settings.database_url)() as session:
        assert (session.scalar(select(func.count()).select_from(CreditRecord)) or 0) > 150
        grades = dict(
            session.execute(select(CreditEntity.grade, func.count()).group_by(CreditEntity.grade)).all()
        )
        assert set(grades) >= {"A", "B", "D"}, grades
        assert listing.listed_entities(session, "red", on), "the demo shows a red list"
        plan = plans.get_plan(session, summary["credit_plan"])
        tasks = plans.tasks_of(session, plan)
        assert tasks and sum(1 for t, _, _ in tasks if t.passed is not None) == 3
        assert cases.open_objections(session) and cases.pending_applications(session)
        complaint = session.scalar(
            select(CreditRecord).where(CreditRecord.kind == "complaint", CreditRecord.request_id.is_not(None))
        )
        assert complaint is not None
        histories = session.execute(
            select(CreditGrade.entity_id, func.count()).group_by(CreditGrade.entity_id)
        ).all()
        assert len(histories) == 60 and max(n for _, n in histories) >= 3  # grades as they happened
        models = set(session.scalars(select(CreditGrade.model).distinct()))
        assert models == {"general-2026", "food-2026"}  # the food trade has its own model
        repairing = service.get_record(session, cases.pending_applications(session)[0].record_id)
        penalised = session.get(CreditEntity, repairing.entity_id)
        inspection = session.get(CreditRecord, tasks[0][0].record_id)
        assert inspection is not None
        inspected = session.get(CreditEntity, inspection.entity_id)
        assert penalised is not None and inspected is not None
        penalised_code, inspected_code = penalised.uscc, inspected.uscc
    assert client.get("/credit/lists/black").status_code == 200
    sign_in(client, "credit", DEMO_PASSWORD)
    page = client.get("/credit/staff", params={"lang": "zh"})
    assert page.status_code == 200 and "待处理的异议" in page.text and "双随机" in page.text
    record = client.get(f"/credit/staff/entities/{penalised_code}", params={"lang": "zh"}).text
    history = record.split("等级历史")[1].split("</table>")[0]
    assert history.count('<span class="badge">') >= 2 and "生产经营不符合安全标准的食品" in history
    assert "日常监督检查" in client.get(f"/credit/{inspected_code}").text.split("<h2>检查</h2>")[1]
    assert "国家发展改革委令第58号" in client.get("/credit/rules", params={"lang": "zh"}).text
