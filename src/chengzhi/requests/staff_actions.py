"""Staff actions from the pages: one form per allowed workflow step on the request page, bulk dispatch from the
inbox, and the overdue board for supervisors.

Every step goes through requests.service, exactly as the API's: the same checks, the same scope, one transaction
per step. A refused step shows its reason next to the field it concerns and keeps what was typed; a taken step
redirects back to the page (post/redirect/get), so a reload never repeats it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from chengzhi.categories.timelimits import STAGE_NAMES
from chengzhi.config import Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Forbidden
from chengzhi.i18n import Language, message
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor
from chengzhi.requests import access
from chengzhi.requests import service as svc
from chengzhi.requests.lists import get_request, overdue_only
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.staff_common import DONE_NAMES, ActionForms, staff_only
from chengzhi.requests.staff_pages import category_name, request_page
from chengzhi.requests.workflow import IllegalTransition
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, not_found, page_actor, render

router = APIRouter(include_in_schema=False)

TEXT_LIMIT = 4000
NOTE_LIMIT = 2000
BULK_LIMIT = 100
BOARD_SIZE = 50

# Where a service error belongs on each form (the rest go to the top of the form).
ERROR_FIELDS: dict[str, str] = {
    "reason_required": "reason",
    "category_required": "category",
    "category_not_found": "category",
    "lead_in_co_units": "co_unit_ids",
    "unit_inactive": "lead_unit_id",
    "unit_not_found": "lead_unit_id",
    "dispatch_target_invalid": "lead_unit_id",
    "merge_into_self": "into",
    "request_not_found": "into",
}


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class BulkOutcome:
    tracking_number: str
    ok: bool
    message: str


@dataclass
class BulkPage:
    unit: str
    outcomes: list[BulkOutcome]
    done: int
    refused: int
    error: str | None = None


@dataclass(frozen=True)
class BoardRow:
    tracking_number: str
    title: str
    category: str
    stage: str
    lead_unit: str | None
    due_at: dt.datetime
    late_hours: int
    can_supervise: bool


@dataclass(frozen=True)
class BoardCount:
    unit: str
    count: int
    url: str


@dataclass
class BoardPage:
    rows: list[BoardRow]
    counts: list[BoardCount]
    total: int
    next_url: str | None
    first_url: str | None
    notice: str | None = None


# ---------------------------------------------------------------- helpers


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[: limit + 1]


def _ids(values: list[str]) -> list[int] | None:
    """Unit ids from a multi-select; None if one is not a plausible id."""
    ids = []
    for value in values:
        if not (value.isascii() and value.isdigit() and 0 < int(value) < 2**31):
            return None
        ids.append(int(value))
    return ids


def _length(errors: FormErrors, name: str, value: str, limit: int, lang: Language) -> None:
    if len(value) > limit:
        errors.add(name, gettext(lang, N_("At most %(limit)s characters."), limit=limit))


def _required(errors: FormErrors, name: str, value: str, lang: Language) -> None:
    if not value:
        errors.add(name, message("reason_required", lang) if name == "reason" else _fill_in(lang))


def _fill_in(lang: Language) -> str:
    return gettext(lang, N_("Fill in this field."))


def service_message(exc: ChengzhiError | IllegalTransition, lang: Language) -> str:
    if isinstance(exc, IllegalTransition):
        return message("illegal_transition", lang, svc.illegal_to_message(exc))
    return message(exc.code, lang, exc.params)


def safe_next(value: str) -> str | None:
    """Only our own staff pages may be returned to after a step (no open redirects)."""
    if value.startswith("/staff") and "//" not in value and "\\" not in value and len(value) < 300:
        return value
    return None


# ---------------------------------------------------------------- one step from the request page


Perform = Callable[[Session, Actor, RequestRow, Settings, ActionForms, Language], None]


def _answer(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    text = f.values["text"]
    _required(f.errors, "text", text, lang)
    _length(f.errors, "text", text, TEXT_LIMIT, lang)
    if not f.errors:
        svc.answer_at_intake(s, a, r, text, st)


def _dispatch(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    lead = _ids([f.values["lead_unit_id"]]) if f.values["lead_unit_id"] else None
    if not lead:
        f.errors.add("lead_unit_id", gettext(lang, N_("Choose the unit that must act.")))
    co = _ids(f.multi.get("co_unit_ids", []))
    if co is None:
        f.errors.add("co_unit_ids", gettext(lang, N_("Choose units from the list.")))
    note = f.values["note"]
    _length(f.errors, "note", note, NOTE_LIMIT, lang)
    if not f.errors and lead and co is not None:
        svc.dispatch_request(
            s, a, r, lead[0], st, co, note or None, category_code=f.values["category"] or None
        )


def _sign(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    svc.sign_request(s, a, r)


def _return(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    reason = f.values["reason"]
    _required(f.errors, "reason", reason, lang)
    _length(f.errors, "reason", reason, NOTE_LIMIT, lang)
    if not f.errors:
        svc.return_request(s, a, r, reason)


def _contact(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    note = f.values["note"]
    _length(f.errors, "note", note, NOTE_LIMIT, lang)
    if not f.errors:
        svc.contact_resident(s, a, r, note or None)


def _reply(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    text = f.values["text"]
    _required(f.errors, "text", text, lang)
    _length(f.errors, "text", text, TEXT_LIMIT, lang)
    if not f.errors:
        svc.reply_request(s, a, r, text, st)


def _review(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    if f.values["resolved"] not in ("yes", "no"):
        f.errors.add("resolved", gettext(lang, N_("Say whether the problem was solved.")))
    if f.values["satisfaction"] not in ("1", "2", "3", "4", "5"):
        f.errors.add("satisfaction", gettext(lang, N_("Choose how satisfied you are, from 1 to 5.")))
    _length(f.errors, "comment", f.values["comment"], NOTE_LIMIT, lang)
    if not f.errors:
        svc.review_request(
            s,
            a,
            r,
            f.values["resolved"] == "yes",
            int(f.values["satisfaction"]),
            f.values["comment"] or None,
        )


def _close(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    _length(f.errors, "note", f.values["note"], NOTE_LIMIT, lang)
    if not f.errors:
        svc.close_request(s, a, r, f.values["note"] or None)


def _reopen(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    reason = f.values["reason"]
    _required(f.errors, "reason", reason, lang)
    _length(f.errors, "reason", reason, NOTE_LIMIT, lang)
    if not f.errors:
        svc.reopen_request(s, a, r, reason)


def _extension(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    days = f.values["days"]
    if not (days.isascii() and days.isdigit() and 1 <= int(days) <= 60):
        f.errors.add("days", gettext(lang, N_("Enter a number of working days from 1 to 60.")))
    reason = f.values["reason"]
    _required(f.errors, "reason", reason, lang)
    _length(f.errors, "reason", reason, NOTE_LIMIT, lang)
    if not f.errors:
        svc.request_extension(s, a, r, int(days), reason)


def _decide(approve: bool) -> Perform:
    def perform(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
        _length(f.errors, "note", f.values["note"], NOTE_LIMIT, lang)
        if not f.errors:
            svc.decide_extension(s, a, r, approve, st, f.values["note"] or None)

    return perform


def _supervise(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    note = f.values["note"]
    if not note:
        f.errors.add("note", gettext(lang, N_("Write the note: what must happen, by when.")))
    _length(f.errors, "note", note, NOTE_LIMIT, lang)
    if not f.errors:
        svc.supervise_request(s, a, r, note)


def _co_handle(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    ids = _ids(f.multi.get("unit_ids", []))
    if not ids:
        f.errors.add("unit_ids", gettext(lang, N_("Choose at least one unit.")))
    _length(f.errors, "note", f.values["note"], NOTE_LIMIT, lang)
    if not f.errors and ids:
        svc.co_handle_request(s, a, r, ids, f.values["note"] or None)


def _merge(s: Session, a: Actor, r: RequestRow, st: Settings, f: ActionForms, lang: Language) -> None:
    into = f.values["into"]
    if not into:
        f.errors.add("into", gettext(lang, N_("Enter the tracking number of the request to merge into.")))
    _length(f.errors, "note", f.values["note"], NOTE_LIMIT, lang)
    if not f.errors:
        target = get_request(s, a, into[:20], for_update=True)
        svc.merge_request(s, a, r, target, f.values["note"] or None)


# action -> (text fields, multi-value fields, perform)
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], Perform]] = {
    "answer": (("text",), (), _answer),
    "dispatch": (("lead_unit_id", "category", "note"), ("co_unit_ids",), _dispatch),
    "sign": ((), (), _sign),
    "return": (("reason",), (), _return),
    "contact": (("note",), (), _contact),
    "reply": (("text",), (), _reply),
    "review": (("resolved", "satisfaction", "comment"), (), _review),
    "close": (("note",), (), _close),
    "reopen": (("reason",), (), _reopen),
    "request_extension": (("days", "reason"), (), _extension),
    "approve_extension": (("note",), (), _decide(True)),
    "refuse_extension": (("note",), (), _decide(False)),
    "supervise": (("note",), (), _supervise),
    "co_handle": (("note",), ("unit_ids",), _co_handle),
    "merge": (("into", "note"), (), _merge),
}


async def _read_form(request: Request, lang: Language, errors: FormErrors) -> FormData | None:
    try:
        form = await request.form(max_files=0, max_fields=BULK_LIMIT + 20)
    except StarletteHTTPException:
        errors.add("form", gettext(lang, N_("The form could not be read; fill it in again.")))
        return None
    if not csrf_ok(request, form):
        errors.add("form", message("csrf_failed", lang))
    return form


@router.post("/staff/requests/{number}/act/{action}")
async def take_action(
    number: str, action: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_only(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    ref = number[:20]
    forms = ActionForms(action=action if action in ACTIONS else None)
    form = await _read_form(request, lang, forms.errors)
    if forms.action is None:
        forms.errors.add("form", gettext(lang, N_("This step does not exist.")))
    text_fields, multi_fields, perform = ACTIONS.get(action, ((), (), _sign))
    if form is not None:
        limit = TEXT_LIMIT if "text" in text_fields else NOTE_LIMIT
        forms.values = {name: _text(form, name, limit) for name in text_fields}
        forms.multi = {
            name: [v for v in form.getlist(name) if isinstance(v, str)][:BULK_LIMIT] for name in multi_fields
        }
    back = safe_next(_text(form, "next", 300)) if form is not None else None
    try:
        row = get_request(session, actor, ref, for_update=not forms.errors)
    except ChengzhiError:
        session.rollback()
        return not_found(request, frame, message("request_not_found", lang, {"ref": ref}))
    status_code = 422
    if not forms.errors:
        try:
            perform(session, actor, row, settings, forms, lang)
            if not forms.errors:
                session.commit()
        except Forbidden as exc:
            session.rollback()
            forms.errors.add("form", service_message(exc, lang))
            status_code = 403
        except (ChengzhiError, IllegalTransition) as exc:
            session.rollback()
            code = getattr(exc, "code", "")
            forms.errors.add(ERROR_FIELDS.get(code, "form"), service_message(exc, lang))
            status_code = 409 if isinstance(exc, IllegalTransition) else 422
        else:
            if not forms.errors:
                target = back or f"/staff/requests/{row.tracking_number}"
                if back is None and not access.can_view(session, actor, row):
                    target = "/staff"
                sep = "&" if "?" in target else "?"
                return RedirectResponse(f"{target}{sep}{urlencode({'done': action})}", status_code=303)
        session.rollback()
    # Refused: the page again, with the form open, the reason next to its field and what was typed.
    row = get_request(session, actor, ref)
    page = request_page(session, actor, row, lang, forms, frame.timezone)
    return render(request, "staff_request.html", page, frame, status_code=status_code)


# ---------------------------------------------------------------- bulk dispatch from the inbox


@router.post("/staff/bulk-dispatch")
async def bulk_dispatch(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_only(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    errors = FormErrors()
    form = await _read_form(request, lang, errors)
    numbers: list[str] = []
    lead: list[int] | None = None
    if form is not None:
        numbers = list(dict.fromkeys(v[:20] for v in form.getlist("number") if isinstance(v, str)))
        raw = _text(form, "lead_unit_id", 12)
        lead = _ids([raw]) if raw else None
    if not errors and not numbers:
        errors.add("form", gettext(lang, N_("Tick the requests to dispatch.")))
    if not errors and len(numbers) > BULK_LIMIT:
        errors.add("form", gettext(lang, N_("At most %(limit)s requests at a time."), limit=BULK_LIMIT))
    if not errors and not lead:
        errors.add("form", gettext(lang, N_("Choose the unit that must act.")))
    unit = org_queries.unit_by_id(session, lead[0]) if lead else None
    if not errors and unit is None:
        errors.add("form", message("unit_not_found", lang, {"ref": lead[0] if lead else ""}))
    if errors or unit is None:
        session.rollback()
        page = BulkPage("", [], 0, 0, error=errors.get("form"))
        return render(request, "staff_bulk.html", page, frame, status_code=422)
    unit_name = unit.name(lang)
    unit_id = unit.id
    note = _text(form, "note", NOTE_LIMIT) if form is not None else ""
    outcomes = []
    # Each request in its own transaction: one refusal (taken meanwhile, out of scope) does not undo the others.
    for number in numbers:
        try:
            row = get_request(session, actor, number, for_update=True)
            svc.dispatch_request(session, actor, row, unit_id, settings, (), note[:NOTE_LIMIT] or None)
            session.commit()
        except (ChengzhiError, IllegalTransition) as exc:
            session.rollback()
            outcomes.append(BulkOutcome(number, False, service_message(exc, lang)))
        else:
            outcomes.append(BulkOutcome(number, True, gettext(lang, N_("Dispatched."))))
    done = sum(o.ok for o in outcomes)
    page = BulkPage(unit_name, outcomes, done, len(outcomes) - done)
    return render(request, "staff_bulk.html", page, frame)


# ---------------------------------------------------------------- the overdue board


def _board_cursor(raw: str) -> tuple[dt.datetime, int] | None:
    due, _, ident = raw.partition("_")
    try:
        when = dt.datetime.fromisoformat(due)
    except ValueError:
        return None
    if not (ident.isascii() and ident.isdigit() and 0 < int(ident) < 2**31):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)), int(ident)


@router.get("/staff/overdue")
def overdue_board(request: Request, session: SessionDep) -> Response:
    """Overdue requests of the user's scope, the longest overdue first, with the count per lead unit."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_only(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    cursor = _board_cursor(request.query_params.get("after", "")[:60])
    # Overdue requests are few (the partial index ix_requests_overdue_due holds only them): one pass over their
    # (due time, id, lead unit) gives the page, the total and the count per unit, whatever the planner thinks.
    found = sorted(
        session.execute(
            overdue_only(select(RequestRow.due_at, RequestRow.id, RequestRow.lead_unit_id)).where(
                access.visibility_clause(actor)
            )
        ),
        key=lambda r: (r.due_at or dt.datetime.max.replace(tzinfo=dt.UTC), r.id),
    )
    tally = Counter(r.lead_unit_id for r in found)
    if cursor is not None:
        found = [r for r in found if r.due_at is not None and (r.due_at, r.id) > cursor]
    page_ids = [r.id for r in found[: BOARD_SIZE + 1]]
    loaded = {
        r.id: r for r in session.scalars(select(RequestRow).where(RequestRow.id.in_(page_ids))).unique()
    }
    rows = [loaded[i] for i in page_ids if i in loaded]
    per_unit = tally.most_common(15)
    units = org_queries.units_by_id(session, [u for u, _ in per_unit if u])
    now = dt.datetime.now(dt.UTC)
    shown = rows[:BOARD_SIZE]
    board = []
    for row in shown:
        due = row.due_at or now
        paths = access.unit_paths_of(session, row)
        board.append(
            BoardRow(
                tracking_number=row.tracking_number,
                title=row.title
                if access.sees_contact(session, actor, row, paths=paths)
                else (access.mask_text(row.title) or ""),
                category=category_name(row, lang),
                stage=gettext(lang, STAGE_NAMES[row.overdue_stage])
                if row.overdue_stage in STAGE_NAMES
                else str(row.overdue_stage),
                lead_unit=row.lead_unit.name(lang) if row.lead_unit else None,
                due_at=due,
                late_hours=max(0, int((now - due).total_seconds() // 3600)),
                can_supervise=any(actor.covers(p, Role.supervisor, Role.leader) for p in paths),
            )
        )
    counts = [
        BoardCount(
            units[unit_id].name(lang) if unit_id in units else gettext(lang, N_("Not yet dispatched")),
            count,
            f"/staff?{urlencode({'overdue': 'yes', 'lead_unit': unit_id})}"
            if unit_id
            else "/staff?overdue=yes",
        )
        for unit_id, count in per_unit
    ]
    total = sum(tally.values())
    last = shown[-1] if shown else None
    next_url = None
    if len(rows) > BOARD_SIZE and last is not None and last.due_at is not None:
        next_url = f"/staff/overdue?{urlencode({'after': f'{last.due_at.isoformat()}_{last.id}'})}"
    done = request.query_params.get("done", "")
    page = BoardPage(
        rows=board,
        counts=counts,
        total=total,
        next_url=next_url,
        first_url="/staff/overdue" if cursor is not None else None,
        notice=gettext(lang, DONE_NAMES[done]) if done in DONE_NAMES else None,
    )
    return render(request, "staff_overdue.html", page, frame)
