"""Monthly focus topics proposed by the platform (每月一题): once a month, from the configured local day, the job
`topics_propose` proposes next month's candidates from the city's hottest issues (the early-warning domain); a
leader accepts each (a candidate residents vote on) or dismisses it; until then the public sees none of them.
Both databases, through the job runner and the pages."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.jobs import service as jobs
from chengzhi.participate import topics
from chengzhi.participate.models import FocusTopic
from chengzhi.warning.models import HotIssue, HotIssueMember

from .factories import City
from .steps import submit
from .test_pages_staff import sign_in
from .test_participate import verify
from .test_participate_pages import post

# 2026-12-20 10:00 in Asia/Shanghai: the 20th, the default day of the job.
ON_THE_DAY = dt.datetime(2026, 12, 20, 2, 0, tzinfo=dt.UTC)
NAMES = ("万科城停车难", "丽发新城搅拌站噪声", "魅力之城油烟扰民", "幸福里路灯不亮")


def hot_issues(session: Session, settings: Settings, city: City) -> list[int]:
    """Four hot issues in the city, the first the largest (5, 4, 3, 2 requests from as many people)."""
    ids = []
    for rank, name in enumerate(NAMES):
        requests = [submit(session, settings, ON_THE_DAY, phone=f"139{rank}{k:07d}") for k in range(5 - rank)]
        session.flush()
        session.execute(delete(HotIssueMember).where(HotIssueMember.request_id.in_([r.id for r in requests])))
        issue = HotIssue(name=name, place_or_group=name[:3], message_count=len(requests))
        issue.first_at, issue.last_at = ON_THE_DAY - dt.timedelta(days=5), ON_THE_DAY - dt.timedelta(hours=1)
        session.add(issue)
        session.flush()
        for k, request in enumerate(requests):
            session.add(
                HotIssueMember(
                    request_id=request.id,
                    issue_id=issue.id,
                    received_at=ON_THE_DAY - dt.timedelta(days=1, hours=k),
                    person=f"person-{rank}-{k}",
                    unit_path=city.units["D1S1C1"].path,
                )
            )
        ids.append(issue.id)
    session.commit()
    return ids


def test_the_monthly_job_proposes_the_hottest_issues_once_a_month(
    session: Session, settings: Settings, city: City
) -> None:
    issue_ids = hot_issues(session, settings, city)
    factory = sessionmaker(bind=session.get_bind())
    assert topics.PROPOSE_JOB in jobs.JOBS  # registered with the runner (chengzhi/reactions.py)
    early = jobs.run_job(factory, settings, topics.PROPOSE_JOB, ON_THE_DAY - dt.timedelta(days=1))
    assert early == {"month": None, "skipped": True}  # the 19th: not yet
    first = jobs.run_job(factory, settings, topics.PROPOSE_JOB, ON_THE_DAY)
    assert first is not None and first["month"] == "2027-01" and len(first["proposed"]) == 3
    session.rollback()
    made = session.scalars(select(FocusTopic).order_by(FocusTopic.id)).all()
    assert [(t.title, t.state, t.month, t.created_by) for t in made] == [
        (name, "proposed", "2027-01", None) for name in NAMES[:3]
    ]  # the three hottest (CHENGZHI_FOCUS_PROPOSE_COUNT), for next month, by no person
    assert [t.hot_issue_id for t in made] == issue_ids[:3]
    again = jobs.run_job(factory, settings, topics.PROPOSE_JOB, ON_THE_DAY + dt.timedelta(days=3))
    assert again == {"month": "2027-01", "skipped": True}  # once a month
    # Next month: issues already proposed (accepted or dismissed) are not proposed again.
    following = jobs.run_job(
        factory,
        settings.model_copy(update={"focus_propose_count": 5}),
        topics.PROPOSE_JOB,
        dt.datetime(2027, 1, 25, 2, 0, tzinfo=dt.UTC),
    )
    assert following is not None and following["month"] == "2027-02" and len(following["proposed"]) == 1
    session.rollback()
    assert session.scalar(select(FocusTopic.title).where(FocusTopic.month == "2027-02")) == NAMES[3]


def test_a_leader_accepts_or_dismisses_what_the_job_proposed(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    hot_issues(session, settings, city)
    proposed = topics.propose_from_hot_issues(session, settings, "2027-01", ON_THE_DAY)
    session.commit()
    first, second, third = (t.id for t in proposed)

    # Nothing proposed is public until a leader accepts it.
    assert client.get("/api/v1/topics").json() == []
    assert NAMES[0] not in client.get("/topics").text
    assert client.get(f"/topics/{first}").status_code == 404

    sign_in(client, "d1s1-handler")  # the units' staff report progress, leaders decide
    assert NAMES[0] not in client.get("/staff/topics").text
    status, _, _ = post(client, f"/staff/topics/{first}/decide", {"accept": "1"}, "/staff/topics")
    assert status == 403

    sign_in(client, "leader")
    staff = client.get("/staff/topics").text
    assert "根据热点问题提出的议题：采纳或不采纳" in staff
    assert all(f"采纳为候选议题：{name}" in staff for name in NAMES[:3])
    status, target, _ = post(client, f"/staff/topics/{first}/decide", {"accept": "1"}, "/staff/topics")
    assert (status, target) == (303, "/staff/topics?done=accepted")
    assert "已采纳：居民可以对它投票" in client.get(target).text
    status, target, _ = post(client, f"/staff/topics/{second}/decide", {"accept": "0"}, "/staff/topics")
    assert target == "/staff/topics?done=dismissed"
    status, _, text = post(client, f"/staff/topics/{first}/decide", {"accept": "0"}, "/staff/topics")
    assert status == 422 and "only a proposed topic" in text  # decided once
    status, _, _ = post(client, "/staff/topics/424242/decide", {"accept": "1"}, "/staff/topics")
    assert status == 404
    english = client.get("/staff/topics?lang=en").text
    assert "Proposed from the hot issues: accept or dismiss" in english
    assert f"Accept as a candidate: {NAMES[2]}" in english and f"Dismiss: {NAMES[1]}" not in english

    # The accepted one is a candidate residents vote on; the dismissed and the undecided stay out of sight.
    assert [t["title"] for t in client.get("/api/v1/topics").json()] == [NAMES[0]]
    sign_in(client, "resident")
    verify(settings, "resident")
    listing = client.get("/topics").text
    assert NAMES[0] in listing and NAMES[1] not in listing and NAMES[2] not in listing
    assert post(client, f"/topics/{first}/vote", {}, "/topics")[1] == f"/topics?done=voted#topic-{first}"
    assert client.get(f"/topics/{third}").status_code == 404
    session.rollback()
    states = {row.id: row.state for row in session.execute(select(FocusTopic.id, FocusTopic.state))}
    assert states == {first: "candidate", second: "dismissed", third: "proposed"}
    assert "1 票" in client.get("/topics?lang=zh").text
