"""What the staff pages (staff_pages) and the staff actions (staff_actions) both need: who may see them, the forms'
context, the unit picker, and the names of the step buttons and of what a taken step did."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from chengzhi.i18n import Language
from chengzhi.org.models import UnitKind
from chengzhi.org.service import Actor, list_units
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, FormErrors, render

# The button that opens each step's form, in the imperative (the timeline names steps in the past tense).
BUTTON_NAMES: dict[str, str] = {
    "answer": N_("Answer at intake"),
    "dispatch": N_("Dispatch"),
    "sign": N_("Sign for it"),
    "return": N_("Return to the dispatcher"),
    "contact": N_("Record the contact"),
    "reply": N_("Reply"),
    "review": N_("Record the follow-up visit"),
    "close": N_("Close"),
    "reopen": N_("Reopen"),
    "request_extension": N_("Ask for more time"),
    "approve_extension": N_("Approve the extension"),
    "refuse_extension": N_("Refuse the extension"),
    "supervise": N_("Add a supervision note"),
    "co_handle": N_("Summon co-units"),
    "merge": N_("Merge into another request"),
}
DONE_NAMES: dict[str, str] = {
    "answer": N_("The answer was recorded."),
    "dispatch": N_("Dispatched."),
    "sign": N_("Signed for."),
    "return": N_("Returned to the dispatcher."),
    "contact": N_("The contact was recorded."),
    "reply": N_("The reply was recorded."),
    "review": N_("The follow-up visit was recorded."),
    "close": N_("Closed."),
    "reopen": N_("Reopened."),
    "request_extension": N_("The extension was asked for."),
    "approve_extension": N_("The extension was approved."),
    "refuse_extension": N_("The extension was refused."),
    "supervise": N_("The supervision note was added."),
    "co_handle": N_("The co-units were summoned."),
    "merge": N_("Merged."),
}


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class UnitOption:
    id: int
    label: str


@dataclass
class UnitGroup:
    label: str
    units: list[UnitOption] = field(default_factory=list)


@dataclass
class ActionForms:
    """What the request page needs to draw its forms: typed values and errors of the form just sent."""

    action: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    multi: dict[str, list[str]] = field(default_factory=dict)
    errors: FormErrors = field(default_factory=FormErrors)
    notice: str | None = None


@dataclass
class ForbiddenPage:
    message: str


# ---------------------------------------------------------------- helpers


def button_name(code: str, lang: Language) -> str:
    return gettext(lang, BUTTON_NAMES[code]) if code in BUTTON_NAMES else code


def unit_groups(session: Session, lang: Language) -> list[UnitGroup]:
    """Every unit a request may be sent to, grouped by kind, in tree order (the dispatch unit picker)."""
    kinds = (
        (UnitKind.district, N_("Districts")),
        (UnitKind.street, N_("Streets")),
        (UnitKind.community, N_("Communities")),
        (UnitKind.department, N_("Departments")),
    )
    groups = {kind: UnitGroup(gettext(lang, label)) for kind, label in kinds}
    for unit in list_units(session):
        if unit.kind in groups:
            groups[unit.kind].units.append(UnitOption(unit.id, unit.name(lang)))
    return [g for g in groups.values() if g.units]


def staff_only(request: Request, actor: Actor, frame: Chrome) -> Response | None:
    """Anonymous -> the sign-in page (and back); signed in but not staff -> a 403 page."""
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not actor.is_staff:
        text = gettext(frame.lang, N_("These pages are for the city's staff."))
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    return None
