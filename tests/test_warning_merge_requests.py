"""A dispatcher merges requests of a hot issue in the workflow in one step (both databases): through the API and the
issue's page, each request by the workflow's own merge step (its event, permission and scope checks), all or none;
refused clearly for a primary not in the issue, closed requests and requests outside the dispatcher's scope."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.org.models import Role
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.warning.models import HotIssueDecision, HotIssueMember

from .conftest import auth
from .factories import City, make_user
from .steps import actor, dispatch, handle
from .test_pages_staff import sign_in
from .test_warning_live import NOISE, _submit_all, submit

MORE_NOISE = ("青松花园小区烧烤店凌晨还在吵", "青松花园小区楼下烧烤店每天营业到凌晨，噪音扰民，晚上睡不着。")


def _setup(session: Session, settings: Settings) -> tuple[int, list[int], list[int], int, int]:
    """The noise issue (three requests dispatched in district 1), the lights issue, a fourth noise request from
    district 1's street handled by district 2 (outside district 1's dispatcher) and a fifth, closed."""
    noise, lights = _submit_all(session, settings)
    elsewhere = submit(session, settings, *MORE_NOISE, "13712340001")
    closed = submit(session, settings, *NOISE[1], "13712340002")
    session.commit()
    dispatch(session, settings, elsewhere, "D2S1C1", utcnow())
    dispatch(session, settings, closed, "D1S1C1", utcnow())
    handle(session, settings, closed, "d1s1c1-handler", utcnow())
    svc.close_request(session, actor(session, "dispatcher"), closed)
    session.commit()
    placed = dict(session.execute(select(HotIssueMember.request_id, HotIssueMember.issue_id)).all())
    issue = placed[noise[0]]
    assert {placed[r] for r in [*noise, elsewhere.id, closed.id]} == {issue}, placed
    return issue, noise, lights, elsewhere.id, closed.id


def _workflow(session: Session, ids: list[int]) -> dict[int, int | None]:
    session.rollback()  # a fresh snapshot: the calls committed in their own sessions
    return dict(session.execute(select(Request.id, Request.issue_id).where(Request.id.in_(ids))).all())


def _merge_events(session: Session) -> list[int]:
    session.rollback()
    return list(session.scalars(select(RequestEvent.request_id).where(RequestEvent.action == "merge")))


def test_a_dispatcher_merges_a_hot_issues_requests_through_the_api(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    make_user(session, city, "d2-dispatcher", Role.dispatcher, "D2")
    session.commit()
    issue, noise, lights, elsewhere, closed = _setup(session, settings)
    d1 = auth(client, "d1-dispatcher")
    url = f"/api/v1/warning/hot-issues/{issue}/merge-requests"

    def post(
        body: dict[str, Any], headers: dict[str, str] = d1, lang: str = "zh"
    ) -> tuple[int, dict[str, Any]]:
        answer = client.post(url, json=body, headers=headers | {"Accept-Language": lang})
        return answer.status_code, answer.json()

    # Refusals, each naming what is wrong in the reader's language; nothing is written.
    status, body = post({"primary": lights[0], "request_ids": noise})
    assert status == 422 and body["error"]["code"] == "hot_merge_primary_not_member"
    assert "不在此热点问题中" in body["error"]["message"]
    status, body = post({"primary": noise[0], "request_ids": [noise[1], lights[0]]}, lang="en")
    assert status == 422 and body["error"]["code"] == "hot_merge_not_members"
    assert f"not in this hot issue (in your scope): {lights[0]}." in body["error"]["message"]
    numbers = dict(session.execute(select(Request.id, Request.tracking_number)).all())
    # All or nothing: two mergeable requests and a closed one: none is merged.
    status, body = post({"primary": noise[0], "request_ids": [noise[1], noise[2], closed]}, lang="en")
    assert status == 422 and body["error"]["code"] == "hot_merge_closed"
    assert (
        numbers[closed] in body["error"]["message"]
        and "Closed requests cannot be merged" in body["error"]["message"]
    )
    status, body = post({"primary": noise[0], "request_ids": [noise[1], elsewhere]})
    assert status == 403 and body["error"]["code"] == "hot_merge_out_of_scope"
    assert numbers[elsewhere] in body["error"]["message"] and "派单员" in body["error"]["message"]
    status, body = post({"primary": noise[0], "request_ids": [noise[0]]}, lang="en")
    assert status == 422 and body["error"]["code"] == "hot_merge_nothing"
    # Only dispatchers: a leader reads the issue but may not merge requests.
    status, body = post({"primary": noise[0], "request_ids": [noise[1]]}, headers=auth(client, "leader"))
    assert status == 403
    # Another district's dispatcher does not see the issue at all.
    other = auth(client, "d2-dispatcher")
    status, body = post({"primary": noise[0], "request_ids": [noise[1]]}, headers=other)
    assert status in (403, 404)
    assert _workflow(session, [*noise, closed, elsewhere]) == dict.fromkeys([*noise, closed, elsewhere])
    assert _merge_events(session) == []

    status, body = post({"primary": noise[0], "request_ids": [noise[1], noise[2]], "note": "同一家烧烤店"})
    assert status == 200, body
    assert body["primary"] == numbers[noise[0]]
    assert body["merged"] == [numbers[noise[1]], numbers[noise[2]]] and body["already_merged"] == []
    issues = _workflow(session, noise)
    assert len(set(issues.values())) == 1 and body["workflow_issue"] == issues[noise[0]] is not None
    # The workflow's usual events: the primary's (it opens the workflow issue) and one per merged request.
    assert sorted(_merge_events(session)) == sorted(noise)
    decision = session.scalar(select(HotIssueDecision).where(HotIssueDecision.kind == "merge_requests"))
    assert decision is not None and decision.detail["requests"] == [noise[1], noise[2]]
    # Again: already merged, nothing new.
    status, body = post({"primary": noise[0], "request_ids": [noise[1], noise[2]]})
    assert status == 200 and body["merged"] == [] and len(body["already_merged"]) == 2
    assert len(_merge_events(session)) == 3


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_a_dispatcher_merges_from_the_hot_issue_page(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    issue, noise, _lights, elsewhere, closed = _setup(session, settings)
    sign_in(client, "leader")
    seen = client.get(f"/dashboard/hot/{issue}")
    assert seen.status_code == 200 and 'id="merge-requests"' not in seen.text  # leaders read, do not merge
    client.cookies.clear()

    sign_in(client, "d1-dispatcher")
    page = client.get(f"/dashboard/hot/{issue}")
    assert page.status_code == 200 and 'id="merge-requests"' in page.text
    choices = page.context["page"].merge
    assert {i for i, c in choices.items() if c.offered} == set(noise)
    assert choices[closed].why_not == "closed" and choices[elsewhere].why_not == "out_of_scope"
    assert "并入主诉求" in page.text and "不在您的辖区" in page.text and "已办结" in page.text
    for request_id in noise:
        assert f'name="request_ids" value="{request_id}"' in page.text
    assert f'name="request_ids" value="{closed}"' not in page.text
    csrf = _csrf(page.text)
    url = f"/dashboard/hot/{issue}/merge-requests"

    # A closed request ticked anyway (a stale page): refused in English, nothing merged.
    refused = client.post(
        url + "?lang=en",
        data={"csrf_token": csrf, "primary": str(noise[0]), "request_ids": [str(noise[1]), str(closed)]},
    )
    assert refused.status_code == 422 and "Closed requests cannot be merged" in refused.text
    assert 'id="merge-requests"' in refused.text
    nothing = client.post(url + "?lang=zh", data={"csrf_token": csrf, "request_ids": [str(noise[1])]})
    assert nothing.status_code == 422 and "请选择主诉求" in nothing.text
    assert _merge_events(session) == []

    done = client.post(
        url,
        data={"csrf_token": csrf, "primary": str(noise[1]), "request_ids": [str(noise[0]), str(noise[2])]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:500]
    after = client.get(done.headers["location"])
    assert "已并入主诉求所在问题的诉求：2 条" in after.text and "已合并至问题" in after.text
    issues = _workflow(session, noise)
    assert len(set(issues.values())) == 1 and issues[noise[1]] is not None
    assert sorted(_merge_events(session)) == sorted(noise)
    english = client.get(f"/dashboard/hot/{issue}?lang=en")
    assert "Merge into the primary request" in english.text and "merged in issue" in english.text
