"""The administrators' webhooks page: subscribe (the signing secret shown once), the delivery log with each try
against a small receiving server started here, the replay button, stopping a subscription; nobody else gets in.
Both databases, through the pages (no JavaScript needed)."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.outbound.webhook import SIGNATURE_HEADER, verify
from chengzhi.webhooks.models import WebhookDelivery, WebhookSubscription

from .channel_servers import http_receiver
from .factories import City
from .steps import submit
from .test_pages_staff import sign_in
from .test_participate_pages import post
from .test_webhooks import deliver

PAGE = "/staff/webhooks"


def test_subscribe_see_the_log_and_replay_a_delivery_on_the_page(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    live = settings.model_copy(update={"outbound_mode": "send", "webhook_retry_seconds": 30.0})
    client.app.state.settings = live  # type: ignore[attr-defined]
    for who in ("supervisor", "leader"):
        sign_in(client, who)
        assert client.get(PAGE).status_code == 403
    sign_in(client, "admin")
    assert 'href="/staff/webhooks"' in client.get("/staff/admin").text  # in the administrators' menu
    with http_receiver() as receiver:
        status, _, text = post(
            client, PAGE, {"name": "数据中心", "url": "ftp://x", "events": "request.created"}, PAGE
        )
        assert status == 422 and "http(s)" in text  # the page again with the message
        form = {"name": "数据中心", "url": f"{receiver.url}/hooks", "events": "request.created"}
        status, _, text = post(client, PAGE, form, PAGE)
        found = re.search(r"<code>([A-Za-z0-9_-]{32,})</code>", text)
        assert status == 201 and "已添加订阅" in text and found, text
        secret = found.group(1)
        assert secret not in client.get(PAGE).text  # shown once

        request = submit(session, live, utcnow())
        session.commit()
        receiver.statuses.extend([500])  # the subscriber is down
        assert deliver(live, utcnow()) == {"retry": 1}
        log = client.get(PAGE).text
        assert "request.created" in log and "pending" in log and "HTTP 500" in log

        session.rollback()
        delivery = session.scalar(select(WebhookDelivery.id))
        status, target, _ = post(client, f"{PAGE}/deliveries/{delivery}/replay", {}, PAGE)
        assert (status, target) == (303, f"{PAGE}?done=replayed#deliveries")
        assert "事件已作为新的推送再次发送" in client.get(target).text
        assert deliver(live, utcnow() + dt.timedelta(seconds=1)) == {"delivered": 1}  # the replay, due now
        assert len(receiver.received) == 2  # the failed try, then the replay
        received = receiver.received[-1]
        assert verify(secret, received.headers[SIGNATURE_HEADER.lower()], received.body)
        assert received.json()["data"]["tracking_number"] == request.tracking_number
        assert f"重放自 {delivery}" in client.get(PAGE).text
        assert post(client, f"{PAGE}/deliveries/424242/replay", {}, PAGE)[0] == 404

    session.rollback()
    subscription = session.scalar(select(WebhookSubscription.id))
    status, target, _ = post(client, f"{PAGE}/subscriptions/{subscription}/stop", {}, PAGE)
    assert target == f"{PAGE}?done=stopped" and "已停用" in client.get(target).text
    session.rollback()
    assert session.scalar(select(WebhookSubscription.active)) is False
    forged = client.post(
        f"{PAGE}/deliveries/{delivery}/replay", data={"csrf_token": "x"}, follow_redirects=False
    )
    assert forged.status_code == 400
    english = client.get(f"{PAGE}?lang=en").text
    assert "Delivery log" in english and "Replay delivery" in english and "stopped" in english
