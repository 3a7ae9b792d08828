"""`Idempotency-Key` on POST: a retried submission or workflow step never acts twice; and a 201 means committed.

Concurrency is tested twice: deterministically, by letting a retry miss the saved response as a racing retry
would (the first call not yet committed when it looked), and for real, with threads.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi import idempotency
from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import make_engine
from chengzhi.idempotency import IdempotencyRecord
from chengzhi.requests.models import Request, RequestEvent

from .factories import City
from .patience import WORK_SECONDS
from .test_api_errors import SUBMIT, assert_error, created_number, token_headers, valid_submission


def _count(session: Session, model: type[Any], *where: Any) -> int:
    session.rollback()  # a new transaction, which sees what the app committed since
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _post(
    client: TestClient, path: str, body: Any, key: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        path, json=body, headers={"Idempotency-Key": key} | (headers or {})
    )
    return response


# ---------------------------------------------------------------- retries of a submission


def test_same_key_and_body_twice_makes_one_request(client: TestClient, city: City, session: Session) -> None:
    operator = token_headers(client, "operator")
    first = _post(client, SUBMIT, valid_submission(), "retry-1", operator)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = _post(client, SUBMIT, valid_submission(), "retry-1", operator)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert _count(session, Request) == 1
    assert _count(session, RequestEvent) == 1
    # Without a key, the same body is a new request.
    created_number(client.post(SUBMIT, json=valid_submission(), headers=operator))
    assert _count(session, Request) == 2


def test_same_key_with_another_body_is_409(client: TestClient, city: City, session: Session) -> None:
    operator = token_headers(client, "operator")
    created_number(_post(client, SUBMIT, valid_submission(), "k", operator))
    changed = _post(client, SUBMIT, valid_submission(text="另一件事"), "k", operator)
    assert "Idempotency-Key" in assert_error(changed, 409, "idempotency_conflict")["message"]
    # The same key on another endpoint is another request too.
    number = created_number(client.post(SUBMIT, json=valid_submission(category="litter"), headers=operator))
    other_path = _post(client, f"{SUBMIT}/{number}/answer", {"text": "已答复"}, "k", operator)
    assert_error(other_path, 409, "idempotency_conflict")
    assert _count(session, Request) == 2


def test_keys_belong_to_their_principal(client: TestClient, city: City, session: Session) -> None:
    body = valid_submission()
    operator = _post(client, SUBMIT, body, "shared", token_headers(client, "operator"))
    resident = _post(client, SUBMIT, body, "shared", token_headers(client, "resident"))
    assert operator.status_code == resident.status_code == 201
    assert "idempotent-replayed" not in resident.headers
    assert operator.json()["request"]["id"] != resident.json()["request"]["id"]
    # Anonymous callers are told apart by address: a stranger's key never replays another's response, which
    # holds their contact details and their photo token.
    stranger = TestClient(client.app, client=("203.0.113.9", 1234), raise_server_exceptions=False)
    mine = _post(client, SUBMIT, body, "shared")
    theirs = _post(stranger, SUBMIT, body, "shared")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["photo_token"] != theirs.json()["photo_token"]
    assert "idempotent-replayed" not in theirs.headers
    again = _post(client, SUBMIT, body, "shared")
    assert again.headers["idempotent-replayed"] == "true" and again.json() == mine.json()
    assert _count(session, Request) == 4


def test_a_failed_call_saves_nothing_under_its_key(client: TestClient, city: City, session: Session) -> None:
    operator = token_headers(client, "operator")
    failed = _post(client, SUBMIT, valid_submission(category="no-such-category"), "fix-and-retry", operator)
    assert_error(failed, 404, "category_not_found")
    assert _count(session, IdempotencyRecord) == 0
    fixed = _post(client, SUBMIT, valid_submission(category="litter"), "fix-and-retry", operator)
    assert fixed.status_code == 201, fixed.text
    assert _count(session, Request) == 1


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
def test_unusable_keys_are_422(client: TestClient, city: City, session: Session, key: str) -> None:
    response = _post(client, SUBMIT, valid_submission(), key, token_headers(client, "operator"))
    assert_error(response, 422, "validation_failed")
    assert _count(session, Request) == 0


def test_a_replayed_retry_does_not_count_against_the_rate_limit(
    client: TestClient, city: City, session: Session
) -> None:
    first = _post(client, SUBMIT, valid_submission(), "mine-0")
    for n in range(1, 10):
        created_number(_post(client, SUBMIT, valid_submission(), f"mine-{n}"))
    retry = _post(client, SUBMIT, valid_submission(), "mine-0")
    assert retry.status_code == 201 and retry.json() == first.json()
    assert_error(_post(client, SUBMIT, valid_submission(), "mine-10"), 429, "rate_limited")
    assert _count(session, Request) == 10


# ---------------------------------------------------------------- retries of a workflow step


def test_a_step_retried_with_its_key_happens_once(client: TestClient, city: City, session: Session) -> None:
    number = created_number(
        client.post(
            SUBMIT, json=valid_submission(category="litter"), headers=token_headers(client, "operator")
        )
    )
    dispatcher = token_headers(client, "dispatcher")
    body = {"lead_unit_id": city.unit("D1S1C1").id, "note": "请尽快处理"}
    first = _post(client, f"{SUBMIT}/{number}/dispatch", body, "dispatch-1", dispatcher)
    assert first.status_code == 200, first.text
    second = _post(client, f"{SUBMIT}/{number}/dispatch", body, "dispatch-1", dispatcher)
    assert second.status_code == 200 and second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert _count(session, RequestEvent, RequestEvent.action == "dispatch") == 1
    # Without the key the retry is a second dispatch, which the workflow refuses.
    assert_error(
        client.post(f"{SUBMIT}/{number}/dispatch", json=body, headers=dispatcher), 409, "illegal_transition"
    )

    handler = token_headers(client, "d1s1c1-handler")
    signed = _post(client, f"{SUBMIT}/{number}/sign", None, "sign-1", handler)
    assert signed.status_code == 200, signed.text
    assert _post(client, f"{SUBMIT}/{number}/sign", None, "sign-1", handler).json() == signed.json()
    assert _count(session, RequestEvent, RequestEvent.action == "sign") == 1


# ---------------------------------------------------------------- racing retries


def _miss_next_replay(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    real = idempotency.replay
    misses: list[int] = []

    def replay(
        session: Session, slot: idempotency.IdempotencySlot | None
    ) -> tuple[int, dict[str, Any]] | None:
        if slot is not None and not misses:
            misses.append(1)
            return None
        return real(session, slot)

    monkeypatch.setattr(idempotency, "replay", replay)
    return misses


def test_a_signed_in_retry_is_answered_when_its_key_is_written(
    client: TestClient, city: City, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed-in caller's key is not looked up first (one query less for every first call): the retry does the
    whole submission again, fails on the key's unique constraint at commit, and gets the first response."""
    operator = token_headers(client, "operator")
    first = _post(client, SUBMIT, valid_submission(), "race", operator)
    assert first.status_code == 201
    looked_up: list[int] = []
    real = idempotency.replay

    def replay(
        session: Session, slot: idempotency.IdempotencySlot | None
    ) -> tuple[int, dict[str, Any]] | None:
        looked_up.append(1)
        return real(session, slot)

    monkeypatch.setattr(idempotency, "replay", replay)
    retry = _post(client, SUBMIT, valid_submission(), "race", operator)
    assert looked_up == [1]  # once, after the conflict, not before the work
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    # All of the retry's work was rolled back: no second request, no orphan event.
    assert _count(session, Request) == 1
    assert _count(session, RequestEvent) == 1


def test_a_racing_anonymous_retry_gets_the_first_response_and_leaves_nothing_behind(
    client: TestClient, city: City, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _post(client, SUBMIT, valid_submission(), "race")
    assert first.status_code == 201
    misses = _miss_next_replay(monkeypatch)
    # The anonymous retry is looked up first; a racing one passes that check, does the whole submission again and
    # only fails on the key's unique constraint at commit.
    retry = _post(client, SUBMIT, valid_submission(), "race")
    assert misses == [1]
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert _count(session, Request) == 1
    assert _count(session, RequestEvent) == 1


def test_a_retried_step_gets_the_first_response_not_a_409(
    client: TestClient, city: City, session: Session
) -> None:
    number = created_number(
        client.post(
            SUBMIT, json=valid_submission(category="litter"), headers=token_headers(client, "operator")
        )
    )
    dispatcher = token_headers(client, "dispatcher")
    body = {"lead_unit_id": city.unit("D1S1C1").id}
    first = _post(client, f"{SUBMIT}/{number}/dispatch", body, "race", dispatcher)
    assert first.status_code == 200
    # The retry finds the request already dispatched: the workflow refuses, and the retry is answered with
    # the first call's response instead of that refusal.
    retry = _post(client, f"{SUBMIT}/{number}/dispatch", body, "race", dispatcher)
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert _count(session, RequestEvent, RequestEvent.action == "dispatch") == 1


def _race(settings: Settings, count: int, send: Any) -> list[httpx.Response]:
    """`count` clients (threads) send at the same moment; returns their responses."""
    app = create_app(settings)
    barrier = threading.Barrier(count)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                barrier.wait(timeout=WORK_SECONDS)
                response = send(client)
            with lock:
                responses.append(response)
        except BaseException as exc:  # collected and re-raised in the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WORK_SECONDS)
    assert not errors, errors
    assert len(responses) == count
    return responses


def _assert_one_winner(responses: list[httpx.Response], status: int) -> dict[str, Any]:
    """Every retry got the winner's response; on SQLite one may instead be told to retry (503, its writer
    lock), which acts on nothing."""
    served = [r for r in responses if r.status_code == status]
    assert served, [r.text for r in responses]
    for response in responses:
        if response.status_code == 503:
            assert_error(response, 503, "internal_error")
            assert response.headers["retry-after"]
        else:
            assert response.status_code == status, response.text
    bodies = {r.text for r in served}
    assert len(bodies) == 1, bodies
    assert sum("idempotent-replayed" not in r.headers for r in served) == 1, "one original, the rest replays"
    body: dict[str, Any] = served[0].json()
    return body


def test_concurrent_retries_of_a_submission_create_one_request(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    headers = token_headers(client, "operator") | {"Idempotency-Key": "storm"}
    responses = _race(settings, 4, lambda c: c.post(SUBMIT, json=valid_submission(), headers=headers))
    _assert_one_winner(responses, 201)
    assert _count(session, Request) == 1
    assert _count(session, RequestEvent) == 1


def test_concurrent_retries_of_a_step_act_once(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    number = created_number(
        client.post(
            SUBMIT, json=valid_submission(category="litter"), headers=token_headers(client, "operator")
        )
    )
    headers = token_headers(client, "dispatcher") | {"Idempotency-Key": "storm"}
    body = {"lead_unit_id": city.unit("D1S1C1").id}
    responses = _race(
        settings, 4, lambda c: c.post(f"{SUBMIT}/{number}/dispatch", json=body, headers=headers)
    )
    assert _assert_one_winner(responses, 200)["status"] == "dispatched"
    assert _count(session, RequestEvent, RequestEvent.action == "dispatch") == 1


# ---------------------------------------------------------------- 201 means committed


def test_a_201_request_is_already_committed(client: TestClient, settings: Settings, city: City) -> None:
    response = client.post(
        SUBMIT, json=valid_submission(category="litter"), headers={"Idempotency-Key": "durable"}
    )
    number = created_number(response)
    # A brand-new engine, with no pool or session shared with the app, sees the request and its first event.
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as fresh:
            request = fresh.scalar(select(Request).where(Request.tracking_number == number))
            assert request is not None and request.status == "received"
            events = fresh.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)).all()
            assert [e.action for e in events] == ["receive"]
            assert (
                fresh.scalar(select(IdempotencyRecord.status_code).where(IdempotencyRecord.key == "durable"))
                == 201
            )
    finally:
        engine.dispose()
