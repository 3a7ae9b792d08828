"""Conditional access (有条件开放): an application states its purpose and accepts the data-use agreement; the
publishing unit approves it (until an expiry) or rejects it with a reason. Resources and their tables are then
readable by the applicant, through the pages and with the applicant's API token."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound
from chengzhi.opendata.models import (
    AccessApplication,
    ApplicationStatus,
    Dataset,
    DatasetStatus,
    OpenLevel,
)
from chengzhi.opendata.service import PUBLISHER_ROLES, may_publish, may_see
from chengzhi.org.queries import unit_paths
from chengzhi.org.service import Actor

MAX_DAYS = 3 * 365
DEFAULT_DAYS = 365


def apply(
    session: Session, actor: Actor, ds: Dataset, purpose: str, agreement_accepted: bool
) -> AccessApplication:
    if actor.is_anonymous:
        raise NotAuthenticated()
    if not may_see(session, actor, ds) or ds.status != DatasetStatus.published:
        raise NotFound("opendata_dataset_not_found", ref=ds.name)
    if ds.open_level != OpenLevel.conditional:
        raise Conflict("opendata_not_conditional")
    purpose = purpose.strip()
    if len(purpose) < 10 or len(purpose) > 2000:
        raise Invalid("opendata_purpose_required")
    if not agreement_accepted:
        raise Invalid("opendata_agreement_required")
    pending = session.scalar(
        select(AccessApplication.id).where(
            AccessApplication.dataset_id == ds.id,
            AccessApplication.user_id == actor.user_id,
            AccessApplication.status == ApplicationStatus.pending,
        )
    )
    if pending is not None:
        raise Conflict("opendata_application_pending")
    assert actor.user_id is not None
    application = AccessApplication(
        dataset_id=ds.id, user_id=actor.user_id, purpose=purpose, agreement_accepted=True
    )
    session.add(application)
    session.flush()
    return application


def decide(
    session: Session,
    actor: Actor,
    application: AccessApplication,
    approve: bool,
    reason: str = "",
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
) -> AccessApplication:
    ds = session.get(Dataset, application.dataset_id)
    assert ds is not None
    if not may_publish(session, actor, ds.unit_id):
        raise Forbidden("forbidden_role", roles="data_publisher")
    if application.status != ApplicationStatus.pending:
        raise Conflict("opendata_application_decided", status=application.status.value)
    if not approve and not reason.strip():
        raise Invalid("opendata_reason_required")
    if not 1 <= days <= MAX_DAYS:
        raise Invalid("opendata_days_range", max=MAX_DAYS)
    now = now or utcnow()
    application.status = ApplicationStatus.approved if approve else ApplicationStatus.rejected
    application.decided_by = actor.user_id
    application.decided_at = now
    application.reason = reason.strip()
    application.expires_at = now + dt.timedelta(days=days) if approve else None
    return application


def get_application(session: Session, application_id: int) -> AccessApplication:
    found = session.get(AccessApplication, application_id)
    if found is None:
        raise NotFound("opendata_application_not_found", ref=application_id)
    return found


def applications_for(session: Session, actor: Actor, limit: int = 200) -> list[AccessApplication]:
    """The actor's own applications, and those to decide for the units where the actor publishes."""
    if actor.is_anonymous:
        return []
    mine = AccessApplication.user_id == actor.user_id
    paths = actor.paths_for(*PUBLISHER_ROLES)
    query = select(AccessApplication).join(Dataset, Dataset.id == AccessApplication.dataset_id)
    if paths:
        unit_ids = [
            unit_id
            for unit_id, path in unit_paths(session, _publishing_units(session)).items()
            if any(path.startswith(p) for p in paths)
        ]
        query = query.where(mine | Dataset.unit_id.in_(unit_ids))
    else:
        query = query.where(mine)
    return list(session.scalars(query.order_by(AccessApplication.id.desc()).limit(limit)))


def _publishing_units(session: Session) -> list[int]:
    return list(session.scalars(select(Dataset.unit_id).distinct()))
