"""The webhook channel: POST a JSON event to a subscriber's URL, signed with HMAC-SHA256 over a timestamp.

The signature header is `Chengzhi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
subscription's secret (the shape Stripe uses). A receiver recomputes it with `verify` and refuses a timestamp
older than a few minutes, so that a captured delivery cannot be replayed by someone else later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.outbound.channel import Delivered, Failed, Message, Result, RetryLater

SIGNATURE_HEADER = "Chengzhi-Signature"
USER_AGENT = "chengzhi-webhooks"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = 300) -> bool:
    """What a receiver does: the header's MAC matches, and its timestamp is within `tolerance` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def encode(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class WebhookChannel:
    """`to` is the subscriber's URL; `body` the event; `secrets["secret"]` the signing key. 2xx is delivered; 410
    Gone means the subscriber is gone for good (`Failed`); everything else is retried."""

    name = "webhook"

    def __init__(self, timeout_seconds: float) -> None:
        self.client = httpx.Client(timeout=timeout_seconds, headers={"User-Agent": USER_AGENT})

    @classmethod
    def build(cls, settings: Settings, _sessions: sessionmaker[Session]) -> WebhookChannel:
        return cls(settings.webhook_timeout_seconds)

    def send(self, message: Message) -> Result:
        body = encode(dict(message.body))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.idempotency_key,
            SIGNATURE_HEADER: signature(message.secrets.get("secret", ""), int(time.time()), body),
        }
        try:
            response = self.client.post(message.to, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return RetryLater(str(exc) or type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Delivered({"status": str(response.status_code)})
        reason = f"HTTP {response.status_code}: {response.text[:200]}"
        return Failed(reason) if response.status_code == 410 else RetryLater(reason)

    def close(self) -> None:
        self.client.close()
