"""Monthly focus topics (每月一题) in the browser: residents read the topics and vote once a month among the
candidates; each topic has its page with its requests, progress and outcome. Leaders propose candidates (their
own, or the early-warning domain's hot issues offered beside the form), choose a topic with its lead and co-units,
goal and deadline; the units' staff report progress and the outcome (docs/participation.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Invalid
from chengzhi.i18n import Language, Text, message
from chengzhi.org import levels
from chengzhi.org import queries as org_queries
from chengzhi.org.service import Actor
from chengzhi.participate import topics
from chengzhi.participate.pages import NotAllowedPage, form_text, ident, read_form, to_login
from chengzhi.requests import queries as requests_queries
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, chrome, csrf_ok, not_found, page_actor, render

router = APIRouter(include_in_schema=False)

DONE = {
    "voted": N_("Thank you: your vote is counted."),
    "proposed": N_("The candidate is proposed: residents can vote on it."),
    "chosen": N_("The topic is chosen: its units can report progress."),
    "reported": N_("The progress report is published on the topic's page."),
    "accepted": N_("The proposal is accepted: residents can vote on it."),
    "dismissed": N_("The proposal is dismissed."),
}
STATES = {
    "candidate": N_("Candidate"),
    "chosen": N_("Being worked on"),
    "done": N_("Done"),
}


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass
class TopicsPage:
    candidates: dict[str, list[dict[str, Any]]]  # month -> candidates, most voted first
    topics: list[dict[str, Any]]  # chosen and done
    voted: dict[str, int | None]  # month -> the topic this person voted for
    can_vote: bool
    step_up_url: str | None  # a resident below the level of `vote`: where to verify
    signed_in: bool
    states: dict[str, str]
    notice: str | None = None
    error: str | None = None


@dataclass
class TopicPage:
    topic: dict[str, Any]
    requests: list[requests_queries.PublicIssue]
    states: dict[str, str]


@dataclass
class StaffTopicsPage:
    month: str
    proposed: list[dict[str, Any]]  # by the monthly job, waiting for a leader
    candidates: list[dict[str, Any]]
    chosen: list[dict[str, Any]]
    suggestions: list[topics.Suggestion]
    categories: list[Option]
    units: list[Option]
    leads: bool
    states: dict[str, str]
    notice: str | None = None
    error: str | None = None
    form: dict[str, str] = field(default_factory=dict)


def _next_month(settings: Settings) -> str:
    return topics.next_month(dt.datetime.now(ZoneInfo(settings.timezone)).date())


def _states(lang: Language) -> dict[str, str]:
    return {k: gettext(lang, v) for k, v in STATES.items()}


# ---------------------------------------------------------------- residents


def _topics_page(
    session: Session, settings: Settings, actor: Actor, lang: Language, notice: str | None, error: str | None
) -> TopicsPage:
    described = topics.described(session, topics.topics(session), lang)
    candidates: dict[str, list[dict[str, Any]]] = {}
    for t in described:
        if t["state"] == "candidate":
            candidates.setdefault(t["month"], []).append(t)
    is_resident = not actor.is_anonymous and actor.has_role(*topics.VOTERS)
    level_ok = levels.allowed(actor, settings, "vote")
    return TopicsPage(
        candidates=candidates,
        topics=[t for t in described if t["state"] != "candidate"],
        voted={month: topics.voted_for(session, actor.user_id, month) for month in candidates},
        can_vote=is_resident and level_ok,
        step_up_url=levels.step_up_url(levels.level_needed(settings, "vote"), "/topics")
        if is_resident and not level_ok
        else None,
        signed_in=not actor.is_anonymous,
        states=_states(lang),
        notice=notice,
        error=error,
    )


@router.get("/topics")
def topics_list(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    done = request.query_params.get("done", "")
    notice = gettext(frame.lang, DONE[done]) if done in DONE else None
    page = _topics_page(session, settings, actor, frame.lang, notice, None)
    return render(request, "participate/topics.html", page, frame)


@router.get("/topics/{topic_id}")
def topic_page(topic_id: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    found = topics.get_topic(session, ident(topic_id))
    if found is None:
        return not_found(request, frame, gettext(frame.lang, N_("This focus topic does not exist.")))
    described = topics.described(session, [found], frame.lang)[0]
    page = TopicPage(described, topics.topic_requests(session, found, frame.lang), _states(frame.lang))
    return render(request, "participate/topic.html", page, frame)


@router.post("/topics/{topic_id}/vote")
async def vote(topic_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.is_anonymous:
        return to_login("/topics")
    form = await read_form(request)
    try:
        # Who calls, before what they sent: anyone but a resident who may vote is refused, whatever the topic.
        topics.require_voter(actor, settings)
        if form is None or not csrf_ok(request, form):
            raise ChengzhiError("csrf_failed")
        if topics.get_topic(session, ident(topic_id)) is None:
            raise Invalid(details="no such topic")
        topics.vote(session, actor, settings, ident(topic_id), utcnow())
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        if isinstance(exc, levels.LevelRequired):
            return RedirectResponse(
                levels.step_up_url(levels.level_needed(settings, "vote"), "/topics"), status_code=303
            )
        error = message(exc.code, frame.lang, exc.params)
        page = _topics_page(session, settings, actor, frame.lang, None, error)
        return render(request, "participate/topics.html", page, frame, status_code=exc.status_code)
    return RedirectResponse(f"/topics?done=voted#topic-{ident(topic_id)}", status_code=303)


# ---------------------------------------------------------------- leaders and the units' staff


def _staff_page(
    session: Session,
    settings: Settings,
    actor: Actor,
    frame: Chrome,
    *,
    notice: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> StaffTopicsPage:
    lang = frame.lang
    described = topics.described(session, topics.topics(session, public=False), lang)
    leads = actor.has_role(*topics.LEADERS)
    paths = sorted({g.unit_path for g in actor.grants if g.role in topics.LEADERS})
    units = org_queries.active_units_under_any(session, paths) if leads else []
    return StaffTopicsPage(
        month=_next_month(settings),
        proposed=[t for t in described if t["state"] == "proposed"] if leads else [],
        candidates=[t for t in described if t["state"] == "candidate"] if leads else [],
        chosen=[t for t in described if t["state"] == "chosen"],
        suggestions=topics.suggestions(session, settings, actor, utcnow()) if leads else [],
        categories=[Option(c.code, c.name(lang)) for c in list_categories(session)] if leads else [],
        units=[Option(str(u.id), u.name(lang)) for u in sorted(units, key=lambda u: u.path)],
        leads=leads,
        states=_states(lang),
        notice=notice,
        error=error,
        form=form or {},
    )


def _staff_gate(request: Request, actor: Actor, frame: Chrome) -> Response | None:
    if actor.is_anonymous:
        return to_login("/staff/topics")
    if not actor.has_role(*topics.REPORTERS):
        text = gettext(frame.lang, N_("Focus topics are run by leaders and the units' staff."))
        return render(request, "forbidden.html", NotAllowedPage(text), frame, status_code=403)
    return None


@router.get("/staff/topics")
def staff_topics(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    done = request.query_params.get("done", "")
    notice = gettext(frame.lang, DONE[done]) if done in DONE else None
    page = _staff_page(session, settings, actor, frame, notice=notice)
    return render(request, "participate/staff_topics.html", page, frame)


def _ids(form: FormData | None, name: str) -> list[int]:
    values = form.getlist(name) if form is not None else []
    return [ident(v) for v in values if isinstance(v, str) and ident(v)]


def _problem(action: str, fields: dict[str, str], deadline: str, text: str) -> Text | None:
    """What is missing from a staff form, said in the page's language before the service is asked."""
    if action == "proposed" and not (topics.MONTH.match(fields["month"]) and fields["title"]):
        return N_("Give the month as YYYY-MM (e.g. 2027-01) and a title.")
    if action == "chosen":
        try:
            dt.date.fromisoformat(deadline)
        except ValueError:
            return N_("Give a goal and a deadline (a date).")
        if not fields["goal"]:
            return N_("Give a goal and a deadline (a date).")
    if action == "reported" and not text:
        return N_("Write the progress report.")
    return None


async def _staff_step(
    request: Request, session: Session, settings: Settings, action: str, topic_id: str = ""
) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    form = await read_form(request)
    fields = {k: form_text(form, k, 4000) for k in ("month", "title", "description", "category", "goal")}
    problem = _problem(action, fields, form_text(form, "deadline", 10), form_text(form, "text", 4000))
    if problem is not None and form is not None and csrf_ok(request, form):
        page = _staff_page(session, settings, actor, frame, error=gettext(frame.lang, problem), form=fields)
        return render(request, "participate/staff_topics.html", page, frame, status_code=422)
    try:
        if form is None or not csrf_ok(request, form):
            raise ChengzhiError("csrf_failed")
        now = utcnow()
        if action == "proposed":
            topics.propose(
                session,
                actor,
                month=fields["month"],
                title=fields["title"],
                description=fields["description"],
                category_code=fields["category"] or None,
                hot_issue_id=ident(form_text(form, "hot_issue_id", 12)) or None,
                now=now,
            )
        elif action == "chosen":
            deadline = dt.date.fromisoformat(form_text(form, "deadline", 10))
            topics.choose(
                session,
                actor,
                ident(topic_id),
                lead_unit_id=ident(form_text(form, "lead_unit", 12)),
                co_unit_ids=_ids(form, "co_units"),
                goal=fields["goal"],
                deadline=deadline,
            )
        elif action in ("accepted", "dismissed"):
            topics.decide_proposal(session, actor, ident(topic_id), accept=action == "accepted")
        else:
            text = form_text(form, "text", 4000)
            outcome = form_text(form, "outcome", 1) == "1"
            topics.report(session, actor, ident(topic_id), text, now, outcome=outcome)
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        error = message(exc.code, frame.lang, exc.params)
        page = _staff_page(session, settings, actor, frame, error=error, form=fields)
        return render(request, "participate/staff_topics.html", page, frame, status_code=exc.status_code)
    return RedirectResponse(f"/staff/topics?done={action}", status_code=303)


@router.post("/staff/topics")
async def propose(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return await _staff_step(request, session, settings, "proposed")


@router.post("/staff/topics/{topic_id}/choose")
async def choose(topic_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return await _staff_step(request, session, settings, "chosen", topic_id)


@router.post("/staff/topics/{topic_id}/progress")
async def progress(topic_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return await _staff_step(request, session, settings, "reported", topic_id)


@router.post("/staff/topics/{topic_id}/decide")
async def decide(topic_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A leader accepts a topic the monthly job proposed (a candidate) or dismisses it."""
    action = "accepted" if form_text(await read_form(request), "accept", 1) == "1" else "dismissed"
    return await _staff_step(request, session, settings, action, topic_id)
