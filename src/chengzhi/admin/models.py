"""The category models page (/staff/admin/models): every registered version with what it was trained on and how it
did on held-out data, how it does at intake (suggestions, sure first choices, automatic dispatches, corrections,
agreement with the final categories), and activation or roll-back by a city-wide administrator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from chengzhi.admin.common import Admin, admin_or_refuse, check_csrf, parse_id
from chengzhi.categories.service import category_codes
from chengzhi.config import Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.requests import queries as requests_queries
from chengzhi.routing import service as routing
from chengzhi.web.i18n import N_
from chengzhi.web.templating import FormErrors, render

router = APIRouter(include_in_schema=False)

# Agreement with the final categories is read from each version's most recent suggestions, not all of them.
AGREEMENT_SAMPLE = 2000
NOTICES = {
    "activated": N_("The model is now used at intake."),
    "rolled_back": N_("The model active before is used at intake again."),
}


@dataclass(frozen=True)
class ModelRow:
    version: int
    active: bool
    created_at: dt.datetime
    source: str
    rows: int
    labels: int
    macro_f1: float | None
    accuracy: float | None
    auto_share: float | None
    note: str
    # At intake
    suggested: int
    sure: int
    corrections: int
    agreement: float | None  # share of recent suggestions whose first choice is the request's final category
    agreement_of: int  # how many requests with a final category that share is over
    files_ok: bool
    # Made by `chengzhi model retrain`: {"against": version, "compared_on": n, "challenger": {...}, "active": {...}}
    challenge: dict[str, Any] | None = None


@dataclass
class ModelsPage:
    rows: list[ModelRow]
    can_change: bool
    can_roll_back: bool
    notice: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)


def _agreement(session: Session, version: int) -> tuple[float | None, int]:
    recent = routing.first_suggestions(session, version, AGREEMENT_SAMPLE)
    finals = requests_queries.category_ids_of(session, [rid for rid, _ in recent])
    codes = category_codes(session)
    total = agreed = 0
    for request_id, first in recent:
        final = finals.get(request_id)
        if final is not None:
            total += 1
            agreed += codes.get(final) == first
    return (agreed / total if total else None), total


def _page(session: Session, settings: Settings, admin: Admin) -> ModelsPage:
    counts = routing.suggestion_counts(session)
    corrections = routing.correction_counts(session)
    rows = []
    for model in routing.list_models(session):
        facts = routing.describe(model)
        agreement, agreement_of = _agreement(session, model.version) if model.version in counts else (None, 0)
        suggested, sure = counts.get(model.version, (0, 0))
        rows.append(
            ModelRow(
                version=model.version,
                active=model.active,
                created_at=model.created_at,
                source=model.source,
                rows=model.data_rows,
                labels=len(model.labels or []),
                macro_f1=facts["macro_f1"],
                accuracy=facts["accuracy"],
                auto_share=facts["auto_dispatch_share"],
                note=model.note,
                suggested=suggested,
                sure=sure,
                corrections=int(corrections.get(model.version, 0)),
                agreement=agreement,
                agreement_of=agreement_of,
                files_ok=(routing.artifact_path(model, settings) / "model.json").is_file(),
                challenge=(model.metrics or {}).get("challenge"),
            )
        )
    can_change = admin.at_root
    return ModelsPage(
        rows=rows, can_change=can_change, can_roll_back=can_change and routing.can_roll_back(session)
    )


@router.get("/staff/admin/models")
def models_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    page = _page(session, settings, admin)
    done = request.query_params.get("done", "")
    page.notice = admin.t(NOTICES[done]) if done in NOTICES else None
    return render(request, "admin/models.html", page, admin.frame)


@router.post("/staff/admin/models")
async def change_model(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """`action=activate` with `version`, or `action=rollback`: city-wide administrators only (the model serves
    the whole city)."""
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    form = await request.form(max_files=0, max_fields=10)
    errors = FormErrors()
    check_csrf(request, form, errors, admin.lang)
    action = form.get("action")
    if not errors and not admin.at_root:
        errors.add("form", admin.t(N_("Only a city-wide administrator can change the model used at intake.")))
    done = ""
    if not errors:
        try:
            if action == "activate":
                raw = form.get("version")
                version = parse_id(raw) if isinstance(raw, str) else None
                if version is None:
                    errors.add("form", admin.t(N_("Choose a model version.")))
                else:
                    routing.activate_version(session, version, actor=admin.actor.username, settings=settings)
                    done = "activated"
            elif action == "rollback":
                routing.rollback(session, actor=admin.actor.username)
                done = "rolled_back"
            else:
                errors.add("form", admin.t(N_("Choose one of the options.")))
        except routing.ClassifierError as exc:
            session.rollback()
            errors.add("form", _refusal(admin, str(exc)))
    if not errors:
        session.commit()
        return RedirectResponse(f"/staff/admin/models?done={done}", status_code=303)
    page = _page(session, settings, admin)
    page.errors = errors
    status = 403 if not admin.at_root else 422
    return render(request, "admin/models.html", page, admin.frame, status_code=status)


def _refusal(admin: Admin, reason: str) -> str:
    """The registry's reasons are English (they are the command line's too); the page says them in its language."""
    if "nothing to roll back" in reason:
        return admin.t(N_("There is no earlier model to return to."))
    if "no model version" in reason:
        return admin.t(N_("There is no model with this version."))
    return admin.t(
        N_("The model's files are missing or damaged; it cannot be used: %(reason)s"), reason=reason
    )
