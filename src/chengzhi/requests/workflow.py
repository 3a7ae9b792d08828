"""The workflow of a request, as one explicit state machine.

A request's state is a fold of its append-only event log: `fold(steps)` rebuilds it, `apply(state, step)` moves it
by one step and refuses an illegal one with `IllegalTransition`. Nothing here touches a database; deadlines and
unit ids arrive in each step's payload, computed by the service layer when the step is taken, so that replaying
the log always gives the same state.

    received ─► (answered at intake) ─────────────────────────────► replied
       └─► dispatched ─► signed ─► contacted ─► replied ─► reviewed ─► closed
              ▲   └─ returned                    │            └─ reopened ─► dispatched
              └──────────────────────────────────┘  (extensions, supervision, co-units, merge on the side)
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chengzhi.i18n import N_, NC_, Text, translate


class Status(enum.StrEnum):
    received = "received"
    dispatched = "dispatched"
    signed = "signed"
    contacted = "contacted"
    replied = "replied"
    reviewed = "reviewed"
    closed = "closed"
    returned = "returned"
    reopened = "reopened"


class Action(enum.StrEnum):
    receive = "receive"
    answer = "answer"  # a consultation answered at intake
    dispatch = "dispatch"
    sign = "sign"
    return_ = "return"
    contact = "contact"
    reply = "reply"
    review = "review"
    close = "close"
    reopen = "reopen"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    refuse_extension = "refuse_extension"
    supervise = "supervise"
    co_handle = "co_handle"
    merge = "merge"
    mark_overdue = "mark_overdue"
    record_outcome = "record_outcome"  # a historical record's outcome, from an import
    message = (
        "message"  # the resident wrote again about the request (a reply by e-mail): nothing else changes
    )


RECORDABLE_OUTCOMES = frozenset({Status.replied, Status.closed})
OPEN_STATUSES = frozenset(
    {Status.received, Status.dispatched, Status.signed, Status.contacted, Status.returned, Status.reopened}
)
ALL_STATUSES = frozenset(Status)
NOT_CLOSED = ALL_STATUSES - {Status.closed}

# The stage whose deadline runs while a request is in a status.
STAGE_OF_STATUS: dict[Status, str] = {
    Status.dispatched: "sign",
    Status.signed: "contact",
    Status.contacted: "reply",
    Status.replied: "review",
}


@dataclass(frozen=True)
class Transition:
    sources: frozenset[Status | None]
    target: Status | None  # None: the status does not change
    hint: Text  # why not, shown after the illegal_transition message


TRANSITIONS: dict[Action, Transition] = {
    Action.receive: Transition(
        frozenset({None}),
        Status.received,
        N_("A request is received only once."),
    ),
    Action.answer: Transition(
        frozenset({Status.received}),
        Status.replied,
        N_("Only a request not yet dispatched can be answered at intake."),
    ),
    Action.dispatch: Transition(
        frozenset({Status.received, Status.returned, Status.reopened}),
        Status.dispatched,
        N_("Only new, returned or reopened requests can be dispatched."),
    ),
    Action.sign: Transition(
        frozenset({Status.dispatched}),
        Status.signed,
        N_("Only a dispatched request that is not yet signed can be signed."),
    ),
    Action.return_: Transition(
        frozenset({Status.dispatched, Status.signed}),
        Status.returned,
        N_("A request can only be returned before the resident is contacted."),
    ),
    Action.contact: Transition(
        frozenset({Status.signed}),
        Status.contacted,
        N_("Sign the request first."),
    ),
    Action.reply: Transition(
        frozenset({Status.contacted}),
        Status.replied,
        N_("Contact the resident before replying."),
    ),
    Action.review: Transition(
        frozenset({Status.replied}),
        Status.reviewed,
        N_("Only a replied request that is not yet reviewed can be rated."),
    ),
    Action.close: Transition(
        frozenset({Status.replied, Status.reviewed}),
        Status.closed,
        N_("Only a replied request can be closed."),
    ),
    Action.reopen: Transition(
        frozenset({Status.reviewed, Status.closed}),
        Status.reopened,
        N_("Only a reviewed or closed request can be reopened."),
    ),
    Action.request_extension: Transition(
        frozenset({Status.signed, Status.contacted}),
        None,
        N_("An extension can be asked for between signing and replying."),
    ),
    Action.approve_extension: Transition(
        frozenset({Status.signed, Status.contacted}),
        None,
        N_("An extension can only be decided before the reply."),
    ),
    Action.refuse_extension: Transition(
        frozenset({Status.signed, Status.contacted}),
        None,
        N_("An extension can only be decided before the reply."),
    ),
    Action.supervise: Transition(
        NOT_CLOSED,
        None,
        N_("A closed request cannot be supervised."),
    ),
    Action.co_handle: Transition(
        frozenset({Status.dispatched, Status.signed, Status.contacted}),
        None,
        N_("Co-units can only be added while the request is being handled."),
    ),
    Action.merge: Transition(
        NOT_CLOSED,
        None,
        N_("A closed request cannot be merged."),
    ),
    Action.mark_overdue: Transition(
        frozenset(STAGE_OF_STATUS),
        None,
        N_("This stage has no time limit."),
    ),
    Action.record_outcome: Transition(
        frozenset({Status.received}),
        None,
        N_("Only a newly imported record can take a historical outcome."),
    ),
    Action.message: Transition(
        ALL_STATUSES,
        None,
        N_("A message joins a request that exists."),
    ),
}

STATUS_NAMES: dict[str, Text] = {
    "received": NC_("request status", "received"),
    "dispatched": NC_("request status", "dispatched"),
    "signed": NC_("request status", "signed"),
    "contacted": NC_("request status", "contacted"),
    "replied": NC_("request status", "replied"),
    "reviewed": NC_("request status", "reviewed"),
    "closed": NC_("request status", "closed"),
    "returned": NC_("request status", "returned"),
    "reopened": NC_("request status", "reopened"),
    "new": NC_("request status", "new"),
}

ACTION_NAMES: dict[str, Text] = {
    "receive": NC_("request action", "received"),
    "answer": NC_("request action", "answered at intake"),
    "dispatch": NC_("request action", "dispatched"),
    "sign": NC_("request action", "signed"),
    "return": NC_("request action", "returned"),
    "contact": NC_("request action", "contacted"),
    "reply": NC_("request action", "replied"),
    "review": NC_("request action", "reviewed"),
    "close": NC_("request action", "closed"),
    "reopen": NC_("request action", "reopened"),
    "request_extension": NC_("request action", "given an extension request"),
    "approve_extension": NC_("request action", "given an extension"),
    "refuse_extension": NC_("request action", "refused an extension"),
    "supervise": NC_("request action", "supervised"),
    "co_handle": NC_("request action", "given co-units"),
    "merge": NC_("request action", "merged"),
    "mark_overdue": NC_("request action", "marked overdue"),
    "record_outcome": NC_("request action", "given its historical outcome"),
    "message": NC_("request action", "given a message from the resident"),
}


def status_name(status: str, lang: str) -> str:
    """A status's name in `lang` (Chinese unless "en"; the code itself for a status the workflow does not know)."""
    return translate(lang, STATUS_NAMES.get(status, status))


def action_name(action: str, lang: str) -> str:
    """An action's name in `lang`, a past participle in English (the code itself for an unknown action)."""
    return translate(lang, ACTION_NAMES.get(action, action))


class IllegalTransition(Exception):
    """A step the workflow does not allow from the request's current state."""

    def __init__(self, status: Status | None, action: Action, hint: Text | str = "", code: str = "") -> None:
        self.status = status
        self.action = action
        self.hint = hint
        self.code = code or "illegal_transition"
        super().__init__(f"{action.value} not allowed from {status}: {hint}")


@dataclass(frozen=True)
class Step:
    action: Action
    at: dt.datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowState:
    status: Status | None = None
    lead_unit_id: int | None = None
    co_unit_ids: tuple[int, ...] = ()
    extension_pending: bool = False
    extension_days: int = 0
    issue_id: int | None = None
    deadlines: tuple[tuple[str, str], ...] = ()  # (stage, ISO datetime), sorted by stage
    overdue_stage: str | None = None
    ever_overdue: bool = False
    answered_at_intake: bool = False
    reopen_count: int = 0
    return_count: int = 0
    resolved: bool | None = None
    satisfaction: int | None = None
    reply_text: str | None = None
    dispatched_at: dt.datetime | None = None
    replied_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    event_count: int = 0

    @property
    def deadline_map(self) -> dict[str, str]:
        return dict(self.deadlines)

    @property
    def due_at(self) -> dt.datetime | None:
        stage = STAGE_OF_STATUS.get(self.status) if self.status else None
        value = self.deadline_map.get(stage) if stage else None
        return dt.datetime.fromisoformat(value) if value else None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def _merge_deadlines(state: WorkflowState, new: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    merged = state.deadline_map
    merged.update(new or {})
    return tuple(sorted(merged.items()))


def check(state: WorkflowState, action: Action) -> None:
    """Raise IllegalTransition unless `action` may be taken from `state`."""
    transition = TRANSITIONS[action]
    if state.status not in transition.sources:
        raise IllegalTransition(state.status, action, transition.hint)
    if action is Action.request_extension and state.extension_pending:
        raise IllegalTransition(state.status, action, code="extension_pending")
    if action in (Action.approve_extension, Action.refuse_extension) and not state.extension_pending:
        raise IllegalTransition(state.status, action, code="no_extension_pending")
    if action is Action.mark_overdue and state.overdue_stage is not None:
        raise IllegalTransition(state.status, action, N_("This stage is already marked overdue."))


def allowed_actions(state: WorkflowState) -> list[Action]:
    """Every action the state machine allows now (permissions are the service layer's business)."""
    allowed = []
    for action in Action:
        try:
            check(state, action)
        except IllegalTransition:
            continue
        allowed.append(action)
    return allowed


def apply(state: WorkflowState, step: Step) -> WorkflowState:
    """The state after `step`, or IllegalTransition."""
    check(state, step.action)
    p = step.payload
    action = step.action
    target = TRANSITIONS[action].target
    changes: dict[str, Any] = {"event_count": state.event_count + 1, "updated_at": step.at}
    if target is not None and target != state.status:
        changes["status"] = target
        changes["overdue_stage"] = None  # a new stage starts with a clean slate
    deadlines = p.get("deadlines")

    if action is Action.receive:
        changes["deadlines"] = _merge_deadlines(state, deadlines)
    elif action is Action.answer:
        changes.update(answered_at_intake=True, reply_text=p.get("text"), replied_at=step.at)
        changes["deadlines"] = _merge_deadlines(state, deadlines)
    elif action is Action.dispatch:
        changes.update(
            lead_unit_id=int(p["lead_unit_id"]),
            co_unit_ids=tuple(int(u) for u in p.get("co_unit_ids", ())),
            dispatched_at=step.at,
            extension_pending=False,
            deadlines=tuple(sorted((deadlines or {}).items())),
            resolved=None,
            satisfaction=None,
            closed_at=None,
        )
    elif action is Action.return_:
        changes.update(return_count=state.return_count + 1, extension_pending=False)
    elif action is Action.reply:
        changes.update(reply_text=p.get("text"), replied_at=step.at, extension_pending=False)
        changes["deadlines"] = _merge_deadlines(state, deadlines)
    elif action is Action.review:
        changes.update(resolved=bool(p["resolved"]), satisfaction=int(p["satisfaction"]))
    elif action is Action.close:
        changes["closed_at"] = step.at
    elif action is Action.reopen:
        changes.update(reopen_count=state.reopen_count + 1, closed_at=None)
    elif action is Action.request_extension:
        changes["extension_pending"] = True
    elif action is Action.approve_extension:
        changes.update(
            extension_pending=False,
            extension_days=state.extension_days + int(p.get("days", 0)),
            deadlines=_merge_deadlines(state, deadlines),
        )
        if state.overdue_stage in (deadlines or {}):
            changes["overdue_stage"] = None
    elif action is Action.refuse_extension:
        changes["extension_pending"] = False
    elif action is Action.co_handle:
        added = [int(u) for u in p.get("co_unit_ids", ()) if int(u) not in state.co_unit_ids]
        changes["co_unit_ids"] = state.co_unit_ids + tuple(added)
    elif action is Action.merge:
        changes["issue_id"] = int(p["issue_id"])
    elif action is Action.mark_overdue:
        changes.update(overdue_stage=str(p["stage"]), ever_overdue=True)
    elif action is Action.record_outcome and Status(p["status"]) is Status.received:
        pass  # a progress note from the old system on a case still open there: nothing else changes
    elif action is Action.record_outcome:
        outcome = Status(p["status"])
        if outcome not in RECORDABLE_OUTCOMES:
            raise IllegalTransition(state.status, action, N_("A historical outcome is replied or closed."))
        changes.update(
            status=outcome,
            overdue_stage=None,
            lead_unit_id=p.get("lead_unit_id"),
            reply_text=p.get("reply_text"),
        )
        if p.get("replied_at"):
            changes["replied_at"] = dt.datetime.fromisoformat(p["replied_at"])
        if outcome is Status.closed:
            changes["closed_at"] = dt.datetime.fromisoformat(p.get("closed_at") or step.at.isoformat())
    return replace(state, **changes)


def fold(steps: Iterable[Step]) -> WorkflowState:
    """Rebuild a request's state from its whole event log."""
    state = WorkflowState()
    for step in steps:
        state = apply(state, step)
    return state
