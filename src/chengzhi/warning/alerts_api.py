"""REST API of the alerts and the sensitive-word list, under /api/v1/warning (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.org.models import Role
from chengzhi.org.service import require_role
from chengzhi.warning import alerts, forecast, service
from chengzhi.warning.models import SensitiveWord

router = APIRouter(prefix="/api/v1/warning", tags=["warning"])

ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
UnitQ = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Unit id (default: your own unit)")]


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    actor: UserDep,
    unit: UnitQ = None,
    open_only: Annotated[bool, Query(alias="open", description="Only alerts not yet acknowledged")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The alerts of the unit's subtree (hot issues, bursts, repeats, sensitive words), open ones first."""
    scope = service.viewer_unit(session, actor, unit)
    found = alerts.alerts_for(session, scope, open_only=open_only, limit=limit)
    return {
        "unit": scope.id,
        "open": alerts.open_count(session, scope),
        "alerts": [alerts.alert_out(a) for a in found],
    }


class AcknowledgeIn(BaseModel):
    note: str = Field(default="", max_length=500)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    alert_id: ItemId,
    session: SessionDep,
    actor: UserDep,
    body: AcknowledgeIn | None = None,
    unit: UnitQ = None,
) -> dict[str, Any]:
    """Marks the alert as seen and taken in hand (leaders, analysts, administrators)."""
    scope = service.viewer_unit(session, actor, unit)
    alert = alerts.acknowledge(session, actor, scope, alert_id, utcnow(), body.note if body else "")
    session.commit()
    return alerts.alert_out(alert)


def _word_out(row: SensitiveWord) -> dict[str, Any]:
    return {"id": row.id, "word": row.word, "note": row.note, "created_at": row.created_at.isoformat()}


@router.get("/sensitive-words")
def list_words(session: SessionDep, actor: UserDep) -> dict[str, Any]:
    """The sensitive-word list (administrators)."""
    require_role(actor, Role.admin)
    return {"words": [_word_out(w) for w in alerts.sensitive_words(session)]}


class WordIn(BaseModel):
    word: str = Field(min_length=1, max_length=60)
    note: str = Field(default="", max_length=200)


@router.post("/sensitive-words", status_code=201)
def add_word(body: WordIn, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    row = alerts.add_word(session, actor, body.word, body.note)
    session.commit()
    return _word_out(row)


@router.delete("/sensitive-words/{word_id}", status_code=204)
def remove_word(word_id: ItemId, session: SessionDep, actor: UserDep) -> None:
    alerts.remove_word(session, actor, word_id)
    session.commit()


@router.get("/proactive")
def proactive_list(
    session: SessionDep, settings: SettingsDep, actor: UserDep, lang: LanguageDep, unit: UnitQ = None
) -> dict[str, Any]:
    """未诉先办: next month's expected problems per street of the unit (recurring in 2 of the last 3 months, or 2+
    requests in the same month last year), and this month's most frequent problems (monthly focus candidates)."""
    scope = service.viewer_unit(session, actor, unit)
    return forecast.proactive_list(session, settings, scope, utcnow(), lang)
