"""Outbound messages: one small strategy class per channel, chosen by configuration (docs/outbound.md).

A domain that tells the outside world something (Open311 delivery today; e-mail, SMS and webhooks later) builds
a `Message` and hands it to the channel `open_channel(name, ...)` gives it: the real one (`send` mode), or the
`RecordingSink` that stores what would have been sent (`record` mode, the default outside production). Each
channel answers with a `Result`: `Delivered`, `RetryLater` or `Failed`.

This package is infrastructure: it knows no domain and reads no domain's tables.
"""

from __future__ import annotations

from chengzhi.outbound.channel import Channel, Delivered, Failed, Message, Result, RetryLater
from chengzhi.outbound.registry import CHANNELS, ChannelFactory, mode_for, open_channel, register

__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelFactory",
    "Delivered",
    "Failed",
    "Message",
    "Result",
    "RetryLater",
    "mode_for",
    "open_channel",
    "register",
]
