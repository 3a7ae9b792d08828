"""Editors' pages: the articles (list, write, review, publish, withdraw, version history) and the expiry review
reminder, under /staff/knowledge. Every write goes through knowledge.service, the same functions as the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, Text, message
from chengzhi.knowledge import service, uses
from chengzhi.knowledge.models import ArticleStatus, KnowledgeArticle, KnowledgeArticleVersion
from chengzhi.org.service import Actor, list_units
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, FormErrors, chrome, csrf_ok, page_actor, render

router = APIRouter(include_in_schema=False)

STATUS_NAMES = {
    "draft": N_("Draft"),
    "published": N_("Published"),
    "withdrawn": N_("Withdrawn"),
}
ACTION_NAMES = {
    "created": N_("created"),
    "imported": N_("imported"),
    "edited": N_("edited"),
    "published": N_("published"),
    "withdrawn": N_("withdrawn"),
}
# Where a service error belongs on the article form.
ERROR_FIELDS = {
    "knowledge_questions_required": "questions",
    "knowledge_answer_required": "answer",
    "knowledge_validity_order": "valid_until",
    "category_not_found": "category_code",
    "unit_not_found": "unit_id",
    "forbidden_role": "unit_id",
}


@dataclass
class ForbiddenPage:
    message: str


@dataclass
class ArticleForm:
    questions: str = ""
    answer: str = ""
    unit_id: str = ""
    category_code: str = ""
    keywords: str = ""
    valid_from: str = ""
    valid_until: str = ""
    source: str = ""

    @classmethod
    def of(cls, article: KnowledgeArticle) -> ArticleForm:
        return cls(
            questions="\n".join(article.questions),
            answer=article.answer,
            unit_id=str(article.unit_id),
            category_code=article.category_code or "",
            keywords="、".join(article.keywords),
            valid_from=article.valid_from.isoformat() if article.valid_from else "",
            valid_until=article.valid_until.isoformat() if article.valid_until else "",
            source=article.source or "",
        )


@dataclass
class ListPage:
    articles: list[KnowledgeArticle]
    due: list[KnowledgeArticle]
    status: str
    statuses: dict[str, str]
    may_write: bool
    today: dt.date


@dataclass
class ArticlePage:
    article: KnowledgeArticle | None
    form: ArticleForm
    errors: FormErrors
    units: list[tuple[int, str]]
    categories: list[tuple[str, str]]
    may_edit: bool
    history: list[KnowledgeArticleVersion] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    done: str | None = None


@dataclass
class ReportPage:
    report: uses.Report
    days: int


def staff_gate(request: Request, actor: Actor, frame: Chrome) -> Response | None:
    """Anonymous -> the sign-in page (and back); signed in but not staff -> a 403 page."""
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not actor.is_staff:
        text = gettext(frame.lang, N_("These pages are for the city's staff."))
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    return None


def _today(request: Request) -> dt.date:
    return dt.datetime.now(ZoneInfo(request.app.state.settings.timezone)).date()


def _names(lang: Language, names: Mapping[str, Text]) -> dict[str, str]:
    return {k: gettext(lang, v) for k, v in names.items()}


def _choices(
    session: Session, actor: Actor, lang: Language
) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    units = list_units(session)
    allowed = set(service.editable_unit_ids(session, actor, units))
    unit_choices = [
        (u.id, u.name_zh if lang == "zh" else (u.name_en or u.name_zh)) for u in units if u.id in allowed
    ]
    categories = [(c.code, c.name_zh if lang == "zh" else c.name_en) for c in list_categories(session)]
    return unit_choices, categories


def _read(form: FormData) -> ArticleForm:
    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    return ArticleForm(
        questions=text("questions", 20_000),
        answer=text("answer", service.MAX_ANSWER),
        unit_id=text("unit_id", 12),
        category_code=text("category_code", 40),
        keywords=text("keywords", 2_000),
        valid_from=text("valid_from", 10),
        valid_until=text("valid_until", 10),
        source=text("source", 300),
    )


def _input(values: ArticleForm, errors: FormErrors, lang: Language) -> service.ArticleInput | None:
    dates: dict[str, dt.date | None] = {}
    for name in ("valid_from", "valid_until"):
        raw = getattr(values, name)
        try:
            dates[name] = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            errors.add(name, gettext(lang, N_("Enter a date such as 2027-01-31.")))
    if not values.unit_id.isdigit():
        errors.add("unit_id", gettext(lang, N_("Choose the unit that answers.")))
    if errors:
        return None
    keywords = [
        k for k in values.keywords.replace("，", "、").replace(",", "、").replace(";", "、").split("、")
    ]
    return service.ArticleInput(
        questions=[q[:500] for q in values.questions.splitlines()],
        answer=values.answer,
        unit_id=int(values.unit_id),
        category_code=values.category_code or None,
        keywords=tuple(k.strip()[:60] for k in keywords if k.strip()),
        valid_from=dates.get("valid_from"),
        valid_until=dates.get("valid_until"),
        source=values.source or None,
    )


def _article_page(
    session: Session, actor: Actor, lang: Language, article: KnowledgeArticle | None, form: ArticleForm
) -> ArticlePage:
    units, categories = _choices(session, actor, lang)
    may_edit = article is None or service.can_edit(session, actor, article)
    return ArticlePage(
        article=article,
        form=form,
        errors=FormErrors(),
        units=units,
        categories=categories,
        may_edit=may_edit,
        history=service.history(session, actor, article.id) if article is not None else [],
        statuses=_names(lang, STATUS_NAMES),
        actions=_names(lang, ACTION_NAMES),
    )


@router.get("/staff/knowledge")
def article_list(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    raw = request.query_params.get("status", "")
    status = ArticleStatus(raw) if raw in STATUS_NAMES else None
    today = _today(request)
    units, _ = _choices(session, actor, frame.lang)
    page = ListPage(
        articles=service.list_articles(session, actor, status, limit=200),
        due=service.review_due(session, actor, today),
        status=raw if status else "",
        statuses=_names(frame.lang, STATUS_NAMES),
        may_write=bool(units),
        today=today,
    )
    return render(request, "knowledge/list.html", page, frame)


@router.get("/staff/knowledge/new")
def new_article(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    return render(
        request,
        "knowledge/article.html",
        _article_page(session, actor, frame.lang, None, ArticleForm()),
        frame,
    )


@router.get("/staff/knowledge/report")
def knowledge_report(request: Request, session: SessionDep) -> Response:
    """The dashboard of the knowledge base: the share of consultations answered at intake, the articles most used
    and most often rejected, and those shown that did not help."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    raw = request.query_params.get("days", "30")
    days = int(raw) if raw.isdigit() and 1 <= int(raw) <= 3660 else 30
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return render(request, "knowledge/report.html", ReportPage(uses.report(session, since), days), frame)


@router.get("/staff/knowledge/{article_id:int}")
def show_article(article_id: int, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    try:
        article = service.get_article(session, actor, article_id)
    except ChengzhiError as exc:
        text = message(exc.code, frame.lang, exc.params)
        return render(request, "not_found.html", ForbiddenPage(text), frame, status_code=404)
    page = _article_page(session, actor, frame.lang, article, ArticleForm.of(article))
    done = request.query_params.get("done", "")
    page.done = gettext(frame.lang, ACTION_NAMES[done]) if done in ACTION_NAMES else None
    return render(request, "knowledge/article.html", page, frame)


async def _post(request: Request, session: Session, article_id: int | None) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_gate(request, actor, frame)
    if refused is not None:
        return refused
    if not actor.has_role(*service.EDITOR_ROLES):  # refused before reading the form (the form would say 422)
        text = message("forbidden_role", frame.lang, {"roles": "knowledge_editor"})
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    lang = frame.lang
    form = await request.form(max_fields=50, max_files=0)
    action = form.get("action") if isinstance(form.get("action"), str) else "save"
    values = _read(form)
    errors = FormErrors()
    if not csrf_ok(request, form):
        errors.add("form", message("csrf_failed", lang))
    article: KnowledgeArticle | None = None
    try:
        if article_id is not None:
            article = service.get_article(session, actor, article_id)
        if not errors and action in ("publish", "withdraw") and article is not None:
            step = service.publish_article if action == "publish" else service.withdraw_article
            step(session, actor, article.id)
            session.commit()
            done = "published" if action == "publish" else "withdrawn"
            return RedirectResponse(f"/staff/knowledge/{article.id}?done={done}", status_code=303)
        data = _input(values, errors, lang) if not errors else None
        if data is not None:
            if article is None:
                article = service.create_article(session, actor, data)
                done = "created"
            else:
                service.edit_article(session, actor, article.id, data)
                done = "edited"
            session.commit()
            return RedirectResponse(f"/staff/knowledge/{article.id}?done={done}", status_code=303)
    except ChengzhiError as exc:
        session.rollback()
        if article_id is not None and article is None:
            missing = ForbiddenPage(message(exc.code, lang, exc.params))
            return render(request, "not_found.html", missing, frame, status_code=404)
        errors.add(ERROR_FIELDS.get(exc.code, "form"), message(exc.code, lang, exc.params))
    article = service.get_article(session, actor, article_id) if article_id is not None else None
    page = _article_page(session, actor, lang, article, values)
    page.errors = errors
    return render(request, "knowledge/article.html", page, frame, status_code=422)


@router.post("/staff/knowledge/new")
async def create_article(request: Request, session: SessionDep) -> Response:
    return await _post(request, session, None)


@router.post("/staff/knowledge/{article_id:int}")
async def change_article(article_id: int, request: Request, session: SessionDep) -> Response:
    return await _post(request, session, article_id)
