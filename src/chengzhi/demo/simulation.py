"""The demo city's request histories, simulated in time order across all requests through the request service
(see `chengzhi.demo.generate`)."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Generator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.demo import knowledge as demo_knowledge
from chengzhi.demo import texts
from chengzhi.demo.city import DemoCity
from chengzhi.demo.plans import DAY, HOUR, MINUTE, Plan, prepare, weighted
from chengzhi.jobs.service import detect_overdue
from chengzhi.knowledge import uses
from chengzhi.knowledge.models import KnowledgeArticle, UseOutcome
from chengzhi.org.models import Unit, UnitKind
from chengzhi.org.service import Actor
from chengzhi.requests import service as svc
from chengzhi.requests.models import Issue, Request, RequestEvent, RequestUnit
from chengzhi.requests.workflow import STAGE_OF_STATUS, Status

SATISFACTION = ((5, 0.5), (4, 0.24), (3, 0.11), (2, 0.08), (1, 0.07))

# Rows the simulation writes in bulk, given their ids (see Simulation.run).
IDENTIFIED: tuple[type[Request] | type[RequestEvent] | type[RequestUnit] | type[Issue], ...] = (
    Request,
    RequestEvent,
    RequestUnit,
    Issue,
)

Story = Generator[dt.datetime, dt.datetime, None]
Steps = Generator[dt.datetime, dt.datetime, dt.datetime]


class Simulation:
    """Runs every request's story in time order, through the request service, inside one session."""

    def __init__(self, session: Session, settings: Settings, demo: DemoCity, now: dt.datetime) -> None:
        self.session = session
        self.settings = settings
        self.demo = demo
        self.now = now
        self.tz = ZoneInfo(settings.timezone)
        self._unsettled: set[int] = set()
        self.articles: dict[str, KnowledgeArticle] = {}  # the knowledge base's articles (demo/knowledge.py)
        self._consultations = 0
        self._last_id: dict[type[Any], int] = {}

    # ------------------------------------------------------------ engine

    def run(self, plans: list[Plan]) -> None:
        # Two ways to write in batches, with the same rows as step-by-step writing:
        # - Flushing before every query (autoflush) would cost a round of INSERT + UPDATE per step. The request
        #   service's queries read static rows (categories, units) or rows of the request being acted on (the
        #   units that hold it, its last extension request), so those are flushed before a step that reads them
        #   (`_settle`) and everything else waits for the next flush.
        # - Rows whose primary key the database assigns are inserted one statement each (the ORM needs each new
        #   id back); ids given here, in the same order, let a flush insert all new rows of a table at once.
        for model in IDENTIFIED:
            self._last_id[model] = self.session.scalar(select(func.max(model.id))) or 0
        event.listen(self.session, "before_flush", self._identify)
        event.listen(self.session, "after_flush", self._flushed)
        try:
            with self.session.no_autoflush:
                self._run(plans)
            # The periodic job, as it would run now: flags what became overdue in the last minute.
            detect_overdue(self.session, self.settings, self.now)
            self.session.flush()
        finally:
            event.remove(self.session, "before_flush", self._identify)
            event.remove(self.session, "after_flush", self._flushed)

    def _identify(self, session: Session, context: Any, instances: Any) -> None:
        for row in session.new:
            model = type(row)
            if model in self._last_id and row.id is None:
                self._last_id[model] += 1
                row.id = self._last_id[model]

    def _continue_after_database_ids(self) -> None:
        models = (Request, RequestEvent, RequestUnit)
        lasts = self.session.execute(
            select(*(select(func.max(m.id)).scalar_subquery() for m in models))
        ).one()  # one statement for the three: it runs once per request
        for model, last in zip(models, lasts, strict=True):
            self._last_id[model] = max(self._last_id[model], last or 0)

    def _run(self, plans: list[Plan]) -> None:
        # Intake first, in order of arrival; then every later step in time order. Each step is given its own
        # time and reads only its own request's state, so the result is the same as a strict replay, with far
        # fewer flushes.
        heap: list[tuple[dt.datetime, int, Plan, Story]] = []
        for plan in plans:
            story = self.story(plan)
            heap.append((next(story), plan.index, plan, story))
        heapq.heapify(heap)
        while heap:
            when, index, plan, story = heap[0]
            if when > self.now:
                break
            heapq.heappop(heap)
            self.flag_overdue(plan, when)
            try:
                following = story.send(when)
            except StopIteration:
                continue
            heapq.heappush(heap, (max(following, when + MINUTE), index, plan, story))
        for _when, _index, plan, story in sorted(heap, key=lambda item: item[1]):
            story.close()
            self.flag_overdue(plan, self.now)
        self.session.flush()

    def _flushed(self, session: Session, context: Any) -> None:
        self._unsettled.clear()

    def _touched(self, request: Request) -> None:
        """The step just taken added rows that a later step of this request reads."""
        self._unsettled.add(request.id)

    def _settle(self, *requests: Request) -> None:
        if any(r.id in self._unsettled for r in requests):
            self.session.flush()

    def flag_overdue(self, plan: Plan, until: dt.datetime) -> None:
        """Flag the current stage overdue when the job (every minute) would have, and sometimes supervise."""
        request = plan.request
        assert request is not None
        status = Status(request.status)
        if status not in STAGE_OF_STATUS or request.due_at is None or request.overdue_stage is not None:
            return
        marked_at = max(request.due_at, request.updated_at) + dt.timedelta(seconds=plan.rng.randint(20, 80))
        if marked_at >= until:
            return
        svc.mark_overdue(self.session, request, now=marked_at)
        # Supervisors follow overdue requests up (always those planned to run late, so that the demo shows it).
        if plan.late is None and plan.rng.random() < 0.6:
            return
        noted_at = marked_at + min(plan.rng.uniform(0.3, 20) * HOUR, (until - marked_at) / 2)
        if plan.rng.random() < 0.15:
            actor, note = self.demo.leader, texts.pick(plan.rng, texts.LEADER_NOTES)
        else:
            actor = self.supervisor_for(plan.rng, request)
            note = texts.pick(plan.rng, texts.SUPERVISION_NOTES, hours=str(plan.rng.choice((4, 8, 24))))
        assert actor is not None
        self._settle(request)
        svc.supervise_request(self.session, actor, request, note, now=noted_at)

    # ------------------------------------------------------------ who acts

    def handler(self, unit_id: int) -> Actor:
        return self.demo.handlers[unit_id]

    def supervisor_for(self, rng: random.Random, request: Request) -> Actor:
        district = self.demo.district_of.get(request.lead_unit_id or 0)
        if district is not None and rng.random() < 0.75:
            return self.demo.district_supervisors[district]
        assert self.demo.city_supervisor is not None
        return self.demo.city_supervisor

    def closer(self, rng: random.Random, request: Request) -> Actor:
        return self.supervisor_for(rng, request) if rng.random() < 0.7 else rng.choice(self.demo.dispatchers)

    def lead_for(self, request: Request, plan: Plan) -> int:
        suggestion = svc.routing_suggestion(self.session, request)
        if suggestion.unit_id is not None:
            return suggestion.unit_id
        assert plan.community is not None
        return plan.community.district.id

    def wrong_unit(self, rng: random.Random, lead: Unit) -> Unit:
        """A unit a dispatcher could plausibly mistake for the right one (a neighbour, a similar department)."""
        units = self.demo.units.values()
        if lead.kind == UnitKind.department:
            same_function = [u for u in units if u.function == lead.function and u.id != lead.id]
            same_parent = [
                u for u in units if u.kind == UnitKind.department and u.parent_id == lead.parent_id
            ]
            options = same_function or [u for u in same_parent if u.id != lead.id]
        else:
            options = [
                u for u in units if u.kind == lead.kind and u.parent_id == lead.parent_id and u.id != lead.id
            ]
            options = options or [u for u in units if u.kind == lead.kind and u.id != lead.id]
        return rng.choice(sorted(options, key=lambda u: u.id))

    def co_units(self, rng: random.Random, plan: Plan, lead: Unit) -> list[int]:
        community = plan.community
        assert community is not None
        district_code = community.district.code
        candidates = [
            community.street,
            self.demo.units[f"{district_code}-urban_management"],
            self.demo.units[f"{district_code}-housing"],
            community.unit,
        ]
        if lead.kind == UnitKind.department and lead.parent_id == self.demo.city.id:
            candidates.append(self.demo.units["city-emergency_management"])
        options = sorted({u.id for u in candidates if u.id != lead.id})
        return rng.sample(options, min(len(options), rng.randint(1, 2)))

    # ------------------------------------------------------------ time

    def local(self, when: dt.datetime) -> dt.datetime:
        return when.astimezone(self.tz)

    def in_office_hours(self, rng: random.Random, when: dt.datetime, due: dt.datetime | None) -> dt.datetime:
        """Staff act in office hours where the deadline allows it."""
        local = self.local(when)
        if 8 <= local.hour < 20:
            return when
        day = local.date() + (dt.timedelta(days=1) if local.hour >= 20 else dt.timedelta())
        morning = dt.datetime.combine(day, dt.time(8, 30), tzinfo=self.tz) + rng.uniform(0, 100) * MINUTE
        moved = morning.astimezone(dt.UTC)
        return moved if due is None or moved < due else when

    def step_time(
        self,
        rng: random.Random,
        after: dt.datetime,
        due: dt.datetime | None,
        *,
        late: bool,
        share: tuple[float, float],
    ) -> dt.datetime:
        """When a staff member takes the next step: within the time left (a share of it), or after the deadline."""
        if due is None:
            return after + rng.uniform(10, 180) * MINUTE
        window = due - after
        if late:
            return max(after, due) + max(window, 30 * MINUTE) * rng.uniform(0.1, 0.7) + 5 * MINUTE
        if window <= 4 * MINUTE:
            return after + rng.uniform(1, 3) * MINUTE
        low, high = share
        when = after + window * (low + (high - low) * rng.random() ** 1.5)
        return self.in_office_hours(rng, max(when, after + MINUTE), due)

    # ------------------------------------------------------------ stories

    def story(self, plan: Plan) -> Story:
        rng, session, settings = plan.rng, self.session, self.settings
        prepare(plan, self.demo)
        assert plan.submission is not None and plan.actor is not None
        # Intake writes its rows with Core, the database numbering them: the rows numbered here go first, and the
        # numbering here continues after intake's (see `run`).
        session.flush()
        request = svc.submit_request(
            session,
            plan.actor,
            plan.submission,
            settings,
            now=plan.received_at,
            receiving_unit=self.demo.city,
        )
        self._continue_after_database_ids()
        self._touched(request)
        plan.request = request
        t = plan.received_at
        if plan.scenario == "answered":
            t = yield t + rng.uniform(2, 12) * MINUTE
            operator = plan.actor if plan.actor in self.demo.operators else rng.choice(self.demo.operators)
            assert plan.spec is not None
            answer = texts.compose_answer(rng, plan.spec.code, plan.slots)
            self._settle(request)
            article = demo_knowledge.article_for(self.articles, plan.spec.code, answer)
            linked = {"id": article.id, "version": article.version} if article is not None else None
            svc.answer_at_intake(session, operator, request, answer, settings, now=t, article=linked)
            if article is not None:
                uses.record(
                    session, article, UseOutcome.answered, request.channel, request_id=request.id, now=t
                )
            self._consultations += 1
            shown = self.articles.get(f"{plan.spec.code}:{self._consultations % 3}")
            if shown is not None and shown is not article and self._consultations % 2 == 0:
                # Shown to the operator first, who chose another answer.
                uses.record(
                    session, shown, UseOutcome.rejected, request.channel, request_id=request.id, now=t
                )
            yield from self.follow_up(plan, t, rounds=1, rated=rng.random() < 0.5)
            return
        dispatcher = rng.choice(self.demo.dispatchers)
        if plan.queued:
            yield self.now + DAY  # after the end of the simulation: not dispatched yet
        t = yield t + rng.uniform(3, 90) * MINUTE
        lead = self.lead_for(request, plan)
        primary = plan.primary.request if plan.primary else None
        if primary is not None and primary.status != Status.closed.value:
            note = texts.pick(rng, texts.MERGE_NOTES)
            self._settle(request, primary)
            svc.merge_request(session, dispatcher, request, primary, note=note, now=t)
            lead = primary.lead_unit_id or lead
            t = yield t + rng.uniform(1, 10) * MINUTE
        if plan.scenario == "return":
            wrong = self.wrong_unit(rng, self.demo.by_id[lead])
            self._settle(request)
            svc.dispatch_request(session, dispatcher, request, wrong.id, settings, now=t)
            self._touched(request)
            if rng.random() < 0.5:
                t = yield t + rng.uniform(5, 60) * MINUTE
                svc.sign_request(session, self.handler(wrong.id), request, now=t)
            t = yield t + rng.uniform(0.3, 20) * HOUR
            reason = texts.pick(rng, texts.RETURN_REASONS, correct=self.demo.by_id[lead].name_zh)
            svc.return_request(session, self.handler(wrong.id), request, reason, now=t)
            t = yield t + rng.uniform(10, 180) * MINUTE
            note = texts.pick(rng, texts.REDISPATCH_NOTES)
            self._settle(request)
            svc.dispatch_request(session, dispatcher, request, lead, settings, note=note, now=t)
            self._touched(request)
        else:
            self._settle(request)
            svc.dispatch_request(session, dispatcher, request, lead, settings, now=t)
            self._touched(request)
        t = yield from self.handle(plan, t, lead, first=True)
        yield from self.follow_up(
            plan, t, rounds=2 if plan.scenario == "reopen" else 1, rated=plan.scenario != "unrated"
        )

    def handle(self, plan: Plan, t: dt.datetime, lead: int, *, first: bool) -> Steps:
        """Sign, contact, (summon co-units, ask for more time), reply."""
        rng, session, request = plan.rng, self.session, plan.request
        assert request is not None and plan.spec is not None
        handler = self.handler(lead)
        late = plan.late if first else None
        t = yield self.step_time(rng, t, request.due_at, late=late == "sign", share=(0.02, 0.6))
        svc.sign_request(session, handler, request, now=t)
        if plan.scenario == "co_handle" and first:
            t = yield t + rng.uniform(0.3, 6) * HOUR
            co_units = self.co_units(rng, plan, self.demo.by_id[lead])
            names = "、".join(self.demo.by_id[u].name_zh for u in co_units)
            note = texts.pick(rng, texts.CO_HANDLE_NOTES, units=names)
            self._settle(request)
            svc.co_handle_request(session, handler, request, co_units, note=note, now=t)
            self._touched(request)
        t = yield self.step_time(rng, t, request.due_at, late=late == "contact", share=(0.05, 0.6))
        when = rng.choice(("今天下午", "明天上午", "明天下午", "本周内"))
        svc.contact_resident(
            session, handler, request, texts.pick(rng, texts.CONTACT_NOTES, when=when), now=t
        )
        refused = False
        if plan.scenario.startswith("extension") and first:
            t = yield self.step_time(rng, t, request.due_at, late=False, share=(0.3, 0.7))
            days = rng.choice((3, 5, 5, 7, 10))
            svc.request_extension(
                session, handler, request, days, texts.pick(rng, texts.EXTENSION_REASONS), now=t
            )
            self._touched(request)
            t = yield t + rng.uniform(0.5, 20) * HOUR
            approve = plan.scenario == "extension_approved"
            refused = not approve
            options = texts.EXTENSION_APPROVALS if approve else texts.EXTENSION_REFUSALS
            self._settle(request)
            svc.decide_extension(
                session,
                self.supervisor_for(rng, request),
                request,
                approve,
                self.settings,
                note=texts.pick(rng, options),
                now=t,
            )
        late_reply = late == "reply" or (refused and rng.random() < 0.6)
        t = yield self.step_time(rng, t, request.due_at, late=late_reply, share=(0.15, 0.9))
        day = self.local(t)
        slots = dict(plan.slots, date=f"{day.month}月{day.day}日")
        explain = (plan.scenario == "reopen" and first) or rng.random() < 0.08
        place = plan.place
        reply = texts.compose_reply(
            rng, plan.spec.code, slots, explain=explain, name=plan.spec.name_zh, place=place
        )
        svc.reply_request(session, handler, request, reply, self.settings, now=t)
        return t

    def follow_up(self, plan: Plan, t: dt.datetime, *, rounds: int, rated: bool) -> Story:
        """The follow-up visit (回访) or the resident's own rating, then closing; or reopening if unsatisfied."""
        rng, session, request = plan.rng, self.session, plan.request
        assert request is not None
        if not rated:
            t = yield self.step_time(rng, t, request.due_at, late=False, share=(0.3, 0.95))
            self._settle(request)
            svc.close_request(
                session, self.closer(rng, request), request, texts.pick(rng, texts.UNRATED_CLOSE_NOTES), now=t
            )
            return
        own = plan.resident is not None and rng.random() < 0.75
        reviewer = plan.resident if own and plan.resident else self.supervisor_for(rng, request)
        t = yield self.step_time(rng, t, request.due_at, late=plan.late == "review", share=(0.05, 0.8))
        unhappy = rounds > 1
        satisfaction = rng.choice((1, 1, 2, 2, 3)) if unhappy else weighted(rng, SATISFACTION)
        resolved = not unhappy and (satisfaction >= 3 or rng.random() < 0.3)
        comment = texts.pick(rng, texts.REVIEW_COMMENTS[satisfaction]) or None
        self._settle(request)
        svc.review_request(session, reviewer, request, resolved, satisfaction, comment, now=t)
        if unhappy:
            complaint = rng.choice(texts.COMPLAINTS)
            if own and plan.resident and rng.random() < 0.5:
                t = yield t + rng.uniform(0.2, 24) * HOUR
                self._settle(request)
                svc.close_request(
                    session,
                    self.closer(rng, request),
                    request,
                    texts.pick(rng, texts.CLOSE_NOTES) or None,
                    now=t,
                )
                t = yield t + rng.uniform(1, 6) * DAY
                reason = texts.pick(rng, texts.RESIDENT_REOPEN_REASONS, complaint=complaint)
                self._settle(request)
                svc.reopen_request(session, plan.resident, request, reason, now=t)
            else:
                t = yield t + rng.uniform(0.5, 24) * HOUR
                reason = texts.pick(rng, texts.REOPEN_REASONS, complaint=complaint)
                self._settle(request)
                svc.reopen_request(session, self.supervisor_for(rng, request), request, reason, now=t)
            lead = request.lead_unit_id
            assert lead is not None
            t = yield t + rng.uniform(10, 180) * MINUTE
            note = texts.pick(rng, texts.REOPEN_DISPATCH_NOTES)
            self._settle(request)
            svc.dispatch_request(
                session, rng.choice(self.demo.dispatchers), request, lead, self.settings, note=note, now=t
            )
            self._touched(request)
            t = yield from self.handle(plan, t, lead, first=False)
            yield from self.follow_up(plan, t, rounds=rounds - 1, rated=True)
            return
        t = yield t + rng.uniform(0.2, 24) * HOUR
        self._settle(request)
        svc.close_request(
            session, self.closer(rng, request), request, texts.pick(rng, texts.CLOSE_NOTES) or None, now=t
        )
