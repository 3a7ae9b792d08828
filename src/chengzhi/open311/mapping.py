"""Our workflow's statuses and Open311's: the basic open/closed, FixMyStreet's extended statuses, and the
workflow steps an outside system's update stands for; the steps published as updates."""

from __future__ import annotations

from chengzhi.requests.workflow import OPEN_STATUSES, TRANSITIONS, Action, Status

# Events published as updates: the steps that change a request's status.
UPDATE_ACTIONS = (
    *(a.value for a, t in TRANSITIONS.items() if t.target is not None and a is not Action.receive),
    Action.record_outcome.value,
)

EXTENDED_STATUSES = (
    "OPEN",
    "INVESTIGATING",
    "IN_PROGRESS",
    "ACTION_SCHEDULED",
    "FIXED",
    "DUPLICATE",
    "NOT_COUNCILS_RESPONSIBILITY",
    "NO_FURTHER_ACTION",
    "INTERNAL_REFERRAL",
    "CLOSED",
    "CANCELLED",
    "REOPEN",
)

# Ours -> extended (what we publish).
EXTENDED_OF_STATUS: dict[str, str] = {
    Status.received: "OPEN",
    Status.dispatched: "OPEN",
    Status.returned: "OPEN",
    Status.signed: "INVESTIGATING",
    Status.contacted: "IN_PROGRESS",
    Status.replied: "FIXED",
    Status.reviewed: "FIXED",
    Status.closed: "CLOSED",
    Status.reopened: "REOPEN",
}

# Extended -> the steps the lead unit takes in our workflow (what we apply). The forward steps are taken in
# order, skipping those the request is already past.
FORWARD = (Action.sign, Action.contact, Action.reply)
STEPS_OF_EXTENDED: dict[str, tuple[Action, ...]] = {
    "OPEN": (),
    "REOPEN": (),
    "INVESTIGATING": (Action.sign,),
    "ACTION_SCHEDULED": (Action.sign, Action.contact),
    "IN_PROGRESS": (Action.sign, Action.contact),
    "FIXED": FORWARD,
    "CLOSED": FORWARD,
    "NO_FURTHER_ACTION": FORWARD,
    "NOT_COUNCILS_RESPONSIBILITY": (Action.return_,),
    "INTERNAL_REFERRAL": (Action.return_,),
    "DUPLICATE": (Action.return_,),
    "CANCELLED": (Action.return_,),
}

# How far along the handling a status is: a forward step is skipped when the request is already there.
RANK: dict[str, int] = {
    Status.received: 0,
    Status.dispatched: 0,
    Status.returned: 0,
    Status.reopened: 0,
    Status.signed: 1,
    Status.contacted: 2,
    Status.replied: 3,
    Status.reviewed: 4,
    Status.closed: 4,
}
RANK_AFTER: dict[Action, int] = {Action.sign: 1, Action.contact: 2, Action.reply: 3}


def basic_status(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


def statuses_for_basic(basic: str) -> list[str]:
    """Our statuses behind Open311's `open` or `closed`."""
    opened = sorted(s.value for s in OPEN_STATUSES)
    if basic == "open":
        return opened
    return sorted(s.value for s in Status if s.value not in opened)


def extended_status(status: str) -> str:
    return EXTENDED_OF_STATUS.get(status, "OPEN")
