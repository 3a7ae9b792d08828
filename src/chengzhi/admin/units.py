"""Admin pages of the organisation: the unit tree with search, creating a unit, a unit's page and its area."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import Response

from chengzhi.admin.areas import AREA_MAX_BYTES, AreaRefused, fit_warnings, read_area
from chengzhi.admin.common import (
    Admin,
    Choice,
    admin_or_refuse,
    administered,
    check_csrf,
    depth,
    kind_name,
    out_of_scope,
    parse_id,
    pydantic_errors,
    text,
    unit_choices,
)
from chengzhi.admin.users import managed_paths
from chengzhi.categories.service import count_categories
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.org import queries as org_queries
from chengzhi.org import service as org
from chengzhi.org.models import ALLOWED_PARENTS, TERRITORIAL, Role, Unit, UnitKind
from chengzhi.org.schemas import UnitCreate
from chengzhi.org.signals import areas_changed
from chengzhi.web.i18n import N_
from chengzhi.web.templating import FormErrors, not_found, render

router = APIRouter(include_in_schema=False)

SEARCH_LIMIT = 200
_FUNCTION = re.compile(r"^[A-Za-z0-9_.\-]+$")


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class UnitRow:
    id: int
    code: str
    name: str
    kind: str
    kind_code: str
    depth: int
    has_area: bool
    trail: str = ""  # the ancestors' names, shown with search results
    folded: int = 0  # communities not listed in the tree (see the street's page)


@dataclass
class UnitsPage:
    query: str
    rows: list[UnitRow]
    truncated: bool
    searched: bool


@dataclass
class UnitForm:
    code: str = ""
    name_zh: str = ""
    name_en: str = ""
    kind: str = ""
    parent: str = ""
    function: str = ""


@dataclass
class NewUnitPage:
    form: UnitForm
    kinds: list[Choice]
    parents: list[Choice]
    errors: FormErrors = field(default_factory=FormErrors)


@dataclass(frozen=True)
class Crumb:
    id: int
    name: str


@dataclass
class UnitPage:
    id: int
    code: str
    name: str
    name_zh: str
    name_en: str
    kind: str
    kind_code: str
    function: str | None
    trail: list[Crumb]
    children: list[UnitRow]
    territorial: bool
    has_area: bool
    area_url: str
    can_edit: bool
    max_area_mb: int
    context_url: str | None = None  # the parent's area, drawn around this one
    warnings: list[str] = field(default_factory=list)
    notice: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)


@dataclass
class AdminHome:
    units: int
    categories: int
    users: int


# ---------------------------------------------------------------- helpers


def _with_area(session: Session) -> set[int]:
    return org_queries.unit_ids_with_area(session)


def _row(unit: Unit, admin: Admin, areas: set[int], *, trail: str = "", folded: int = 0) -> UnitRow:
    return UnitRow(
        id=unit.id,
        code=unit.code,
        name=unit.name(admin.lang),
        kind=kind_name(unit.kind, admin.lang),
        kind_code=unit.kind.value,
        depth=depth(unit),
        has_area=unit.id in areas,
        trail=trail,
        folded=folded,
    )


# ---------------------------------------------------------------- pages


@router.get("/staff/admin")
def admin_home(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    page = AdminHome(
        units=len(administered(session, admin)),
        categories=count_categories(session),
        users=org_queries.count_managed_users(session, managed_paths(admin)),
    )
    return render(request, "admin/home.html", page, admin.frame)


@router.get("/staff/admin/units")
def units_tree(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    query = request.query_params.get("q", "").strip()[:80]
    units = administered(session, admin)
    areas = _with_area(session)
    by_id = {u.id: u for u in units}
    rows: list[UnitRow] = []
    truncated = False
    if query:
        needle = query.lower()
        matches = [
            u
            for u in units
            if needle in u.name_zh.lower() or needle in u.name_en.lower() or needle in u.code.lower()
        ]
        truncated = len(matches) > SEARCH_LIMIT
        for unit in matches[:SEARCH_LIMIT]:
            ancestors = [by_id[int(p)] for p in unit.path.strip("/").split("/")[:-1] if int(p) in by_id]
            trail = " › ".join(a.name(admin.lang) for a in ancestors)
            rows.append(_row(unit, admin, areas, trail=trail))
    else:
        # A city has thousands of communities: the tree stops at the streets, each street's page lists its own.
        communities: dict[int | None, int] = {}
        for unit in units:
            if unit.kind == UnitKind.community:
                communities[unit.parent_id] = communities.get(unit.parent_id, 0) + 1
        rows = [
            _row(u, admin, areas, folded=communities.get(u.id, 0))
            for u in units
            if u.kind != UnitKind.community
        ]
    page = UnitsPage(query=query, rows=rows, truncated=truncated, searched=bool(query))
    return render(request, "admin/units.html", page, admin.frame)


def _new_unit_page(session: Session, admin: Admin, form: UnitForm) -> NewUnitPage:
    units = [u for u in administered(session, admin) if u.kind != UnitKind.community]
    kinds = [Choice(k.value, kind_name(k, admin.lang)) for k in UnitKind]
    if not admin.at_root:
        kinds = [c for c in kinds if c.value != UnitKind.city.value]
    return NewUnitPage(form=form, kinds=kinds, parents=unit_choices(units, admin.lang))


@router.get("/staff/admin/units/new")
def new_unit_form(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    parent = request.query_params.get("parent", "")[:12]
    page = _new_unit_page(session, admin, UnitForm(parent=parent if parse_id(parent) else ""))
    return render(request, "admin/unit_new.html", page, admin.frame)


@router.post("/staff/admin/units")
async def create_unit(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    lang = admin.lang
    form = await request.form(max_files=0, max_fields=50)
    shown = UnitForm(
        code=text(form, "code", 60),
        name_zh=text(form, "name_zh", 300),
        name_en=text(form, "name_en", 300),
        kind=text(form, "kind", 20),
        parent=text(form, "parent", 12),
        function=text(form, "function", 80),
    )
    page = _new_unit_page(session, admin, shown)
    errors = page.errors
    check_csrf(request, form, errors, lang)
    parent_id = parse_id(shown.parent) if shown.parent else None
    if shown.parent and parent_id is None:
        errors.add("parent", admin.t(N_("Choose a parent unit from the list.")))
    body = None
    try:
        body = UnitCreate.model_validate(
            {
                "code": shown.code,
                "name_zh": shown.name_zh,
                "name_en": shown.name_en,
                "kind": shown.kind,
                "parent_id": parent_id,
                "function": shown.function or None,
            }
        )
    except ValidationError as exc:
        pydantic_errors(exc, errors, lang)
    if body is not None and body.kind == UnitKind.department:
        if not shown.function:
            errors.add(
                "function", admin.t(N_("A department needs its function code (categories route by it)."))
            )
        elif not _FUNCTION.match(shown.function):
            errors.add("function", admin.t(N_("Use only letters, digits and . _ - (no spaces).")))
    parent = None
    if parent_id is not None and not errors.get("parent"):
        parent = org_queries.find_unit(session, parent_id)
        if parent is None or not parent.active:
            errors.add("parent", admin.t(N_("Choose a parent unit from the list.")))
        elif not admin.covers(parent):
            errors.add("parent", admin.t(N_("You do not administer this unit.")))
    if body is not None and parent is None and not errors.get("parent"):
        if body.kind != UnitKind.city:
            errors.add("parent", admin.t(N_("Choose the unit this one belongs to.")))
        elif not admin.at_root:
            errors.add("parent", admin.t(N_("Only the city's administrators may add a city.")))
    if body is not None and not errors:
        allowed = ALLOWED_PARENTS[body.kind]
        if (parent.kind if parent else None) not in allowed:
            names = ", ".join(kind_name(k, lang) for k in allowed if k is not None)
            errors.add(
                "parent",
                admin.t(
                    N_("A %(kind)s belongs under: %(parents)s."),
                    kind=kind_name(body.kind, lang),
                    parents=names or "—",
                ),
            )
    if body is not None and not errors:
        try:
            unit = org.create_unit(
                session,
                code=body.code,
                name_zh=body.name_zh,
                name_en=body.name_en,
                kind=body.kind,
                parent=parent,
                function=body.function if body.kind == UnitKind.department else None,
            )
            session.commit()
        except ChengzhiError as exc:
            session.rollback()
            errors.add("code" if exc.code == "code_taken" else "form", message(exc.code, lang, exc.params))
        else:
            areas_changed()
            return RedirectResponse(f"/staff/admin/units/{unit.id}?done=created", status_code=303)
    return render(request, "admin/unit_new.html", page, admin.frame, status_code=422)


def _unit_page(session: Session, admin: Admin, unit: Unit, notice: str | None = None) -> UnitPage:
    lang = admin.lang
    ids = [int(p) for p in unit.path.strip("/").split("/")[:-1]]
    ancestors = org_queries.units_by_id(session, ids)
    areas = _with_area(session)
    children = org_queries.active_children(session, unit.id)
    parent = ancestors.get(unit.parent_id) if unit.parent_id else None
    parent_area = parent.area if parent is not None and parent.id in areas else None
    warnings = []
    if unit.area:
        siblings = org_queries.sibling_areas(session, unit)
        warnings = fit_warnings(
            unit.area,
            (parent.name(lang), parent_area) if parent is not None else None,
            [(en if lang == "en" else zh, area) for zh, en, area in siblings if area],
            lang,
        )
    return UnitPage(
        id=unit.id,
        code=unit.code,
        name=unit.name(lang),
        name_zh=unit.name_zh,
        name_en=unit.name_en,
        kind=kind_name(unit.kind, lang),
        kind_code=unit.kind.value,
        function=unit.function,
        trail=[Crumb(i, ancestors[i].name(lang)) for i in ids if i in ancestors],
        children=[_row(c, admin, areas) for c in children],
        territorial=unit.kind in TERRITORIAL,
        has_area=unit.id in areas,
        area_url=f"/api/v1/units/{unit.id}/area",
        can_edit=admin.covers(unit),
        max_area_mb=AREA_MAX_BYTES // (1024 * 1024),
        context_url=f"/api/v1/units/{parent.id}/area" if parent is not None and parent_area else None,
        warnings=warnings,
        notice=notice,
    )


NOTICES = {
    "created": N_("The unit was created."),
    "area": N_("The area was saved; requests are routed by it from now on."),
}


@router.get("/staff/admin/units/{ref}")
def unit_page(ref: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    unit_id = parse_id(ref)
    unit = org_queries.find_unit(session, unit_id) if unit_id else None
    if unit is None or not any(unit.path.startswith(p) for p in admin.actor.paths_for(Role.admin)):
        return not_found(request, admin.frame, message("unit_not_found", admin.lang, {"ref": ref[:20]}))
    done = request.query_params.get("done", "")
    notice = admin.t(NOTICES[done]) if done in NOTICES else None
    return render(request, "admin/unit.html", _unit_page(session, admin, unit, notice), admin.frame)


@router.post("/staff/admin/units/{ref}/area")
async def upload_area(ref: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    lang = admin.lang
    unit_id = parse_id(ref)
    unit = org_queries.find_unit(session, unit_id) if unit_id else None
    if unit is None:
        return not_found(request, admin.frame, message("unit_not_found", lang, {"ref": ref[:20]}))
    if not admin.covers(unit):
        return out_of_scope(request, admin)
    form = await request.form(max_files=1, max_fields=50)
    page = _unit_page(session, admin, unit)
    check_csrf(request, form, page.errors, lang)
    upload = form.get("area")
    raw = await upload.read(AREA_MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    if unit.kind not in TERRITORIAL:
        page.errors.add("area", admin.t(N_("Departments have no area: upload it for a territorial unit.")))
    if not page.errors:
        try:
            area = read_area(raw, lang)
            org.set_unit_area(session, unit, area)
            session.commit()
        except AreaRefused as exc:
            page.errors.add("area", str(exc))
        except ChengzhiError as exc:
            session.rollback()
            page.errors.add("area", message(exc.code, lang, exc.params))
        else:
            areas_changed()
            return RedirectResponse(f"/staff/admin/units/{unit.id}?done=area", status_code=303)
    return render(request, "admin/unit.html", page, admin.frame, status_code=422)
