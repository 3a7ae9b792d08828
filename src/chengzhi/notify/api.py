"""REST API under /api/v1/notifications: my in-app notifications and preferences; the delivery log for
administrators and supervisors (addresses masked)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.notify import service
from chengzhi.notify.texts import CHANNELS, KINDS
from chengzhi.org.models import Role
from chengzhi.org.service import require_role

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


class PreferencesIn(BaseModel):
    channels: list[Annotated[str, Field(max_length=10)]] = Field(default_factory=lambda: list(CHANNELS))
    muted: list[Annotated[str, Field(max_length=30)]] = Field(default_factory=list, max_length=len(KINDS))


@router.get("")
def my_notifications(
    session: SessionDep,
    settings: SettingsDep,
    actor: UserDep,
    lang: LanguageDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    assert actor.user_id is not None
    return service.inbox(session, settings, actor.user_id, lang, limit)


@router.post("/{notification_id}/read", status_code=204)
def read_notification(
    notification_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: UserDep
) -> None:
    assert actor.user_id is not None
    service.mark_read(session, actor.user_id, notification_id, utcnow())
    session.commit()


@router.get("/preferences")
def my_preferences(session: SessionDep, actor: UserDep) -> dict[str, Any]:
    assert actor.user_id is not None
    chosen = service.preferences_of(session, actor.user_id)
    return {"channels": chosen.channels, "muted": chosen.muted, "kinds": list(KINDS)}


@router.put("/preferences")
def set_my_preferences(body: PreferencesIn, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    assert actor.user_id is not None
    chosen = service.set_preferences(session, actor.user_id, body.channels, body.muted, utcnow())
    session.commit()
    return {"channels": chosen.channels, "muted": chosen.muted, "kinds": list(KINDS)}


@router.get("/log")
def delivery_log(
    session: SessionDep,
    settings: SettingsDep,
    actor: UserDep,
    lang: LanguageDep,
    state: Annotated[str | None, Query(max_length=10)] = None,
    reference: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    require_role(actor, Role.admin, Role.supervisor)
    return service.delivery_log(session, settings, lang, state=state, reference=reference, limit=limit)
