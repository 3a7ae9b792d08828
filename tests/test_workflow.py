"""The pure state machine of requests (no database): every transition, every refusal, the side rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from chengzhi.i18n import MESSAGES, message, translate
from chengzhi.requests.service import illegal_to_message
from chengzhi.requests.workflow import (
    RECORDABLE_OUTCOMES,
    STAGE_OF_STATUS,
    TRANSITIONS,
    Action,
    IllegalTransition,
    Status,
    Step,
    WorkflowState,
    allowed_actions,
    apply,
    check,
    fold,
    status_name,
)

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
LEAD, CO, OTHER = 17, 23, 31


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def iso(hours: float) -> str:
    return at(hours).isoformat()


DISPATCH_DEADLINES = {"sign": iso(2), "contact": iso(24), "reply": iso(200)}


def payload_for(action: Action) -> dict[str, Any]:
    """A valid payload for each action, as the service layer would write it."""
    payloads: dict[Action, dict[str, Any]] = {
        Action.receive: {"channel": "web"},
        Action.answer: {"text": "答复", "deadlines": {"review": iso(300)}},
        Action.dispatch: {"lead_unit_id": LEAD, "co_unit_ids": [CO], "deadlines": DISPATCH_DEADLINES},
        Action.return_: {"reason": "不属于本单位"},
        Action.reply: {"text": "已处理", "deadlines": {"review": iso(300)}},
        Action.review: {"resolved": True, "satisfaction": 4},
        Action.reopen: {"reason": "没有解决"},
        Action.request_extension: {"days": 3},
        Action.approve_extension: {"days": 3, "deadlines": {"reply": iso(400)}},
        Action.co_handle: {"co_unit_ids": [OTHER]},
        Action.merge: {"issue_id": 5},
        Action.mark_overdue: {"stage": "sign"},
        Action.record_outcome: {"status": "closed"},
    }
    return payloads.get(action, {})


# A legal path into every status, so that each state below is one the workflow can actually reach.
PATHS: dict[Status | None, list[Action]] = {
    None: [],
    Status.received: [Action.receive],
    Status.dispatched: [Action.receive, Action.dispatch],
    Status.signed: [Action.receive, Action.dispatch, Action.sign],
    Status.contacted: [Action.receive, Action.dispatch, Action.sign, Action.contact],
    Status.replied: [Action.receive, Action.dispatch, Action.sign, Action.contact, Action.reply],
    Status.reviewed: [
        Action.receive,
        Action.dispatch,
        Action.sign,
        Action.contact,
        Action.reply,
        Action.review,
    ],
    Status.closed: [Action.receive, Action.dispatch, Action.sign, Action.contact, Action.reply, Action.close],
    Status.returned: [Action.receive, Action.dispatch, Action.return_],
    Status.reopened: [
        Action.receive,
        Action.dispatch,
        Action.sign,
        Action.contact,
        Action.reply,
        Action.review,
        Action.reopen,
    ],
}
SOURCES: list[Status | None] = [None, *Status]


def run(actions: list[Action], start: float = 0) -> WorkflowState:
    return fold(Step(a, at(start + i), payload_for(a)) for i, a in enumerate(actions))


def state_in(status: Status | None, action: Action | None = None) -> WorkflowState:
    state = run(PATHS[status])
    assert state.status == status
    if action in (Action.approve_extension, Action.refuse_extension) and status in (
        Status.signed,
        Status.contacted,
    ):
        state = apply(state, Step(Action.request_extension, at(50), {"days": 3}))
    return state


def test_every_status_has_a_reachable_path() -> None:
    assert set(PATHS) == set(SOURCES)


LEGAL = [(s, a) for a in Action for s in SOURCES if s in TRANSITIONS[a].sources]
ILLEGAL = [(s, a) for a in Action for s in SOURCES if s not in TRANSITIONS[a].sources]


def test_transition_table_covers_every_action() -> None:
    assert set(TRANSITIONS) == set(Action)
    assert len(LEGAL) + len(ILLEGAL) == len(SOURCES) * len(Action)


@pytest.mark.parametrize(("status", "action"), LEGAL, ids=lambda v: str(v))
def test_legal_transition(status: Status | None, action: Action) -> None:
    before = state_in(status, action)
    after = apply(before, Step(action, at(100), payload_for(action)))
    target = TRANSITIONS[action].target
    if action is Action.record_outcome:
        target = Status(payload_for(action)["status"])
    assert after.status == (target if target is not None else status)
    assert after.event_count == before.event_count + 1
    assert after.updated_at == at(100)
    assert action in allowed_actions(before) or action is Action.record_outcome
    # The input state is untouched: a step yields a new state.
    assert before == state_in(status, action)


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=lambda v: str(v))
def test_illegal_transition_is_refused_with_a_hint(status: Status | None, action: Action) -> None:
    state = state_in(status)
    with pytest.raises(IllegalTransition) as refused:
        apply(state, Step(action, at(100), payload_for(action)))
    exc = refused.value
    assert exc.status == status
    assert exc.action is action
    assert exc.code == "illegal_transition"
    assert exc.hint.strip() and translate("zh", exc.hint) != exc.hint
    assert action not in allowed_actions(state)
    # The API renders it from the i18n catalogue: status, action and hint all appear in the message.
    params = illegal_to_message(exc)
    english = message("illegal_transition", "en", params)
    assert exc.hint in english
    assert status_name(status.value if status else "new", "en") in english
    chinese = message("illegal_transition", "zh", params)
    assert (
        translate("zh", exc.hint) in chinese
        and status_name(status.value if status else "new", "zh") in chinese
    )


def test_allowed_actions_agree_with_check() -> None:
    for status in SOURCES:
        state = state_in(status)
        for action in Action:
            try:
                check(state, action)
            except IllegalTransition:
                assert action not in allowed_actions(state)
            else:
                assert action in allowed_actions(state)


# ---------------------------------------------------------------- extensions


def test_only_one_extension_pending_at_a_time() -> None:
    state = apply(state_in(Status.signed), Step(Action.request_extension, at(50), {"days": 2}))
    assert state.extension_pending
    with pytest.raises(IllegalTransition) as refused:
        apply(state, Step(Action.request_extension, at(51), {"days": 2}))
    assert refused.value.code == "extension_pending"
    assert refused.value.code in MESSAGES
    assert Action.request_extension not in allowed_actions(state)
    assert {Action.approve_extension, Action.refuse_extension} <= set(allowed_actions(state))


@pytest.mark.parametrize("decision", [Action.approve_extension, Action.refuse_extension])
@pytest.mark.parametrize("status", [Status.signed, Status.contacted])
def test_deciding_needs_a_pending_extension(status: Status, decision: Action) -> None:
    state = state_in(status)
    assert not state.extension_pending
    with pytest.raises(IllegalTransition) as refused:
        apply(state, Step(decision, at(50), payload_for(decision)))
    assert refused.value.code == "no_extension_pending"
    assert refused.value.code in MESSAGES
    assert decision not in allowed_actions(state)


def test_approval_adds_days_and_moves_the_reply_deadline() -> None:
    state = apply(state_in(Status.contacted), Step(Action.request_extension, at(50), {"days": 3}))
    approved = apply(
        state, Step(Action.approve_extension, at(51), {"days": 3, "deadlines": {"reply": iso(400)}})
    )
    assert not approved.extension_pending
    assert approved.extension_days == 3
    assert approved.deadline_map["reply"] == iso(400)
    assert approved.deadline_map["sign"] == DISPATCH_DEADLINES["sign"]  # other stages kept
    assert approved.due_at == at(400)  # contacted: the reply stage runs
    again = apply(approved, Step(Action.request_extension, at(52), {"days": 2}))
    twice = apply(
        again, Step(Action.approve_extension, at(53), {"days": 2, "deadlines": {"reply": iso(450)}})
    )
    assert twice.extension_days == 5


def test_refusal_clears_the_request_and_changes_nothing_else() -> None:
    state = apply(state_in(Status.signed), Step(Action.request_extension, at(50), {"days": 3}))
    refused = apply(state, Step(Action.refuse_extension, at(51), {}))
    assert not refused.extension_pending
    assert refused.extension_days == 0
    assert refused.deadlines == state.deadlines


def test_pending_extension_survives_contact_and_ends_with_reply_return_or_redispatch() -> None:
    pending = apply(state_in(Status.signed), Step(Action.request_extension, at(50), {"days": 3}))
    contacted = apply(pending, Step(Action.contact, at(51), {}))
    assert contacted.extension_pending
    replied = apply(contacted, Step(Action.reply, at(52), payload_for(Action.reply)))
    assert not replied.extension_pending
    returned = apply(pending, Step(Action.return_, at(51), payload_for(Action.return_)))
    assert not returned.extension_pending
    redispatched = apply(returned, Step(Action.dispatch, at(52), payload_for(Action.dispatch)))
    assert not redispatched.extension_pending


def test_approval_clears_an_overdue_reply_stage_only() -> None:
    contacted = state_in(Status.contacted)
    overdue = apply(contacted, Step(Action.mark_overdue, at(250), {"stage": "reply"}))
    pending = apply(overdue, Step(Action.request_extension, at(251), {"days": 3}))
    approved = apply(pending, Step(Action.approve_extension, at(252), payload_for(Action.approve_extension)))
    assert approved.overdue_stage is None
    assert approved.ever_overdue
    # While signed, the contact stage runs: moving the reply deadline does not end a contact overdue.
    signed = apply(state_in(Status.signed), Step(Action.mark_overdue, at(30), {"stage": "contact"}))
    pending = apply(signed, Step(Action.request_extension, at(31), {"days": 3}))
    approved = apply(pending, Step(Action.approve_extension, at(32), payload_for(Action.approve_extension)))
    assert approved.overdue_stage == "contact"


# ---------------------------------------------------------------- reopen, dispatch, outcome


def test_reopen_increments_and_clears_closed_at() -> None:
    closed = state_in(Status.closed)
    assert closed.closed_at is not None
    reopened = apply(closed, Step(Action.reopen, at(100), payload_for(Action.reopen)))
    assert reopened.reopen_count == 1
    assert reopened.closed_at is None
    cycle = [Action.dispatch, Action.sign, Action.contact, Action.reply, Action.review, Action.reopen]
    state = reopened
    for i, action in enumerate(cycle):
        state = apply(state, Step(action, at(101 + i), payload_for(action)))
    assert state.status is Status.reopened
    assert state.reopen_count == 2


def test_dispatch_resets_review_rating_closure_and_deadlines() -> None:
    reviewed = state_in(Status.reviewed)
    assert reviewed.resolved is True and reviewed.satisfaction == 4
    assert "review" in reviewed.deadline_map
    closed = apply(reviewed, Step(Action.close, at(100), {}))
    reopened = apply(closed, Step(Action.reopen, at(101), payload_for(Action.reopen)))
    new_deadlines = {"sign": iso(104), "contact": iso(130), "reply": iso(500)}
    dispatched = apply(
        reopened, Step(Action.dispatch, at(102), {"lead_unit_id": OTHER, "deadlines": new_deadlines})
    )
    assert dispatched.status is Status.dispatched
    assert dispatched.resolved is None
    assert dispatched.satisfaction is None
    assert dispatched.closed_at is None
    assert dispatched.deadline_map == new_deadlines  # the old review deadline is gone
    assert dispatched.due_at == at(104)
    assert dispatched.lead_unit_id == OTHER
    assert dispatched.co_unit_ids == ()
    assert dispatched.dispatched_at == at(102)
    assert dispatched.reopen_count == 1


def test_return_counts_and_keeps_the_lead_until_redispatch() -> None:
    returned = state_in(Status.returned)
    assert returned.return_count == 1
    assert returned.due_at is None  # no stage runs while a returned request waits for a dispatcher
    again = apply(returned, Step(Action.dispatch, at(100), {"lead_unit_id": OTHER, "deadlines": {}}))
    assert again.lead_unit_id == OTHER
    assert again.return_count == 1


@pytest.mark.parametrize("outcome", sorted(RECORDABLE_OUTCOMES))
def test_record_outcome_to_replied_or_closed(outcome: Status) -> None:
    received = state_in(Status.received)
    payload = {
        "status": outcome.value,
        "lead_unit_id": LEAD,
        "reply_text": "历史答复",
        "replied_at": iso(5),
        "closed_at": iso(6),
    }
    recorded = apply(received, Step(Action.record_outcome, at(7), payload))
    assert recorded.status is outcome
    assert recorded.lead_unit_id == LEAD
    assert recorded.replied_at == at(5)
    assert recorded.closed_at == (at(6) if outcome is Status.closed else None)


@pytest.mark.parametrize("outcome", sorted(set(Status) - RECORDABLE_OUTCOMES - {Status.received}))
def test_record_outcome_refuses_any_other_status(outcome: Status) -> None:
    with pytest.raises(IllegalTransition) as refused:
        apply(state_in(Status.received), Step(Action.record_outcome, at(7), {"status": outcome.value}))
    assert refused.value.hint and translate("zh", refused.value.hint) != refused.value.hint


def test_record_outcome_received_is_a_progress_note_that_changes_nothing() -> None:
    """An import's note on a case still open in the old system (docs/import.md, tolerances)."""
    before = state_in(Status.received)
    after = apply(
        before, Step(Action.record_outcome, at(7), {"status": "received", "progress_note": "visit"})
    )
    assert after.status is Status.received and after.reply_text is None and after.lead_unit_id is None
    assert after.event_count == before.event_count + 1


# ---------------------------------------------------------------- deadlines and overdue flags


@pytest.mark.parametrize("status", [Status.dispatched, Status.signed, Status.contacted, Status.replied])
def test_due_at_is_the_deadline_of_the_current_stage(status: Status) -> None:
    state = state_in(status)
    stage = STAGE_OF_STATUS[status]
    assert state.due_at == dt.datetime.fromisoformat(state.deadline_map[stage])


@pytest.mark.parametrize("status", [s for s in Status if s not in STAGE_OF_STATUS])
def test_statuses_without_a_stage_have_no_due_at(status: Status) -> None:
    assert state_in(status).due_at is None


def test_overdue_flag_once_per_stage_cleared_by_the_next_stage() -> None:
    dispatched = state_in(Status.dispatched)
    overdue = apply(dispatched, Step(Action.mark_overdue, at(3), {"stage": "sign"}))
    assert overdue.overdue_stage == "sign" and overdue.ever_overdue
    with pytest.raises(IllegalTransition) as refused:
        apply(overdue, Step(Action.mark_overdue, at(4), {"stage": "sign"}))
    assert refused.value.hint
    signed = apply(overdue, Step(Action.sign, at(5), {}))
    assert signed.overdue_stage is None
    assert signed.ever_overdue
    late_again = apply(signed, Step(Action.mark_overdue, at(30), {"stage": "contact"}))
    assert late_again.overdue_stage == "contact"


def test_side_actions_keep_the_status() -> None:
    contacted = state_in(Status.contacted)
    co = apply(contacted, Step(Action.co_handle, at(60), {"co_unit_ids": [CO, OTHER]}))
    assert co.co_unit_ids == (CO, OTHER)  # CO was there already: not added twice
    assert co.status is Status.contacted
    merged = apply(co, Step(Action.merge, at(61), {"issue_id": 9}))
    assert merged.issue_id == 9
    supervised = apply(merged, Step(Action.supervise, at(62), {}))
    assert supervised.status is Status.contacted
    assert supervised.event_count == contacted.event_count + 3


def test_answer_at_intake_replies_with_a_review_deadline() -> None:
    answered = apply(state_in(Status.received), Step(Action.answer, at(1), payload_for(Action.answer)))
    assert answered.status is Status.replied
    assert answered.answered_at_intake
    assert answered.replied_at == at(1)
    assert answered.due_at == at(300)


def test_fold_equals_stepwise_apply() -> None:
    actions = PATHS[Status.reopened] + [Action.dispatch, Action.sign, Action.return_]
    steps = [Step(a, at(i), payload_for(a)) for i, a in enumerate(actions)]
    state = WorkflowState()
    for step in steps:
        state = apply(state, step)
    assert fold(steps) == state
    assert state.event_count == len(steps)
    assert state.status is Status.returned
