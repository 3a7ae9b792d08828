"""The administration's API over Open311 clients: list them, and mark one as vouching for its users' accounts (or
withdraw it), which lets the `account_id` it posts link requests to residents on proof (`open311.accounts`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from chengzhi.deps import SessionDep, UserDep
from chengzhi.errors import Forbidden
from chengzhi.open311 import accounts
from chengzhi.org.models import Role
from chengzhi.org.service import require_role

router = APIRouter(prefix="/api/v1/open311/clients", tags=["open311"])


class VouchesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vouches_for_accounts: bool


def _client(c: accounts.Client) -> dict[str, Any]:
    return {
        "name": c.name,
        "prefix": c.prefix,
        "revoked": c.revoked,
        "vouches_for_accounts": c.vouches_for_accounts,
        "vouches_changed_at": c.vouches_changed_at.isoformat() if c.vouches_changed_at else None,
        "vouches_changed_by": c.vouches_changed_by,
        "linked_accounts": c.linked_accounts,
        "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
    }


@router.get("", summary="Open311 clients and whether each vouches for its users' accounts (administrators)")
def list_clients(session: SessionDep, actor: UserDep) -> list[dict[str, Any]]:
    require_role(actor, Role.admin)
    return [_client(c) for c in accounts.clients(session)]


@router.put(
    "/{name}/vouches",
    summary="Mark an Open311 client as vouching for its users' accounts, or withdraw it (city administrators)",
)
def set_vouches(name: str, body: VouchesBody, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    require_role(actor, Role.admin)
    if not actor.holds_at_root(Role.admin):
        raise Forbidden("forbidden_role", roles="admin (city)")
    client = accounts.set_vouches(session, name[:80], body.vouches_for_accounts, actor.username)
    session.commit()
    return _client(client)
