"""The knowledge base at intake: the operator's phone-intake form with the best answers beside it as they type
(htmx), one click to answer the call with an article (the answer event records the article's id and version),
and the "this may answer your question" hint for residents on /submit.

The form is built for a twelve-hour shift at the hotline (docs/channels.md): keyboard only (static/intake.js:
Ctrl+Enter registers, Alt+1..3 answers with an article), five fields starting with the caller's number, the
caller's earlier requests from any channel as the number is typed (requests.queries.caller_history), and the
category suggestion of the report form (/submit/suggest) under the text."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.config import Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, RateLimited
from chengzhi.i18n import Language, message
from chengzhi.knowledge import index, service, uses
from chengzhi.knowledge.models import UseOutcome
from chengzhi.knowledge.pages import staff_gate
from chengzhi.ratelimit import check_rate
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as requests_service
from chengzhi.requests.queries import PersonRequest
from chengzhi.requests.workflow import IllegalTransition
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, page_actor, page_language, render

router = APIRouter(include_in_schema=False)

TEXT_LIMIT = 4000
SHOWN = 3  # answers beside the operator's form


@dataclass
class IntakeForm:
    text: str = ""
    address: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    category: str = ""


@dataclass(frozen=True)
class CategoryOption:
    code: str
    name: str


@dataclass
class Shown:
    id: int
    version: int
    question: str
    answer: str
    sure: bool


@dataclass
class IntakePage:
    form: IntakeForm
    errors: FormErrors = field(default_factory=FormErrors)
    answers: list[Shown] = field(default_factory=list)
    refinable: bool = False  # the panel asks once more when the question's vector is ready
    done: str | None = None  # the tracking number of the request just registered
    answered: bool = False
    categories: list[CategoryOption] = field(default_factory=list)
    callers: list[PersonRequest] = field(default_factory=list)  # the caller's earlier requests

    @property
    def phone(self) -> str:
        return self.form.contact_phone


@dataclass
class CallerFragment:
    phone: str
    callers: list[PersonRequest]


@dataclass
class HintFragment:
    answer: Shown | None
    text: str = ""
    feedback: str | None = None
    refinable: bool = False


def _answers(
    session: Session, settings: Settings, text: str, k: int, sure_only: bool, refine: bool = False
) -> tuple[list[Shown], bool]:
    """The answers shown, and whether asking again a moment later would refine them (docs/knowledge.md)."""
    if not text.strip():
        return [], False
    asked = index.ask_more(
        session,
        settings.database_url,
        text,
        k,
        dense=settings.knowledge_dense,
        sure_only=sure_only,
        budget=index.budget(settings, refine),
    )
    shown = [
        Shown(a.article.id, a.article.version, a.article.questions[0], a.article.answer, a.sure)
        for a in asked.answers
    ]
    return shown, asked.refinable and not refine


def _categories(session: Session, lang: Language) -> list[CategoryOption]:
    return [CategoryOption(c.code, c.name(lang)) for c in list_categories(session)]


def _field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.get("/staff/intake")
def intake_form(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    done = request.query_params.get("done", "")[:40]
    page = IntakePage(
        IntakeForm(),
        done=done or None,
        answered=request.query_params.get("answered") == "1",
        categories=_categories(session, frame.lang),
    )
    return render(request, "knowledge/intake.html", page, frame)


@router.get("/staff/intake/caller")
def intake_caller(request: Request, session: SessionDep) -> Response:
    """The fragment beside the phone field: the caller's earlier requests by their number, from any channel."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    phone = request.query_params.get("contact_phone", "")[:20]
    rows = requests_queries.caller_history(session, actor, phone)
    page = CallerFragment(phone, requests_queries.person_rows(rows, frame.lang))
    return render(request, "knowledge/_caller.html", page, frame)


@router.get("/staff/intake/answers")
def intake_answers(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The fragment beside the form: the best answers to what the operator typed so far."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    text = request.query_params.get("text", "")[:TEXT_LIMIT]
    refine = request.query_params.get("refine") == "1"
    answers, refinable = _answers(session, settings, text, SHOWN, False, refine)
    page = IntakePage(IntakeForm(text=text), answers=answers, refinable=refinable)
    return render(request, "knowledge/_answers.html", page, frame)


@router.post("/staff/intake")
async def intake_submit(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Register the call; with `article_id`, answer it at intake with that article at once."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    form = await request.form(max_fields=50, max_files=0)
    values = IntakeForm(
        text=_field(form, "text", TEXT_LIMIT),
        address=_field(form, "address", 300),
        contact_name=_field(form, "contact_name", 120),
        contact_phone=_field(form, "contact_phone", 20),
        category=_field(form, "category", 40),
    )
    errors = FormErrors()
    if not csrf_ok(request, form):
        errors.add("form", message("csrf_failed", lang))
    if not values.text:
        errors.add("text", gettext(lang, N_("Write down what the caller asks.")))
    chosen_raw = _field(form, "article_id", 12)
    shown_ids = {int(v) for v in form.getlist("shown") if isinstance(v, str) and v.isdigit() and len(v) < 12}
    chosen = service.get_published(session, int(chosen_raw)) if chosen_raw.isdigit() else None
    if chosen_raw and chosen is None:
        errors.add("form", gettext(lang, N_("That article is no longer published; choose another answer.")))
    if not errors:
        try:
            created = requests_service.submit_request(
                session,
                actor,
                requests_service.Submission(
                    text=values.text,
                    channel="phone",
                    category_code=values.category or None,
                    address=values.address or None,
                    contact_name=values.contact_name or None,
                    contact_phone=values.contact_phone or None,
                    language=page_language(request),
                ),
                settings,
            )
            if chosen is not None:
                requests_service.answer_at_intake(
                    session,
                    actor,
                    created,
                    chosen.answer,
                    settings,
                    article={"id": chosen.id, "version": chosen.version},
                )
                uses.record(
                    session, chosen, UseOutcome.answered, "phone", request_id=created.id, question=values.text
                )
            for article_id in sorted(shown_ids - ({chosen.id} if chosen else set())):
                shown = service.get_published(session, article_id)
                if shown is not None and chosen is None:
                    uses.record(
                        session,
                        shown,
                        UseOutcome.rejected,
                        "phone",
                        request_id=created.id,
                        question=values.text,
                    )
            number = created.tracking_number
            session.commit()
        except (ChengzhiError, IllegalTransition) as exc:
            session.rollback()
            code = exc.code if isinstance(exc, ChengzhiError) else "conflict"
            params = exc.params if isinstance(exc, ChengzhiError) else {}
            errors.add("form", message(code, lang, params))
        else:
            answered = "&answered=1" if chosen is not None else ""
            return RedirectResponse(f"/staff/intake?done={number}{answered}", status_code=303)
    page = IntakePage(
        values,
        errors,
        _answers(session, settings, values.text, SHOWN, False)[0],
        categories=_categories(session, lang),
        callers=requests_queries.person_rows(
            requests_queries.caller_history(session, actor, values.contact_phone), lang
        ),
    )
    return render(request, "knowledge/intake.html", page, frame, status_code=422)


@router.get("/knowledge/hint")
def resident_hint(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """For /submit: the one article that surely answers what the resident is writing, or nothing."""
    frame = chrome(request, page_actor(request, session))
    text = request.query_params.get("text", "")[:TEXT_LIMIT]
    refine = request.query_params.get("refine") == "1"
    client = request.client.host if request.client else "unknown"
    try:  # the same limit as the API's answers; over it the hint shows nothing (it is only a hint)
        check_rate(settings.rate_limit_storage, settings.knowledge_suggest_rate, "knowledge", client)
    except RateLimited:
        return render(request, "knowledge/_hint.html", HintFragment(None, text), frame)
    found, refinable = _answers(session, settings, text, 1, True, refine)
    page = HintFragment(found[0] if found else None, text, refinable=refinable)
    return render(request, "knowledge/_hint.html", page, frame)


@router.post("/knowledge/hint/feedback")
async def hint_feedback(request: Request, session: SessionDep) -> Response:
    """The resident's word on the hint: it answered the question, or it did not."""
    frame = chrome(request, page_actor(request, session))
    form = await request.form(max_fields=10, max_files=0)
    raw = _field(form, "article_id", 12)
    article = service.get_published(session, int(raw)) if raw.isdigit() else None
    helped = _field(form, "helped", 3) == "yes"
    if article is not None and csrf_ok(request, form):
        outcome = UseOutcome.helped if helped else UseOutcome.not_helped
        uses.record(session, article, outcome, "web", question=_field(form, "text", TEXT_LIMIT))
        session.commit()
    text = (
        N_("We are glad it helped: you do not need to send a report.")
        if helped
        else N_("Thank you. Send your report below and the city will answer it.")
    )
    return render(
        request, "knowledge/_hint.html", HintFragment(None, feedback=gettext(frame.lang, text)), frame
    )
