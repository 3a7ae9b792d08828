"""REST API under /api/v1/webhooks, for administrators: subscriptions, the delivery log, replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep, UserDep
from chengzhi.org.models import Role
from chengzhi.org.service import require_role
from chengzhi.webhooks import service

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    url: str = Field(min_length=8, max_length=500)
    events: list[Annotated[str, Field(max_length=40)]] = Field(min_length=1, max_length=20)


@router.get("/subscriptions")
def list_subscriptions(session: SessionDep, actor: UserDep) -> list[dict[str, Any]]:
    require_role(actor, Role.admin)
    return [service.subscription_out(s) for s in service.subscriptions(session)]


@router.post("/subscriptions", status_code=201)
def add_subscription(
    body: SubscriptionIn, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> dict[str, Any]:
    """The answer holds the signing secret, once."""
    require_role(actor, Role.admin)
    subscription, secret = service.subscribe(session, settings, body.name, body.url, body.events, utcnow())
    session.commit()
    return {**service.subscription_out(subscription), "secret": secret}


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def deactivate_subscription(subscription_id: Id, session: SessionDep, actor: UserDep) -> None:
    require_role(actor, Role.admin)
    service.deactivate(session, subscription_id)
    session.commit()


@router.get("/deliveries")
def list_deliveries(
    session: SessionDep,
    actor: UserDep,
    subscription_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    require_role(actor, Role.admin)
    return service.deliveries(session, subscription_id, limit)


@router.post("/deliveries/{delivery_id}/replay", status_code=201)
def replay_delivery(delivery_id: Id, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    require_role(actor, Role.admin)
    copy = service.replay(session, delivery_id, utcnow())
    session.commit()
    return {"id": copy.id, "event_id": copy.event_id, "state": copy.state, "replay_of": copy.replay_of}
