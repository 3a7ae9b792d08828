"""What every channel shares: the message handed to it, the result it answers with, and the protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One message to one recipient.

    `body` is what the channel sends, as the channel understands it (Open311: the form's fields; e-mail: subject
    and text); it is what the recording sink stores. `secrets` travel with the message (an API key) but are never
    recorded. The same message sent again (a retry) carries the same `idempotency_key`."""

    channel: str
    to: str  # the address: a URL, an e-mail address, a phone number
    body: Mapping[str, Any]
    idempotency_key: str
    reference: str = ""  # what it is about, for the people reading the records (e.g. a tracking number)
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivered:
    """Taken by the other side (or recorded instead, `recorded`); `receipt` holds what it answered."""

    receipt: Mapping[str, str | None] = field(default_factory=dict)
    recorded: bool = False


@dataclass(frozen=True)
class RetryLater:
    """Not taken this time (the other side is down, answered with an error...): try again later."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """Will never be taken as it is (refused for good): do not try again."""

    reason: str


Result = Delivered | RetryLater | Failed


class Channel(Protocol):
    """A way to send messages. One instance serves one batch (it may hold a connection pool), then is closed."""

    name: str

    def send(self, message: Message) -> Result: ...

    def close(self) -> None: ...
