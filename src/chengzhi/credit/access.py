"""Who may do what in credit supervision, and the local date: shared by the API and the pages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import Forbidden
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, require_role

# Department staff who may add records for their own unit (its source), file cases and call the lookup.
DEPARTMENT_ROLES = (Role.handler, Role.supervisor, Role.leader, Role.dispatcher)
OFFICER_ROLES = (Role.credit_officer, Role.admin)


def today(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()


def is_officer(actor: Actor) -> bool:
    return actor.has_role(*OFFICER_ROLES)


def require_officer(actor: Actor) -> None:
    require_role(actor, *OFFICER_ROLES)


def require_department(actor: Actor) -> None:
    """Credit officers, administrators and department staff."""
    require_role(actor, *OFFICER_ROLES, *DEPARTMENT_ROLES)


def department_units(session: Session, actor: Actor, wanted: int | None) -> int | None:
    """The unit a department actor acts for: `wanted` if within their scope, else their first; officers any."""
    if is_officer(actor):
        return wanted
    units = actor.units_for(*DEPARTMENT_ROLES)
    if not units:
        require_department(actor)
    chosen = wanted if wanted is not None else units[0]
    unit = org_queries.unit_by_id(session, chosen)
    if unit is None or not actor.covers(unit.path, *DEPARTMENT_ROLES):
        raise Forbidden("out_of_scope")
    return chosen


def record_source(session: Session, actor: Actor, wanted: int | None) -> int | None:
    """The source unit of a record someone adds: as `department_units`, and an officer who names none adds it
    for their own unit (every record has its source)."""
    unit = department_units(session, actor, wanted)
    own = actor.units_for(*OFFICER_ROLES)
    return own[0] if unit is None and own else unit
