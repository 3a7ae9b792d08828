"""Who may read a request, and what of it: the requests domain's read rules, for every other domain.

Scope is by materialised unit paths (`request_units`); contact details are masked for roles that do not need them;
`is_submitter` says whether the actor is the resident who submitted the request.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, false, or_, select, true, union
from sqlalchemy.orm import Session

from chengzhi.db import path_prefix
from chengzhi.org.models import Role
from chengzhi.org.service import REQUEST_ROLES, Actor
from chengzhi.requests.models import Request, RequestUnit
from chengzhi.security.masking import mask_email, mask_name, mask_phone, mask_text

__all__ = [
    "ACTING_ROLES",
    "acts_on",
    "can_view",
    "contact_reason",
    "is_submitter",
    "mask_email",
    "mask_name",
    "mask_phone",
    "mask_text",
    "sees_contact",
    "unit_paths_by_request",
    "unit_paths_of",
    "visibility_clause",
]


def _has_unrestricted(actor: Actor) -> bool:
    return actor.holds_at_root(*REQUEST_ROLES)


def visibility_clause(actor: Actor, *, set_based: bool = False) -> ColumnElement[bool]:
    """The requests an actor may read: their own (residents) and those held by units in their subtree (staff).

    Two equivalent forms: a correlated EXISTS, probed row by row (best for newest-first pages, which stop after a
    few rows), or `set_based`, the ids held in the subtree read once from the unit-path index (best for counting
    a whole scope)."""
    if actor.is_anonymous:
        return false()
    own = Request.submitter_id == actor.user_id
    staff_paths = sorted({g.unit_path for g in actor.grants if g.role in REQUEST_ROLES})
    if _has_unrestricted(actor):
        return true()
    if not staff_paths:
        return own
    within = or_(*(path_prefix(RequestUnit.unit_path, p) for p in staff_paths))
    if set_based:
        held = select(RequestUnit.request_id).where(within)
        return Request.id.in_(union(held, select(Request.id).where(own)))
    return or_(own, exists().where(RequestUnit.request_id == Request.id, within))


def unit_paths_of(session: Session, request: Request) -> list[str]:
    return list(session.scalars(select(RequestUnit.unit_path).where(RequestUnit.request_id == request.id)))


def unit_paths_by_request(session: Session, request_ids: Sequence[int]) -> dict[int, list[str]]:
    """`unit_paths_of` for many requests in one query (request id -> the paths of the units holding it)."""
    found: dict[int, list[str]] = {int(i): [] for i in request_ids}
    if found:
        query = select(RequestUnit.request_id, RequestUnit.unit_path).where(RequestUnit.request_id.in_(found))
        for request_id, path in session.execute(query):
            found[request_id].append(path)
    return found


def is_submitter(actor: Actor, request: Request) -> bool:
    """Whether the actor is the resident who submitted the request with their account."""
    return request.submitter_id is not None and request.submitter_id == actor.user_id


def can_view(session: Session, actor: Actor, request: Request) -> bool:
    if actor.is_anonymous:
        return False
    if is_submitter(actor, request):
        return True
    paths = unit_paths_of(session, request)
    return any(actor.covers(p, *REQUEST_ROLES) for p in paths)


# The roles that take steps on a request (and may attach or moderate its photos); leaders, analysts and
# administrators read but do not act.
ACTING_ROLES = (Role.operator, Role.dispatcher, Role.handler, Role.supervisor)


def acts_on(session: Session, actor: Actor, request: Request, *, paths: Sequence[str] | None = None) -> bool:
    """Whether the actor holds a role that acts on requests in a unit holding this one."""
    if actor.is_anonymous:
        return False
    paths = unit_paths_of(session, request) if paths is None else paths
    return any(actor.covers(p, *ACTING_ROLES) for p in paths)


def sees_contact(
    session: Session, actor: Actor, request: Request, *, paths: Sequence[str] | None = None
) -> bool:
    """Contact details are for the people who must reach the resident: the resident, the operator who took
    the request, handlers of the lead and co-units, and supervisors who make follow-up calls.
    `paths`: the request's unit paths, when the caller has them already."""
    return contact_reason(session, actor, request, paths=paths) is not None


def contact_reason(
    session: Session, actor: Actor, request: Request, *, paths: Sequence[str] | None = None
) -> str | None:
    """Why the actor may see the resident's contact details ("submitter", "handler", "operator",
    "supervisor"), or None when they may not (see `sees_contact`). Staff views are recorded with this reason."""
    if actor.is_anonymous:
        return None
    if is_submitter(actor, request):
        return "submitter"
    handling = {request.lead_unit_id, *(request.co_unit_ids or [])}
    if any(g.role == Role.handler and g.unit_id in handling for g in actor.grants):
        return "handler"
    paths = unit_paths_of(session, request) if paths is None else paths
    for role in (Role.operator, Role.supervisor):
        if any(actor.covers(p, role) for p in paths):
            return role.value
    return None
