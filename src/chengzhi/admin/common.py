"""What every admin page shares: who may use them, the frame, and form errors in the page's language."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.i18n import Language, message
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role, Unit, UnitKind
from chengzhi.org.service import Actor
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, FormErrors, chrome, csrf_ok, page_actor, render

KIND_NAMES = {
    UnitKind.city: N_("City"),
    UnitKind.district: N_("District"),
    UnitKind.street: N_("Street office or township"),
    UnitKind.community: N_("Community"),
    UnitKind.department: N_("Department"),
}
ROLE_NAMES = {
    Role.resident: N_("Resident"),
    Role.operator: N_("Operator"),
    Role.dispatcher: N_("Dispatcher"),
    Role.handler: N_("Handler"),
    Role.supervisor: N_("Supervisor"),
    Role.leader: N_("Leader"),
    Role.admin: N_("Administrator"),
    Role.analyst: N_("Analyst"),
    Role.credit_officer: N_("Credit officer"),
    Role.knowledge_editor: N_("Knowledge editor"),
    Role.data_publisher: N_("Data publisher"),
}

# Pydantic error type -> message; `min_length` 1 reads as "required".
_REQUIRED = N_("This field is required.")
_TOO_SHORT = N_("Enter at least %(min)s characters.")
_TOO_LONG = N_("At most %(limit)s characters.")
_CHOOSE = N_("Choose one of the options.")
_NOT_VALID = N_("This value is not valid.")
CODE_PATTERN = N_("Use only letters, digits and . _ - (no spaces).")


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class ForbiddenPage:
    message: str


@dataclass(frozen=True)
class Admin:
    """The signed-in administrator and the page frame."""

    actor: Actor
    frame: Chrome

    @property
    def lang(self) -> Language:
        return self.frame.lang

    def t(self, text: str, **params: object) -> str:
        return gettext(self.lang, text, **params)

    def covers(self, unit: Unit) -> bool:
        return self.actor.covers(unit.path, Role.admin)

    @property
    def at_root(self) -> bool:
        return self.actor.holds_at_root(Role.admin)


def admin_or_refuse(request: Request, session: Session) -> Admin | Response:
    """Anonymous -> the sign-in page (and back here); signed in without an admin role -> a 403 page."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not actor.has_role(Role.admin):
        text = gettext(frame.lang, N_("These pages are for administrators."))
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    return Admin(actor, frame)


def refuse(request: Request, admin: Admin, text: str) -> Response:
    """A 403 page for an administrator acting outside their units."""
    return render(request, "forbidden.html", ForbiddenPage(text), admin.frame, status_code=403)


def out_of_scope(request: Request, admin: Admin) -> Response:
    return refuse(request, admin, admin.t(N_("This unit is outside the units you administer.")))


def check_csrf(request: Request, form: FormData, errors: FormErrors, lang: Language) -> None:
    if not csrf_ok(request, form):
        errors.add("form", message("csrf_failed", lang))


def text(form: FormData, name: str, limit: int = 2000) -> str:
    """A form field as trimmed text of at most `limit` characters; NUL characters (which PostgreSQL cannot store
    in text) are dropped."""
    value = form.get(name)
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else ""


def pydantic_errors(
    exc: ValidationError, errors: FormErrors, lang: Language, patterns: dict[str, str] | None = None
) -> None:
    """Each field's first validation error, as a message next to that field."""
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = str(loc[0]) if loc else "form"
        kind = error.get("type", "")
        ctx = error.get("ctx") or {}
        if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
            text_ = gettext(lang, _REQUIRED)
        elif kind == "string_too_short":
            text_ = gettext(lang, _TOO_SHORT, min=ctx.get("min_length"))
        elif kind == "string_too_long":
            text_ = gettext(lang, _TOO_LONG, limit=ctx.get("max_length"))
        elif kind == "string_pattern_mismatch":
            text_ = gettext(lang, (patterns or {}).get(name, CODE_PATTERN))
        elif kind in ("enum", "literal_error"):
            text_ = gettext(lang, _CHOOSE)
        else:
            text_ = gettext(lang, _NOT_VALID)
        errors.add(name, text_)


def kind_name(kind: UnitKind | str, lang: Language) -> str:
    try:
        return gettext(lang, KIND_NAMES[UnitKind(kind)])
    except ValueError:
        return str(kind)


def role_name(role: Role | str, lang: Language) -> str:
    try:
        return gettext(lang, ROLE_NAMES[Role(role)])
    except ValueError:
        return str(role)


def depth(unit: Unit) -> int:
    """0 for a city, 1 for a district or a city department, ..."""
    return max(0, unit.path.count("/") - 2)


def unit_choices(units: list[Unit], lang: Language) -> list[Choice]:
    """Units in tree order, indented by depth (a select's options cannot be styled)."""
    return [Choice(str(u.id), "\u3000" * depth(u) + f"{u.name(lang)} ({u.code})") for u in units]


def administered(session: Session, admin: Admin) -> list[Unit]:
    """Active units under the administrator's own units, in tree order."""
    return org_queries.active_units_under_any(session, admin.actor.paths_for(Role.admin))


def parse_id(raw: str) -> int | None:
    """A positive database id from a URL or form field, or None."""
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else None
