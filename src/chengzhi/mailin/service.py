"""E-mail intake: mail to the city's address becomes a request; a reply quoting a tracking number joins that
request's timeline (docs/channels.md). What others may call: `receive_mail`, and `MailHandler` for an SMTP
server (aiosmtpd) that hands each message to it."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, transaction, utcnow
from chengzhi.errors import ChengzhiError
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, RoleGrant, city_unit
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as requests_service

log = logging.getLogger(__name__)
CHANNEL = "email"
TRACKING_NUMBER = re.compile(r"(?<!\d)(\d{14})(?!\d)")  # YYMMDD + 8 digits
MAX_TEXT = 4000


@dataclass(frozen=True)
class Received:
    """What became of a message: a new request, a message on an existing one, or nothing (and why)."""

    outcome: str  # created, joined, refused
    tracking_number: str | None = None
    photos: int = 0
    reason: str = ""


def mail_actor(session: Session) -> Actor:
    """The mail gateway: no account, an operator of the whole city (its events carry no actor id)."""
    city = city_unit(session)
    return Actor(
        user_id=None,
        username="mail",
        display_name="邮件 e-mail",
        grants=(RoleGrant(Role.operator, city.id, city.path),),
    )


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = body.get_content()
    if body.get_content_type() == "text/html":
        content = re.sub(r"<[^>]+>", " ", content)
    lines = []
    for line in str(content).splitlines():
        if line.startswith(">") or re.match(r"^(On .* wrote:|.*写道：)$", line.strip()):
            break  # the quoted mail we sent: not the resident's words
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def _images(message: EmailMessage) -> list[bytes]:
    found = []
    for part in message.iter_attachments():
        if part.get_content_maintype() == "image":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found.append(payload)
    return found


def receive_mail(settings: Settings, raw: bytes, now: dt.datetime | None = None) -> Received:
    """Take one message: a subject quoting one of the sender's tracking numbers adds the text to that request's
    timeline; anything else becomes a new request on channel "email" (sender as contact, image attachments as
    photos, within the photo limits)."""
    now = now or utcnow()
    parsed = message_from_bytes(raw, policy=policy.default)
    if not isinstance(parsed, EmailMessage):
        return Received("refused", reason="not a message")
    name, sender = parseaddr(str(parsed.get("From", "")))
    sender = sender.strip().lower()  # kept lower-case, so that one person's requests link by address
    subject = " ".join(str(parsed.get("Subject", "")).split())
    text = _text_of(parsed)
    if not sender or "@" not in sender:
        return Received("refused", reason="no sender address")
    with transaction(get_sessionmaker(settings.database_url)) as session:
        actor = mail_actor(session)
        match = TRACKING_NUMBER.search(subject)
        if match:
            request = requests_queries.request_by_number(session, match.group(1))
            if request is not None and (request.contact_email or "").casefold() == sender.casefold():
                requests_service.add_message(session, actor, request, text or subject, now, channel=CHANNEL)
                return Received("joined", request.tracking_number)
        body = "\n".join(p for p in (subject, text) if p)[:MAX_TEXT]
        if not body:
            return Received("refused", reason="an empty message")
        data = requests_service.Submission(
            text=body,
            title=subject[:200],
            channel=CHANNEL,
            contact_name=(name or None) and name[:120],
            contact_email=sender[:200],
            language="en" if body.isascii() else "zh",
        )
        try:
            request = requests_service.submit_request(session, actor, data, settings, now)
        except ChengzhiError as error:
            return Received("refused", reason=error.code)
        photos = 0
        for content in _images(parsed)[: settings.max_photos_per_request]:
            try:
                requests_service.add_photo(session, request, content, settings)
                photos += 1
            except ChengzhiError:
                continue  # not a photo we take (type, size): the request stands without it
        return Received("created", request.tracking_number, photos)


class MailHandler:
    """The aiosmtpd handler: each message's DATA goes to `receive_mail`; the SMTP answer says what became of it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        try:
            received = receive_mail(
                self.settings, bytes(envelope.original_content or envelope.content or b"")
            )
        except Exception:
            log.exception("a message could not be taken")
            return "451 Requested action aborted: error in processing"
        if received.outcome == "refused":
            return f"550 Not taken: {received.reason}"
        return f"250 OK {received.outcome} {received.tracking_number}"
