"""The SMS channel: one HTTP gateway, spoken to by one small strategy class per provider.

A provider turns a message into an HTTP request and reads the gateway's answer back into a result. Adding a
provider is one class with `request` and `result`, and one line in `PROVIDERS`.
"""

from __future__ import annotations

from base64 import b64encode
from typing import Any, Protocol

import httpx
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.outbound.channel import Delivered, Failed, Message, Result, RetryLater


class SmsProvider(Protocol):
    def request(self, client: httpx.Client, message: Message) -> httpx.Request: ...

    def result(self, response: httpx.Response) -> Result: ...


def _by_status(response: httpx.Response) -> Result | None:
    """The answers every gateway shares: 429 and 5xx are retried, other 4xx are refusals."""
    if response.status_code == 429 or response.status_code >= 500:
        return RetryLater(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        return Failed(f"HTTP {response.status_code}: {response.text[:200]}")
    return None


class JsonGateway:
    """A generic gateway: POST `{"to", "text", "sender", "reference"}` with a bearer token; answers
    `{"id": ...}`. Most Chinese SMS aggregators offer an endpoint of this shape."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def request(self, client: httpx.Client, message: Message) -> httpx.Request:
        return client.build_request(
            "POST",
            self.settings.sms_url,
            json={
                "to": message.to,
                "text": str(message.body.get("text", "")),
                "sender": self.settings.sms_sender,
                "reference": message.reference,
            },
            headers={
                "Authorization": f"Bearer {self.settings.sms_token}",
                "Idempotency-Key": message.idempotency_key,
            },
        )

    def result(self, response: httpx.Response) -> Result:
        refused = _by_status(response)
        if refused is not None:
            return refused
        try:
            body: Any = response.json()
        except ValueError:
            return RetryLater("the gateway's answer is not JSON")
        return Delivered({"id": str(body.get("id", ""))[:80] if isinstance(body, dict) else ""})


class TwilioGateway:
    """Twilio's Messages API: form-encoded `To`, `From`, `Body` to `{url}/Accounts/{sid}/Messages.json` with basic
    authentication (account SID and token); answers the message resource with its `sid`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def request(self, client: httpx.Client, message: Message) -> httpx.Request:
        s = self.settings
        return client.build_request(
            "POST",
            f"{s.sms_url.rstrip('/')}/Accounts/{s.sms_account}/Messages.json",
            data={"To": message.to, "From": s.sms_sender, "Body": str(message.body.get("text", ""))},
            headers={
                "Authorization": "Basic " + b64encode(f"{s.sms_account}:{s.sms_token}".encode()).decode()
            },
        )

    def result(self, response: httpx.Response) -> Result:
        refused = _by_status(response)
        if refused is not None:
            return refused
        try:
            body: Any = response.json()
        except ValueError:
            return RetryLater("the gateway's answer is not JSON")
        return Delivered({"sid": str(body.get("sid", ""))[:80] if isinstance(body, dict) else ""})


PROVIDERS: dict[str, type[JsonGateway] | type[TwilioGateway]] = {
    "json": JsonGateway,
    "twilio": TwilioGateway,
}


class SmsChannel:
    """`to` is a phone number; `body["text"]` the message. The provider is `CHENGZHI_SMS_PROVIDER`."""

    name = "sms"

    def __init__(self, settings: Settings) -> None:
        self.provider: SmsProvider = PROVIDERS[settings.sms_provider](settings)
        self.client = httpx.Client(timeout=settings.sms_timeout_seconds)

    @classmethod
    def build(cls, settings: Settings, _sessions: sessionmaker[Session]) -> SmsChannel:
        return cls(settings)

    def send(self, message: Message) -> Result:
        try:
            response = self.client.send(self.provider.request(self.client, message))
        except httpx.HTTPError as exc:
            return RetryLater(str(exc) or type(exc).__name__)
        return self.provider.result(response)

    def close(self) -> None:
        self.client.close()
