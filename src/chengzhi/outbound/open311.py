"""The Open311 channel: POST a service request to another system's GeoReport v2 `requests.json`."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.outbound.channel import Delivered, Message, Result, RetryLater

USER_AGENT = "chengzhi-open311"


def describe(response: httpx.Response) -> str:
    """An error answer in a line: the status and the Open311 error's description (or the start of the body)."""
    try:
        body = response.json()
        if isinstance(body, list) and body and isinstance(body[0], dict) and "description" in body[0]:
            return f"HTTP {response.status_code}: {body[0]['description']}"
    except ValueError:
        pass
    return f"HTTP {response.status_code}: {response.text[:200]}"


class Open311Channel:
    """`to` is the endpoint's `requests.json`; `body` the form's fields; `secrets` the api_key. Every failure is
    retried (the other system may be down for days; a dispatcher sees the error meanwhile)."""

    name = "open311"

    def __init__(self, timeout_seconds: float) -> None:
        self.client = httpx.Client(timeout=timeout_seconds, headers={"User-Agent": USER_AGENT})

    @classmethod
    def build(cls, settings: Settings, _sessions: sessionmaker[Session]) -> Open311Channel:
        return cls(settings.open311_timeout_seconds)

    def send(self, message: Message) -> Result:
        try:
            response = self.client.post(
                message.to,
                data={**message.secrets, **message.body},
                headers={"Idempotency-Key": message.idempotency_key},
            )
            if response.status_code not in (200, 201):
                return RetryLater(describe(response))
            items = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return RetryLater(str(exc) or type(exc).__name__)
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        remote_id, token = item.get("service_request_id"), item.get("token")
        if not remote_id and not token:
            return RetryLater("the answer holds neither service_request_id nor token")
        return Delivered(
            {
                "service_request_id": str(remote_id)[:80] if remote_id else None,
                "token": str(token)[:80] if token else None,
            }
        )

    def close(self) -> None:
        self.client.close()
