"""Webhooks against a small receiving server started by the test: subscriptions, events from the workflow and the
triage worker, HMAC-SHA256 signatures with a timestamp, retries with backoff, the delivery log and replay."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.outbound.record import recorded
from chengzhi.outbound.webhook import SIGNATURE_HEADER, signature, verify
from chengzhi.requests import service as svc
from chengzhi.webhooks import service as webhooks

from .channel_servers import http_receiver
from .conftest import auth
from .factories import City
from .opendata_helpers import make_dataset, publisher
from .steps import actor, dispatch, handle, submit


def deliver(settings: Settings, now: dt.datetime) -> dict[str, Any]:
    with get_sessionmaker(settings.database_url)() as session:
        return webhooks.deliver(session, settings, now)


def test_signature_is_checked_with_the_secret_and_the_time() -> None:
    body = b'{"id":"x"}'
    header = signature("s3cret", 1_700_000_000, body)
    assert verify("s3cret", header, body, now=1_700_000_100)
    assert not verify("other", header, body, now=1_700_000_100)
    assert not verify("s3cret", header, body + b" ", now=1_700_000_100)
    assert not verify("s3cret", header, body, now=1_700_000_000 + 301)  # too old: a replay by someone else
    assert not verify("s3cret", "v1=abc", body)


def test_workflow_events_are_signed_posted_retried_and_replayed(
    settings: Settings, city: City, session: Session
) -> None:
    live = settings.model_copy(update={"outbound_mode": "send", "webhook_retry_seconds": 30.0})
    with http_receiver() as receiver:
        subscription, secret = webhooks.subscribe(
            session,
            live,
            "city data hub",
            f"{receiver.url}/hooks",
            ["request.created", "request.dispatched", "request.replied", "request.closed"],
            utcnow(),
        )
        session.commit()
        request = submit(session, live, utcnow())
        session.commit()
        dispatch(session, live, request, "D1S1C1", utcnow())
        handle(session, live, request, "d1s1c1-handler", utcnow())
        session.commit()

        now = utcnow() + dt.timedelta(minutes=3)  # `handle` replies two minutes on
        receiver.statuses.extend([500])  # the subscriber is down for the first one
        assert deliver(live, now) == {"retry": 1, "delivered": 2}
        assert deliver(live, now + dt.timedelta(seconds=10)) == {}  # not due yet
        assert deliver(live, now + dt.timedelta(seconds=31)) == {"delivered": 1}

        bodies = [r.json() for r in receiver.received]
        assert [b["type"] for b in bodies] == [
            "request.created",
            "request.dispatched",
            "request.replied",
            "request.created",
        ]
        created = bodies[0]
        assert created["data"]["tracking_number"] == request.tracking_number
        assert created["data"]["category"] == "litter"
        assert bodies[1]["data"]["lead_unit"] == "D1S1C1"
        assert "contact_phone" not in json.dumps(bodies) and "13912345678" not in json.dumps(bodies)
        for r in receiver.received:
            assert verify(secret, r.headers[SIGNATURE_HEADER.lower()], r.body)
            assert r.headers["idempotency-key"] == f"chengzhi-webhook-{r.json()['id']}"

        log = webhooks.deliveries(session)
        first = next(d for d in log if d["event_type"] == "request.created")
        assert first["state"] == "delivered" and [t["outcome"] for t in first["tries"]] == [
            "retry",
            "delivered",
        ]
        assert "HTTP 500" in first["tries"][0]["detail"]

        # Replay: the same event again, as a new delivery.
        copy = webhooks.replay(session, first["id"], now)
        session.commit()
        assert deliver(live, now) == {"delivered": 1}
        assert receiver.received[-1].json()["id"] == created["id"]
        assert copy.replay_of == first["id"]

        # Closing: the resident rates it and a supervisor closes it.
        svc.review_request(session, actor(session, "resident"), request, True, 5, now=now)
        svc.close_request(session, actor(session, "supervisor"), request, now=now)
        session.commit()
        deliver(live, now)
        assert receiver.received[-1].json()["type"] == "request.closed"
        assert subscription.id


def test_gone_subscriber_fails_for_good(settings: Settings, city: City, session: Session) -> None:
    live = settings.model_copy(update={"outbound_mode": "send"})
    with http_receiver() as receiver:
        webhooks.subscribe(session, live, "old", receiver.url, ["request.created"], utcnow())
        session.commit()
        submit(session, live, utcnow())
        session.commit()
        receiver.statuses.append(410)
        assert deliver(live, utcnow()) == {"failed": 1}
        assert deliver(live, utcnow() + dt.timedelta(hours=2)) == {}


def test_other_domains_emit_events_and_only_subscribers_get_them(
    settings: Settings, city: City, session: Session
) -> None:
    webhooks.subscribe(session, settings, "alerts", "https://example.org/a", ["alert.raised"], utcnow())
    webhooks.subscribe(session, settings, "data", "https://example.org/d", ["dataset.published"], utcnow())
    assert webhooks.emit(session, "alert.raised", "alert.raised:7", {"alert": 7}, utcnow()) == 1
    assert webhooks.emit(session, "alert.raised", "alert.raised:7", {"alert": 7}, utcnow()) == 0  # once
    with pytest.raises(ValueError):
        webhooks.emit(session, "nothing.happened", "x", {}, utcnow())
    session.commit()
    # Outside production nothing leaves the machine: the recording sink keeps it, without the secret.
    assert deliver(settings, utcnow()) == {"recorded": 1}
    session.rollback()
    (kept,) = recorded(session, "webhook")
    assert kept.recipient == "https://example.org/a" and kept.body["data"] == {"alert": 7}


def test_subscriptions_and_log_through_the_api(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    admin = auth(client, "admin")
    bad = client.post(
        "/api/v1/webhooks/subscriptions",
        json={"name": "x", "url": "ftp://example.org", "events": ["request.created"]},
        headers=admin,
    )
    assert bad.status_code == 422
    unknown = client.post(
        "/api/v1/webhooks/subscriptions",
        json={"name": "x", "url": "https://example.org/h", "events": ["request.eaten"]},
        headers=admin,
    )
    assert unknown.status_code == 422
    made = client.post(
        "/api/v1/webhooks/subscriptions",
        json={"name": "hub", "url": "https://example.org/h", "events": ["request.created"]},
        headers=admin,
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks/subscriptions", headers=admin).json()
    assert [s["name"] for s in listed] == ["hub"] and "secret" not in listed[0]
    assert client.get("/api/v1/webhooks/subscriptions", headers=auth(client, "resident")).status_code == 403

    submit(session, settings, utcnow())
    session.commit()
    log = client.get("/api/v1/webhooks/deliveries", headers=admin).json()
    assert [d["event_type"] for d in log] == ["request.created"] and log[0]["state"] == "pending"
    replayed = client.post(f"/api/v1/webhooks/deliveries/{log[0]['id']}/replay", headers=admin)
    assert replayed.status_code == 201 and replayed.json()["replay_of"] == log[0]["id"]
    assert client.post("/api/v1/webhooks/deliveries/999999/replay", headers=admin).status_code == 404
    sid = made.json()["id"]
    assert client.delete(f"/api/v1/webhooks/subscriptions/{sid}", headers=admin).status_code == 204
    assert client.get("/api/v1/webhooks/subscriptions", headers=admin).json()[0]["active"] is False


def test_publishing_a_dataset_raises_dataset_published(
    settings: Settings, city: City, session: Session
) -> None:
    """The open-data domain emits `dataset.published` when a dataset is published (each version once)."""
    webhooks.subscribe(session, settings, "data", "https://example.org/d", ["dataset.published"], utcnow())
    webhooks.subscribe(session, settings, "alerts", "https://example.org/a", ["alert.raised"], utcnow())
    dataset = make_dataset(session, publisher(session, city), city, "street-lights")
    session.commit()
    (delivery,) = webhooks.deliveries(session)
    assert (delivery["event_type"], delivery["event_id"]) == (
        "dataset.published",
        f"dataset.published:{dataset.id}:1",
    )
    assert deliver(settings, utcnow()) == {"recorded": 1}
    session.rollback()
    (kept,) = recorded(session, "webhook")
    assert kept.recipient == "https://example.org/d"
    assert kept.body["data"] == {
        "id": dataset.id,
        "name": "street-lights",
        "title": dataset.title,
        "version": 1,
        "open_level": "unconditional",
    }
