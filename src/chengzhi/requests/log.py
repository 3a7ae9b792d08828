"""A request's event log: the workflow state its projection columns hold, appending one event, reading it back.

Every step appends one `RequestEvent` and projects the new state onto the request's columns in the same
transaction (`workflow.apply`); `workflow.fold` over `steps_of(events_of(...))` rebuilds the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.org.service import Actor
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.requests.workflow import Action, Status, Step, WorkflowState
from chengzhi.requests.workflow import apply as apply_step

# The platform itself, as the actor of the steps nobody takes by hand: automatic dispatch at intake, flagging a
# stage overdue, and steps taken by tracking number without an account. No user: the event's payload says why.
SYSTEM = Actor(user_id=None, username="system")


def state_of(request: Request) -> WorkflowState:
    """The workflow state held in the request's projection columns."""
    return WorkflowState(
        status=Status(request.status) if request.event_count else None,
        lead_unit_id=request.lead_unit_id,
        co_unit_ids=tuple(request.co_unit_ids or ()),
        extension_pending=request.extension_pending,
        extension_days=request.extension_days,
        issue_id=request.issue_id,
        deadlines=tuple(sorted((request.deadlines or {}).items())),
        overdue_stage=request.overdue_stage,
        ever_overdue=request.ever_overdue,
        answered_at_intake=request.answered_at_intake,
        reopen_count=request.reopen_count,
        return_count=request.return_count,
        resolved=request.resolved,
        satisfaction=request.satisfaction,
        reply_text=request.reply_text,
        dispatched_at=request.dispatched_at,
        replied_at=request.replied_at,
        closed_at=request.closed_at,
        updated_at=request.updated_at,
        event_count=request.event_count,
    )


def projection(state: WorkflowState) -> dict[str, Any]:
    """The request's projection columns for `state` (`updated_at` only when the state has one)."""
    columns: dict[str, Any] = {
        "status": state.status.value if state.status else Status.received.value,
        "lead_unit_id": state.lead_unit_id,
        "co_unit_ids": list(state.co_unit_ids),
        "extension_pending": state.extension_pending,
        "extension_days": state.extension_days,
        "issue_id": state.issue_id,
        "deadlines": state.deadline_map,
        "due_at": state.due_at,
        "overdue_stage": state.overdue_stage,
        "ever_overdue": state.ever_overdue,
        "answered_at_intake": state.answered_at_intake,
        "reopen_count": state.reopen_count,
        "return_count": state.return_count,
        "resolved": state.resolved,
        "satisfaction": state.satisfaction,
        "reply_text": state.reply_text,
        "dispatched_at": state.dispatched_at,
        "replied_at": state.replied_at,
        "closed_at": state.closed_at,
    }
    if state.updated_at is not None:
        columns["updated_at"] = state.updated_at
    columns["event_count"] = state.event_count
    return columns


def project(request: Request, state: WorkflowState) -> None:
    for name, value in projection(state).items():
        setattr(request, name, value)


def append_event(
    session: Session,
    request: Request,
    actor: Actor,
    action: Action,
    now: dt.datetime,
    *,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> RequestEvent:
    payload = payload or {}
    new_state = apply_step(state_of(request), Step(action, now, payload))
    event = event_row(request, actor, action, now, seq=request.event_count + 1, note=note, payload=payload)
    session.add(event)
    project(request, new_state)
    return event


def event_values(
    request_id: int | None,
    actor: Actor,
    action: Action,
    now: dt.datetime,
    *,
    seq: int,
    note: str | None = None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """The columns of an event row, for writing it with Core (intake: the request's id comes from the statement)."""
    return {
        "request_id": request_id,
        "seq": seq,
        "action": action.value,
        "at": now,
        "actor_id": actor.user_id,
        "actor_unit_id": actor.primary_unit_id,
        "note": note,
        "payload": payload,
    }


def event_row(
    request: Request,
    actor: Actor,
    action: Action,
    now: dt.datetime,
    *,
    seq: int,
    note: str | None = None,
    payload: dict[str, Any],
) -> RequestEvent:
    return RequestEvent(
        request_id=request.id,
        seq=seq,
        action=action.value,
        at=now,
        actor_id=actor.user_id,
        actor_unit_id=actor.primary_unit_id,
        note=note,
        payload=payload,
    )


def events_of(session: Session, request: Request) -> list[RequestEvent]:
    query = select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(RequestEvent.seq)
    return list(session.scalars(query))


def steps_of(events: Sequence[RequestEvent]) -> list[Step]:
    return [Step(Action(e.action), e.at, e.payload or {}) for e in events]
