"""Admin pages of users: a searchable list in keyset pages, creating a user, granting and removing roles,
deactivating. Password hashes are never read into a page; phone numbers are masked in the list."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from chengzhi.admin.common import (
    Admin,
    Choice,
    admin_or_refuse,
    administered,
    check_csrf,
    parse_id,
    pydantic_errors,
    role_name,
    text,
    unit_choices,
)
from chengzhi.config import Settings
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.org import mfa, sessions
from chengzhi.org import queries as org_queries
from chengzhi.org import service as org
from chengzhi.org.models import Role, Unit, User, UserSession
from chengzhi.org.schemas import UserCreate
from chengzhi.requests.access import mask_phone
from chengzhi.web.i18n import N_
from chengzhi.web.templating import FormErrors, not_found, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{2,19}$")
USERNAME_PATTERN = N_("Use only letters, digits and . _ - @ (no spaces).")


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    phone: str | None  # masked
    roles: list[str]
    active: bool


@dataclass
class UsersPage:
    query: str
    role: str
    roles: list[Choice]
    rows: list[UserRow]
    next_url: str | None
    first_url: str | None


@dataclass
class UserForm:
    username: str = ""
    display_name: str = ""
    phone: str = ""
    email: str = ""
    language: str = "zh"
    role: str = ""
    unit: str = ""


@dataclass
class NewUserPage:
    form: UserForm
    roles: list[Choice]
    units: list[Choice]
    min_password: int = 10
    errors: FormErrors = field(default_factory=FormErrors)


@dataclass(frozen=True)
class HeldRole:
    id: int
    role: str
    unit: str
    unit_id: int
    can_remove: bool


@dataclass
class UserPage:
    id: int
    username: str
    display_name: str
    phone: str | None
    email: str | None
    language: str
    active: bool
    created_at: dt.datetime
    held: list[HeldRole]
    roles: list[Choice]
    units: list[Choice]
    can_deactivate: bool
    is_self: bool
    grant_role: str = ""
    grant_unit: str = ""
    notice: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)
    # Where the user is signed in (user_access.py ends them) and whether a second factor is set up.
    sessions: list[UserSession] = field(default_factory=list)
    current_session: int | None = None
    has_factor: bool = False


# ---------------------------------------------------------------- helpers


def managed_paths(admin: Admin) -> list[str] | None:
    """The unit paths under which an administrator manages users: None (everyone) for a city's administrators,
    else the units where they hold the admin role; users are managed where they hold a role."""
    return None if admin.at_root else admin.actor.paths_for(Role.admin)


def _role_choices(admin: Admin) -> list[Choice]:
    return [Choice(r.value, role_name(r, admin.lang)) for r in Role]


def managed_user(session: Session, admin: Admin, ref: str) -> User | None:
    user_id = parse_id(ref)
    if user_id is None:
        return None
    return org_queries.managed_user(session, managed_paths(admin), user_id)


def _user_page(
    request: Request, session: Session, admin: Admin, user: User, notice: str | None = None
) -> UserPage:
    lang = admin.lang
    settings: Settings = request.app.state.settings
    covered = [r for r in user.roles if admin.covers(r.unit)]
    return UserPage(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        phone=user.phone,
        email=user.email,
        language=user.language,
        active=user.active,
        created_at=user.created_at,
        held=[
            HeldRole(
                id=r.id,
                role=role_name(r.role, lang),
                unit=r.unit.name(lang),
                unit_id=r.unit_id,
                can_remove=r in covered and not (user.id == admin.actor.user_id and r.role == Role.admin),
            )
            for r in sorted(user.roles, key=lambda r: (r.unit.path, r.role.value))
        ],
        roles=_role_choices(admin),
        units=unit_choices(administered(session, admin), lang),
        can_deactivate=user.id != admin.actor.user_id
        and (admin.at_root or (bool(user.roles) and len(covered) == len(user.roles))),
        is_self=user.id == admin.actor.user_id,
        notice=notice,
        sessions=sessions.sessions_of(session, user.id, settings),
        current_session=admin.actor.session_id,
        has_factor=mfa.has_factor(session, user),
    )


NOTICES = {
    "created": N_("The user was created."),
    "granted": N_("The role was granted."),
    "removed": N_("The role was removed."),
    "deactivated": N_("The user was deactivated: they can no longer sign in."),
    "activated": N_("The user was reactivated."),
    "sessions_ended": N_("The user's sessions were ended: they must sign in again there."),
    "session_ended": N_("The session was ended."),
    "factor_reset": N_("The second factor was removed: the user sets up a new one at their next sign-in."),
}


# ---------------------------------------------------------------- pages


@router.get("/staff/admin/users")
def users_list(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    lang = admin.lang
    query = request.query_params.get("q", "").strip()[:80]
    role = request.query_params.get("role", "")[:20]
    if role not in {r.value for r in Role}:
        role = ""
    after = parse_id(request.query_params.get("after", "")[:12])
    users = org_queries.managed_users_page(session, managed_paths(admin), query, role, after, PAGE_SIZE + 1)
    shown = users[:PAGE_SIZE]
    params = {k: v for k, v in (("q", query), ("role", role)) if v}
    rows = [
        UserRow(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            phone=mask_phone(u.phone),
            roles=[f"{role_name(r.role, lang)} · {r.unit.name(lang)}" for r in u.roles],
            active=u.active,
        )
        for u in shown
    ]
    page = UsersPage(
        query=query,
        role=role,
        roles=_role_choices(admin),
        rows=rows,
        next_url="/staff/admin/users?" + urlencode({**params, "after": str(shown[-1].id)})
        if len(users) > PAGE_SIZE
        else None,
        first_url=("/staff/admin/users?" + urlencode(params)).rstrip("?") if after is not None else None,
    )
    return render(request, "admin/users.html", page, admin.frame)


def _new_user_page(session: Session, admin: Admin, form: UserForm) -> NewUserPage:
    units = unit_choices(administered(session, admin), admin.lang)
    return NewUserPage(form=form, roles=_role_choices(admin), units=units)


@router.get("/staff/admin/users/new")
def new_user_form(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    page = _new_user_page(session, admin, UserForm())
    return render(request, "admin/user_new.html", page, admin.frame)


def _role_and_unit(
    session: Session, admin: Admin, role: str, unit_ref: str, errors: FormErrors, *, required: bool
) -> tuple[Role, Unit] | None:
    if not role and not unit_ref and not required:
        return None
    if role not in {r.value for r in Role}:
        errors.add("role", admin.t(N_("Choose a role.")))
    unit_id = parse_id(unit_ref)
    unit = org_queries.find_unit(session, unit_id) if unit_id else None
    if unit is None or not unit.active:
        errors.add("unit", admin.t(N_("Choose the unit in which the role is held.")))
    elif not admin.covers(unit):
        errors.add("unit", admin.t(N_("You do not administer this unit.")))
    if errors.get("role") or errors.get("unit") or unit is None:
        return None
    return Role(role), unit


@router.post("/staff/admin/users")
async def create_user(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    lang = admin.lang
    form = await request.form(max_files=0, max_fields=50)
    shown = UserForm(
        username=text(form, "username", 100),
        display_name=text(form, "display_name", 200),
        phone=text(form, "phone", 40),
        email=text(form, "email", 250),
        language="en" if form.get("language") == "en" else "zh",
        role=text(form, "role", 20),
        unit=text(form, "unit", 12),
    )
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    confirm = form.get("password2")
    page = _new_user_page(session, admin, shown)
    errors = page.errors
    check_csrf(request, form, errors, lang)
    body = None
    try:
        body = UserCreate.model_validate(
            {
                "username": shown.username,
                "display_name": shown.display_name,
                "password": password[:1000],
                "phone": shown.phone or None,
                "email": shown.email or None,
            }
        )
    except ValidationError as exc:
        pydantic_errors(exc, errors, lang, {"username": USERNAME_PATTERN})
    if password and not errors.get("password") and confirm != password:
        errors.add("password2", admin.t(N_("The two passwords differ: type the same password twice.")))
    if shown.phone and not errors.get("phone") and not _PHONE.match(shown.phone):
        errors.add("phone", admin.t(N_("Enter a phone number: digits, spaces, + and - only.")))
    if shown.email and not errors.get("email") and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", shown.email):
        errors.add("email", admin.t(N_("Enter an e-mail address such as name@example.org.")))
    grant = _role_and_unit(session, admin, shown.role, shown.unit, errors, required=not admin.at_root)
    if body is not None and not errors:
        try:
            user = org.create_user(
                session,
                username=body.username,
                display_name=body.display_name,
                password=body.password,
                roles=[grant] if grant else [],
                phone=body.phone,
                email=body.email,
                language=shown.language,
            )
            session.commit()
        except ChengzhiError as exc:
            session.rollback()
            errors.add(
                "username" if exc.code == "username_taken" else "form", message(exc.code, lang, exc.params)
            )
        else:
            return RedirectResponse(f"/staff/admin/users/{user.id}?done=created", status_code=303)
    return render(request, "admin/user_new.html", page, admin.frame, status_code=422)


@router.get("/staff/admin/users/{ref}")
def user_page(ref: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    user = managed_user(session, admin, ref)
    if user is None:
        return not_found(request, admin.frame, message("user_not_found", admin.lang, {"ref": ref[:20]}))
    done = request.query_params.get("done", "")
    page = _user_page(request, session, admin, user, admin.t(NOTICES[done]) if done in NOTICES else None)
    return render(request, "admin/user.html", page, admin.frame)


@router.post("/staff/admin/users/{ref}/roles")
async def grant_role(ref: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    user = managed_user(session, admin, ref)
    if user is None:
        return not_found(request, admin.frame, message("user_not_found", admin.lang, {"ref": ref[:20]}))
    form = await request.form(max_files=0, max_fields=50)
    page = _user_page(request, session, admin, user)
    page.grant_role, page.grant_unit = text(form, "role", 20), text(form, "unit", 12)
    check_csrf(request, form, page.errors, admin.lang)
    grant = _role_and_unit(session, admin, page.grant_role, page.grant_unit, page.errors, required=True)
    if grant is not None and not page.errors:
        org.grant_role(session, user, *grant)
        session.commit()
        return RedirectResponse(f"/staff/admin/users/{user.id}?done=granted", status_code=303)
    return render(request, "admin/user.html", page, admin.frame, status_code=422)


@router.post("/staff/admin/users/{ref}/roles/{assignment}/remove")
async def remove_role(ref: str, assignment: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    user = managed_user(session, admin, ref)
    if user is None:
        return not_found(request, admin.frame, message("user_not_found", admin.lang, {"ref": ref[:20]}))
    form = await request.form(max_files=0, max_fields=50)
    page = _user_page(request, session, admin, user)
    check_csrf(request, form, page.errors, admin.lang)
    held = next((h for h in page.held if str(h.id) == assignment[:12]), None)
    if held is None or not held.can_remove:
        page.errors.add("roles", admin.t(N_("You cannot remove this role.")))
    if not page.errors and held is not None:
        org.revoke_role(session, user, held.id)
        session.commit()
        return RedirectResponse(f"/staff/admin/users/{user.id}?done=removed", status_code=303)
    return render(request, "admin/user.html", page, admin.frame, status_code=422)


@router.post("/staff/admin/users/{ref}/active")
async def set_active(ref: str, request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    user = managed_user(session, admin, ref)
    if user is None:
        return not_found(request, admin.frame, message("user_not_found", admin.lang, {"ref": ref[:20]}))
    form = await request.form(max_files=0, max_fields=50)
    page = _user_page(request, session, admin, user)
    check_csrf(request, form, page.errors, admin.lang)
    wanted = form.get("active")
    if not page.can_deactivate:
        page.errors.add("active", admin.t(N_("You cannot change whether this user is active.")))
    elif wanted not in ("0", "1"):
        page.errors.add("active", admin.t(N_("Choose one of the options.")))
    if not page.errors:
        active = wanted == "1"
        org.set_user_active(session, user, active)
        session.commit()
        done = "activated" if active else "deactivated"
        return RedirectResponse(f"/staff/admin/users/{user.id}?done={done}", status_code=303)
    return render(request, "admin/user.html", page, admin.frame, status_code=422)
