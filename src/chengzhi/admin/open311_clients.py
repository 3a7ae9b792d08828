"""The Open311 clients page (/staff/admin/open311): the apps holding an API key, and whether each vouches for its
users' accounts, which lets the `account_id` it posts link requests to residents on proof (docs/open311.md,
"Residents' accounts in apps"). Marking a client is a city-wide administrator's decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.admin.common import Admin, admin_or_refuse, check_csrf
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.open311 import accounts
from chengzhi.web.i18n import N_
from chengzhi.web.templating import FormErrors, render

router = APIRouter(include_in_schema=False)

NOTICES = {
    "vouches": N_("The client now vouches for its users' accounts."),
    "withdrawn": N_("The client no longer vouches for its users' accounts."),
}


@dataclass
class ClientsPage:
    clients: list[accounts.Client]
    can_change: bool
    notice: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)


def _page(request: Request, session: SessionDep, admin: Admin, errors: FormErrors | None = None) -> Response:
    page = ClientsPage(accounts.clients(session), can_change=admin.at_root)
    done = request.query_params.get("done", "")
    page.notice = admin.t(NOTICES[done]) if done in NOTICES else None
    status = 200
    if errors:
        page.errors = errors
        status = 403 if not admin.at_root else 422
    return render(request, "admin/open311.html", page, admin.frame, status_code=status)


@router.get("/staff/admin/open311")
def clients_page(request: Request, session: SessionDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    return _page(request, session, admin)


@router.post("/staff/admin/open311/{name}/vouches")
async def set_vouches(name: str, request: Request, session: SessionDep) -> Response:
    """`vouches=yes` or `vouches=no`: city-wide administrators only (the clients post for the whole city)."""
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    form = await request.form(max_files=0, max_fields=10)
    errors = FormErrors()
    check_csrf(request, form, errors, admin.lang)
    choice = form.get("vouches")
    if not errors and not admin.at_root:
        errors.add(
            "form", admin.t(N_("Only a city-wide administrator can change what a client vouches for."))
        )
    if not errors and choice not in ("yes", "no"):
        errors.add("form", admin.t(N_("Choose one of the options.")))
    if not errors:
        try:
            accounts.set_vouches(session, name[:80], choice == "yes", admin.actor.username)
        except ChengzhiError:
            session.rollback()
            errors.add("form", admin.t(N_("There is no usable Open311 client with this name.")))
    if errors:
        return _page(request, session, admin, errors)
    session.commit()
    done = "vouches" if choice == "yes" else "withdrawn"
    return RedirectResponse(f"/staff/admin/open311?done={done}#client-{quote(name[:80])}", status_code=303)
