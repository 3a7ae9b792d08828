"""The channel strategies by name, and the choice between sending and recording (docs/outbound.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.outbound.channel import Channel
from chengzhi.outbound.email import EmailChannel
from chengzhi.outbound.open311 import Open311Channel
from chengzhi.outbound.record import RecordingSink
from chengzhi.outbound.sms import SmsChannel
from chengzhi.outbound.webhook import WebhookChannel

# A channel is built for one batch from the settings and a factory of short write transactions (which only the
# recording sink uses).
ChannelFactory = Callable[[Settings, sessionmaker[Session]], Channel]

CHANNELS: dict[str, ChannelFactory] = {
    "open311": Open311Channel.build,
    "email": EmailChannel.build,
    "sms": SmsChannel.build,
    "webhook": WebhookChannel.build,
}


def register(name: str, factory: ChannelFactory) -> None:
    """Add (or replace) a channel strategy; a new channel (e-mail, SMS, webhook) is one class and one line here."""
    CHANNELS[name] = factory


def mode_for(settings: Settings, name: str) -> Literal["send", "record"]:
    """`send` or `record` for the channel: its own setting, else CHENGZHI_OUTBOUND_MODE, else `send` in
    production and `record` everywhere else."""
    mode = settings.outbound_channels.get(name) or settings.outbound_mode
    if mode is None:
        return "send" if settings.environment == "production" else "record"
    return mode


@contextmanager
def open_channel(name: str, settings: Settings, sessions: sessionmaker[Session]) -> Iterator[Channel]:
    """The channel to send a batch through, as configured: the real one, or the recording sink in its place."""
    if name not in CHANNELS:
        raise KeyError(f"no outbound channel named {name!r}; channels: {', '.join(sorted(CHANNELS))}")
    channel = (
        CHANNELS[name](settings, sessions)
        if mode_for(settings, name) == "send"
        else RecordingSink(name, sessions)
    )
    try:
        yield channel
    finally:
        channel.close()
