"""Outbound messages as strategies (docs/outbound.md): the mode chosen by configuration, the recording sink that
stands in for every channel outside production, and the Open311 delivery going through it."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.open311 import delivery, outbox
from chengzhi.open311.models import Open311Delivery
from chengzhi.org.service import get_unit_by_code
from chengzhi.outbound import (
    CHANNELS,
    Delivered,
    Failed,
    Message,
    Result,
    RetryLater,
    mode_for,
    open_channel,
    register,
)
from chengzhi.outbound.models import OutboundRecord
from chengzhi.outbound.open311 import Open311Channel
from chengzhi.outbound.record import RecordingSink, recorded
from chengzhi.requests import service as svc
from chengzhi.web.templating import templates

from .factories import City
from .steps import actor, submit

PRODUCTION = {
    "environment": "production",
    "secret_key": "s" * 40,
    "database_url": "postgresql+psycopg://x@127.0.0.1/x",
    "session_cookie_secure": True,
}


def _settings(**values: object) -> Settings:
    return Settings.model_validate({"outbound_mode": None, "outbound_channels": {}, **values})


def test_the_mode_records_outside_production_unless_configured() -> None:
    assert mode_for(_settings(environment="development"), "open311") == "record"
    assert mode_for(_settings(environment="test"), "open311") == "record"
    assert mode_for(_settings(**PRODUCTION), "open311") == "send"
    # CHENGZHI_OUTBOUND_MODE overrides the environment's default, a channel's own setting overrides both.
    assert mode_for(_settings(environment="test", outbound_mode="send"), "open311") == "send"
    assert mode_for(_settings(**PRODUCTION, outbound_mode="record"), "open311") == "record"
    per_channel = _settings(**PRODUCTION, outbound_mode="record", outbound_channels={"open311": "send"})
    assert mode_for(per_channel, "open311") == "send" and mode_for(per_channel, "sms") == "record"


def test_the_mode_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHENGZHI_OUTBOUND_MODE", "send")
    monkeypatch.setenv("CHENGZHI_OUTBOUND_CHANNELS", '{"open311": "record"}')
    settings = Settings(environment="test")
    assert settings.outbound_mode == "send" and mode_for(settings, "open311") == "record"
    monkeypatch.setenv("CHENGZHI_OUTBOUND_MODE", "shout")
    with pytest.raises(ValueError, match="outbound_mode"):
        Settings(environment="test")


def test_open_channel_gives_the_configured_strategy(settings: Settings) -> None:
    sessions = get_sessionmaker(settings.database_url)
    with open_channel("open311", settings.model_copy(update={"outbound_mode": "send"}), sessions) as channel:
        assert isinstance(channel, Open311Channel)
    with open_channel(
        "open311", settings.model_copy(update={"outbound_mode": "record"}), sessions
    ) as channel:
        assert isinstance(channel, RecordingSink) and channel.name == "open311"
    with (
        pytest.raises(KeyError, match="no outbound channel named 'pigeon'"),
        open_channel("pigeon", settings, sessions),
    ):
        pass


class Echo:
    """A channel in one small class, as e-mail, SMS and webhooks will be."""

    name = "echo"
    sent: ClassVar[list[Message]] = []

    @classmethod
    def build(cls, _settings: Settings, _sessions: sessionmaker[Session]) -> Echo:
        return cls()

    def send(self, message: Message) -> Result:
        self.sent.append(message)
        return Delivered({"echo": message.to})

    def close(self) -> None:
        pass


def test_a_new_channel_is_one_class_and_one_registration(settings: Settings) -> None:
    message = Message(channel="echo", to="someone", body={"text": "hello"}, idempotency_key="echo-1")
    Echo.sent.clear()
    register("echo", Echo.build)
    try:
        sessions = get_sessionmaker(settings.database_url)
        with open_channel("echo", settings.model_copy(update={"outbound_mode": "send"}), sessions) as channel:
            assert channel.send(message) == Delivered({"echo": "someone"})
        assert Echo.sent == [message]
        # Recorded, not sent, in record mode: the sink stands in for every channel.
        with open_channel("echo", settings, sessions) as channel:
            result = channel.send(message)
        assert isinstance(result, Delivered) and result.recorded and Echo.sent == [message]
        with sessions() as session:
            assert [(r.channel, r.recipient, r.body) for r in recorded(session)] == [
                ("echo", "someone", {"text": "hello"})
            ]
    finally:
        del CHANNELS["echo"]


def test_the_sink_records_a_message_once_and_never_its_secrets(settings: Settings) -> None:
    sessions = get_sessionmaker(settings.database_url)
    sink = RecordingSink("open311", sessions)
    message = Message(
        channel="open311",
        to="https://dept.example.cn/open311/v2/requests.json",
        body={"service_code": "water", "attribute[x][]": ["1", "2"]},
        idempotency_key="chengzhi-delivery-1-X",
        reference="X",
        secrets={"api_key": "their-secret-key"},
    )
    first, again = sink.send(message), sink.send(message)
    assert isinstance(first, Delivered) and first.recorded and first == again
    with sessions() as session:
        rows = session.scalars(select(OutboundRecord)).all()
        assert len(rows) == 1
        assert rows[0].body == {"service_code": "water", "attribute[x][]": ["1", "2"]}
        assert rows[0].reference == "X" and rows[0].idempotency_key == "chengzhi-delivery-1-X"
        assert "their-secret-key" not in repr([(r.body, r.recipient, r.reference) for r in rows])
        assert recorded(session, "sms") == []


def test_delivery_is_recorded_not_sent_outside_production(settings: Settings, city: City) -> None:
    """The test environment's default (record): the department's endpoint (nothing listens there) is never
    contacted; the delivery is recorded, visible to the dispatcher, and not tried again."""
    assert mode_for(settings, "open311") == "record"
    now = dt.datetime.now(dt.UTC)
    factory = get_sessionmaker(settings.database_url)
    with factory() as session, session.begin():
        water = get_unit_by_code(session, "D1-water")
        delivery.set_endpoint(
            session,
            settings,
            water,
            "http://127.0.0.1:9/open311/v2",
            "their-key",
            service_codes={"water": "W"},
        )
        request = submit(session, settings, now, category="water")
        svc.dispatch_request(session, actor(session, "dispatcher"), request, water.id, settings, now=now)
    with factory() as session, session.begin():
        assert delivery.deliver(session, settings, now) == {
            "delivered": 0,
            "failed": 0,
            "cancelled": 0,
            "recorded": 1,
        }
    with factory() as session, session.begin():
        assert delivery.deliver(session, settings, now + dt.timedelta(hours=1))["recorded"] == 0
    with factory() as session:
        row = session.scalars(select(Open311Delivery)).one()
        assert (row.state, row.attempts, row.remote_id, row.last_error) == ("recorded", 1, None, None)
        record = session.scalars(select(OutboundRecord)).one()
        assert record.channel == "open311" and record.reference == request.tracking_number
        assert record.recipient == "http://127.0.0.1:9/open311/v2/requests.json"
        assert record.body["service_code"] == "W" and record.body["account_id"] == request.tracking_number
        assert "api_key" not in record.body and "their-key" not in repr(record.body)
        assert record.idempotency_key == f"chengzhi-delivery-{row.id}-{request.tracking_number}"
        for lang, state in (("en", "recorded, not sent"), ("zh", "已记录，未发送")):
            panel = delivery.page_panel(session, request, lang, ZoneInfo("UTC"))
            assert panel is not None and panel.lines[0].state_code == "recorded"
            html = templates(lang).env.get_template("_open311_deliveries.html").render(open311=panel)
            assert state in html and "outbound_records" in html
    # Nothing was delivered, so there is nothing to pull.
    with factory() as session, session.begin():
        assert delivery.pull(session, settings, now)["errors"] == 0


def test_the_outbox_hook_is_registered_explicitly(settings: Settings, city: City) -> None:
    assert outbox.registered()  # by chengzhi.reactions.install() (the test fixtures call it, as the app does)
    now = dt.datetime.now(dt.UTC)
    factory = get_sessionmaker(settings.database_url)
    with factory() as session, session.begin():
        water = get_unit_by_code(session, "D1-water")
        delivery.set_endpoint(session, settings, water, "http://127.0.0.1:9/open311/v2", "k")
        first = submit(session, settings, now, category="water")
        second = submit(session, settings, now, category="water")
    outbox.unregister()
    outbox.unregister()  # idempotent
    try:
        with factory() as session, session.begin():
            svc.dispatch_request(session, actor(session, "dispatcher"), first, water.id, settings, now=now)
    finally:
        outbox.register()
        outbox.register()
    with factory() as session, session.begin():
        svc.dispatch_request(session, actor(session, "dispatcher"), second, water.id, settings, now=now)
    with factory() as session:
        assert [d.request_id for d in session.scalars(select(Open311Delivery))] == [second.id]


def test_a_delivery_refused_for_good_is_not_tried_again() -> None:
    """No Open311 answer is final today (every failure is retried), but a channel may say `Failed`: the
    delivery then stops, with the reason, instead of waiting for another try."""
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    settings = _settings(environment="test")
    refused = Open311Delivery(state="pending", attempts=0, next_attempt_at=now)
    assert delivery._record(refused, Failed("HTTP 400: unknown service_code"), settings, now) == "failed"
    assert (refused.state, refused.attempts, refused.last_error, refused.next_attempt_at) == (
        "failed",
        1,
        "HTTP 400: unknown service_code",
        now,
    )
    later = Open311Delivery(state="pending", attempts=0, next_attempt_at=now)
    assert delivery._record(later, RetryLater("HTTP 503: down"), settings, now) == "failed"
    assert later.state == "pending" and later.next_attempt_at == now + dt.timedelta(seconds=60)
