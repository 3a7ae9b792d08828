"""An entity objects to one of its published records itself (异议申请): the person filing needs identity level
`object_credit_record` (2 by default: a real name verified by an identity provider) and says in what capacity they
act; a credit officer decides it by its due date, as objections filed by staff (docs/credit.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.credit import access, cases, service
from chengzhi.credit.models import CreditEntity, CreditRecord
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, NotFound
from chengzhi.i18n import message
from chengzhi.org import levels
from chengzhi.org.service import Actor
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, not_found, page_actor, page_language, render

router = APIRouter(include_in_schema=False)

# In what capacity the person objects; the credit officer checks it with the entity.
CAPACITIES = {
    "legal_rep": N_("I am its legal representative (or the person the record names)"),
    "agent": N_("I act for it with its written authorisation"),
}


@dataclass
class ObjectionPage:
    entity: dict[str, Any]
    record: dict[str, Any]
    capacities: dict[str, str]
    capacity: str = ""
    reason: str = ""
    filed: dict[str, Any] | None = None  # the objection once filed: its number and due date
    errors: FormErrors = field(default_factory=FormErrors)


def _published(session: SessionDep, settings: SettingsDep, uscc: str, record_id: str) -> tuple[Any, Any]:
    """The entity and one of its published public records, or NotFound."""
    entity: CreditEntity = service.get_entity(session, uscc[:40])
    ident = int(record_id) if record_id.isascii() and record_id.isdigit() and len(record_id) < 10 else 0
    record: CreditRecord = service.get_record(session, ident)
    on = access.today(settings)
    if (
        record.entity_id != entity.id
        or record.kind not in service.PUBLIC_KINDS
        or not service.is_published(record, on)
    ):
        raise NotFound("credit_record_not_found", ref=record_id[:12])
    return entity, record


def _gate(request: Request, actor: Actor, settings: SettingsDep) -> Response | None:
    """Signed in at the level the action needs, or on the way there (and back to this form)."""
    if actor.is_anonymous or not levels.allowed(actor, settings, "object_credit_record"):
        needed = levels.level_needed(settings, "object_credit_record")
        return RedirectResponse(levels.step_up_url(needed, request.url.path), status_code=303)
    return None


def _page(entity: CreditEntity, record: CreditRecord, lang: str) -> ObjectionPage:
    return ObjectionPage(
        entity={"uscc": entity.uscc, "name": entity.name},
        record=service.record_json(record),
        capacities={k: gettext(lang, v) for k, v in CAPACITIES.items()},
    )


@router.get("/credit/{uscc}/records/{record_id}/objection")
def objection_form(
    uscc: str, record_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    try:
        entity, record = _published(session, settings, uscc, record_id)
    except ChengzhiError as exc:
        return not_found(request, frame, message(exc.code, frame.lang, exc.params))
    refused = _gate(request, actor, settings)
    if refused is not None:
        return refused
    return render(request, "credit/objection.html", _page(entity, record, frame.lang), frame)


@router.post("/credit/{uscc}/records/{record_id}/objection")
async def file_objection(
    uscc: str, record_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    lang = page_language(request)
    try:
        entity, record = _published(session, settings, uscc, record_id)
    except ChengzhiError as exc:
        return not_found(request, frame, message(exc.code, frame.lang, exc.params))
    refused = _gate(request, actor, settings)
    if refused is not None:
        return refused
    form = await request.form(max_files=0, max_fields=10)
    page = _page(entity, record, lang)
    page.capacity = str(form.get("capacity") or "")[:20]
    page.reason = str(form.get("reason") or "").strip()[:4000]
    if not csrf_ok(request, form):
        page.errors.add("form", message("csrf_failed", lang))
    if page.capacity not in CAPACITIES:
        page.errors.add("capacity", gettext(lang, N_("Say in what capacity you object.")))
    if len(page.reason) < 10:
        page.errors.add(
            "reason", gettext(lang, N_("Explain what is wrong with the record (10 characters or more)."))
        )
    if not page.errors:
        # Who filed it, as the officer sees it: the verified real name, the capacity and the account.
        filed_by = f"{actor.display_name[:80]} [{page.capacity}] #u{actor.user_id}"
        try:
            on = access.today(settings)
            objection = cases.file_objection(
                session, record.id, filed_by, page.reason, on, settings.credit_objection_days
            )
            session.commit()
            page.filed = {"id": objection.id, "due_on": objection.due_on.isoformat()}
            return render(request, "credit/objection.html", page, frame, status_code=201)
        except ChengzhiError as exc:
            session.rollback()
            page.errors.add("form", message(exc.code, lang, exc.params))
    return render(request, "credit/objection.html", page, frame, status_code=422)
