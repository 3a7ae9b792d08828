"""Admin pages of categories: the list, creating and editing one, with time limits and Open311 questions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.admin.common import Admin, Choice, admin_or_refuse, check_csrf, kind_name, pydantic_errors, text
from chengzhi.categories import service as categories
from chengzhi.categories.models import STAGES, Category, HandlerKind, Priority
from chengzhi.categories.schemas import CategoryCreate
from chengzhi.categories.timelimits import STAGE_NAMES
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, not_found, render

router = APIRouter(include_in_schema=False)

MAX_QUESTIONS = 30
PRIORITY_NAMES = {
    Priority.emergency: N_("Emergency"),
    Priority.high: N_("High"),
    Priority.normal: N_("Normal"),
    Priority.low: N_("Low"),
}
DATATYPE_NAMES = {
    "string": N_("Short text"),
    "text": N_("Long text"),
    "number": N_("Number"),
    "datetime": N_("Date and time"),
    "singlevaluelist": N_("One value from a list"),
    "multivaluelist": N_("Several values from a list"),
}


# ---------------------------------------------------------------- contexts


@dataclass
class QuestionForm:
    code: str = ""
    datatype: str = "string"
    required: bool = False
    description: str = ""
    values: str = ""  # one per line: "key = name" (or just "key")

    @property
    def blank(self) -> bool:
        return not (self.code or self.description or self.values)


@dataclass
class CategoryForm:
    code: str = ""
    name_zh: str = ""
    name_en: str = ""
    group_zh: str = ""
    group_en: str = ""
    handler_kind: str = ""
    handler_function: str = ""
    default_priority: str = Priority.normal.value
    limits: dict[str, str] = field(default_factory=dict)
    description: str = ""
    keywords: str = ""
    active: bool = True
    questions: list[QuestionForm] = field(default_factory=list)


@dataclass
class CategoryEditPage:
    form: CategoryForm
    editing: bool
    handler_kinds: list[Choice]
    priorities: list[Choice]
    datatypes: list[Choice]
    stages: list[Choice]
    notice: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)


@dataclass(frozen=True)
class CategoryRow:
    code: str
    name: str
    group: str
    handler: str
    priority: str
    limits: str
    questions: int
    active: bool


@dataclass
class CategoriesPage:
    rows: list[CategoryRow]
    notice: str | None = None


# ---------------------------------------------------------------- helpers


def _priority(value: str, lang: Language) -> str:
    try:
        return gettext(lang, PRIORITY_NAMES[Priority(value)])
    except ValueError:
        return value


def _handler(category: Category, lang: Language) -> str:
    name = kind_name(category.handler_kind.value, lang)
    return f"{name} · {category.handler_function}" if category.handler_function else name


def _edit_page(admin: Admin, form: CategoryForm, *, editing: bool) -> CategoryEditPage:
    lang = admin.lang
    # Always one empty question row to fill in; "Add a question" asks for another.
    if not form.questions or not form.questions[-1].blank:
        form.questions.append(QuestionForm())
    return CategoryEditPage(
        form=form,
        editing=editing,
        handler_kinds=[Choice(k.value, kind_name(k.value, lang)) for k in HandlerKind],
        priorities=[Choice(p.value, _priority(p.value, lang)) for p in Priority],
        datatypes=[Choice(k, gettext(lang, v)) for k, v in DATATYPE_NAMES.items()],
        stages=[Choice(s, gettext(lang, STAGE_NAMES[s])) for s in STAGES],
    )


def _form_of(category: Category) -> CategoryForm:
    return CategoryForm(
        code=category.code,
        name_zh=category.name_zh,
        name_en=category.name_en,
        group_zh=category.group_zh,
        group_en=category.group_en,
        handler_kind=category.handler_kind.value,
        handler_function=category.handler_function or "",
        default_priority=category.default_priority.value,
        limits=dict(category.time_limits or {}),
        description=category.description,
        keywords=category.keywords,
        active=category.active,
        questions=[
            QuestionForm(
                code=a.get("code", ""),
                datatype=a.get("datatype", "string"),
                required=bool(a.get("required")),
                description=a.get("description", ""),
                values="\n".join(
                    v["key"] if v.get("name") in (None, "", v["key"]) else f"{v['key']} = {v['name']}"
                    for v in a.get("values", [])
                ),
            )
            for a in category.attributes or []
        ],
    )


def _read_form(form: FormData, code: str | None) -> CategoryForm:
    questions = []
    for i in range(MAX_QUESTIONS):
        if f"q{i}_code" not in form:
            break
        questions.append(
            QuestionForm(
                code=text(form, f"q{i}_code", 80),
                datatype=text(form, f"q{i}_datatype", 20) or "string",
                required=form.get(f"q{i}_required") == "on",
                description=text(form, f"q{i}_description", 500),
                values=text(form, f"q{i}_values", 5000),
            )
        )
    return CategoryForm(
        code=code if code is not None else text(form, "code", 60),
        name_zh=text(form, "name_zh", 200),
        name_en=text(form, "name_en", 200),
        group_zh=text(form, "group_zh", 200),
        group_en=text(form, "group_en", 200),
        handler_kind=text(form, "handler_kind", 20),
        handler_function=text(form, "handler_function", 80),
        default_priority=text(form, "default_priority", 20),
        limits={stage: text(form, f"limit_{stage}", 20) for stage in STAGES},
        description=text(form, "description", 3000),
        keywords=text(form, "keywords", 600),
        active=form.get("active") == "on",
        questions=[q for q in questions if not q.blank],
    )


def _check(admin: Admin, shown: CategoryForm, errors: FormErrors) -> dict[str, Any] | None:
    """The fields as the service takes them, or None with each problem next to its field."""
    lang = admin.lang
    fields = {
        "code": shown.code,
        "name_zh": shown.name_zh,
        "name_en": shown.name_en,
        "group_zh": shown.group_zh,
        "group_en": shown.group_en,
        "description": shown.description,
        "keywords": shown.keywords,
        "handler_kind": shown.handler_kind,
        "handler_function": shown.handler_function or None,
        "default_priority": shown.default_priority,
    }
    body = None
    try:
        body = CategoryCreate.model_validate(fields)
    except ValidationError as exc:
        pydantic_errors(exc, errors, lang)
    if shown.code.lower() == "new" and not errors.get("code"):
        errors.add("code", admin.t(N_("This code is taken by the page for new categories: choose another.")))
    if shown.handler_kind == HandlerKind.department.value and not shown.handler_function:
        errors.add(
            "handler_function", admin.t(N_("A department category needs the function of the department."))
        )
    limits: dict[str, str] = {}
    for stage in STAGES:
        value = shown.limits.get(stage, "")
        if not value:
            continue
        try:
            limits.update(categories.validate_time_limits({stage: value}))
        except ChengzhiError as exc:
            errors.add(f"limit_{stage}", message(exc.code, lang, exc.params))
    # The page adds empty rows to fill in, always after the filled ones: their indices stay the same.
    attributes = _questions(admin, [q for q in shown.questions if not q.blank], errors)
    if body is None or errors:
        return None
    data = body.model_dump(exclude={"attributes", "time_limits", "service_type"})
    data["time_limits"] = limits
    data["attributes"] = attributes
    return data


def _questions(admin: Admin, questions: list[QuestionForm], errors: FormErrors) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, question in enumerate(questions):
        code = question.code
        if not code:
            errors.add(f"q{i}_code", admin.t(N_("Give the question a code.")))
        elif len(code) > 60:
            errors.add(f"q{i}_code", admin.t(N_("At most %(limit)s characters."), limit=60))
        elif code in seen:
            errors.add(f"q{i}_code", admin.t(N_("Another question already has this code.")))
        seen.add(code)
        if question.datatype not in DATATYPE_NAMES:
            errors.add(f"q{i}_datatype", admin.t(N_("Choose one of the options.")))
        values = []
        keys: set[str] = set()
        for line in question.values.splitlines():
            if not line.strip():
                continue
            key, _sep, name = (part.strip() for part in line.partition("="))
            if not key or len(key) > 80 or len(name) > 200:
                errors.add(f"q{i}_values", admin.t(N_("Each line is one value: key = name.")))
            elif key in keys:
                errors.add(f"q{i}_values", admin.t(N_("The value %(key)s is listed twice."), key=key))
            keys.add(key)
            values.append({"key": key, "name": name or key})
        if question.datatype.endswith("valuelist") and not values:
            errors.add(f"q{i}_values", admin.t(N_("A list question needs its values, one per line.")))
        found.append(
            {
                "code": code,
                "datatype": question.datatype,
                "required": question.required,
                "description": question.description or code,
                "values": values if question.datatype.endswith("valuelist") else [],
            }
        )
    if errors:
        return []
    return categories.validate_attribute_definitions(found)


# ---------------------------------------------------------------- pages


NOTICES = {"created": N_("The category was created."), "saved": N_("The category was saved.")}


@router.get("/staff/admin/categories")
def categories_list(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    lang = admin.lang
    rows = [
        CategoryRow(
            code=c.code,
            name=c.name(lang),
            group=(c.group_en if lang == "en" else c.group_zh) or "—",
            handler=_handler(c, lang),
            priority=_priority(c.default_priority.value, lang),
            limits=" · ".join(
                f"{gettext(lang, STAGE_NAMES[s])} {c.time_limits[s]}"
                for s in STAGES
                if s in (c.time_limits or {})
            ),
            questions=len(c.attributes or []),
            active=c.active,
        )
        for c in categories.list_categories(session, include_inactive=True)
    ]
    return render(request, "admin/categories.html", CategoriesPage(rows), admin.frame)


@router.get("/staff/admin/categories/new")
def new_category_form(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    page = _edit_page(admin, CategoryForm(), editing=False)
    return render(request, "admin/category_edit.html", page, admin.frame)


async def _save(request: Request, session: Session, admin: Admin, category: Category | None) -> Response:
    lang = admin.lang
    form = await request.form(max_files=0, max_fields=40 + 6 * MAX_QUESTIONS)
    shown = _read_form(form, category.code if category else None)
    more = form.get("more") == "1"
    page = _edit_page(admin, shown, editing=category is not None)
    if more and len(shown.questions) < MAX_QUESTIONS:
        shown.questions.append(QuestionForm())
    check_csrf(request, form, page.errors, lang)
    if more:
        return render(request, "admin/category_edit.html", page, admin.frame)
    data = _check(admin, shown, page.errors)
    if data is not None and not page.errors:
        try:
            if category is None:
                category = categories.create_category(session, **data)
                done = "created"
            else:
                data.pop("code")
                data["active"] = shown.active
                categories.update_category(session, category, **data)
                done = "saved"
            session.commit()
        except ChengzhiError as exc:
            session.rollback()
            page.errors.add(
                "code" if exc.code == "code_taken" else "form", message(exc.code, lang, exc.params)
            )
        else:
            return RedirectResponse(
                f"/staff/admin/categories/{quote(category.code, safe='')}?done={done}", status_code=303
            )
    return render(request, "admin/category_edit.html", page, admin.frame, status_code=422)


@router.post("/staff/admin/categories")
async def create_category(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    return await _save(request, session, admin, None)


def _find(session: Session, code: str) -> Category | None:
    try:
        return categories.get_category(session, code[:40])
    except ChengzhiError:
        return None


@router.get("/staff/admin/categories/{code}")
def edit_category_form(code: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    category = _find(session, code)
    if category is None:
        return not_found(request, admin.frame, message("category_not_found", admin.lang, {"ref": code[:40]}))
    page = _edit_page(admin, _form_of(category), editing=True)
    done = request.query_params.get("done", "")
    page.notice = admin.t(NOTICES[done]) if done in NOTICES else None
    return render(request, "admin/category_edit.html", page, admin.frame)


@router.post("/staff/admin/categories/{code}")
async def update_category(code: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    category = _find(session, code)
    if category is None:
        return not_found(request, admin.frame, message("category_not_found", admin.lang, {"ref": code[:40]}))
    return await _save(request, session, admin, category)
