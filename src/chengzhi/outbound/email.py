"""The e-mail channel: hand a message to the city's SMTP server (smtplib, one connection per batch)."""

from __future__ import annotations

import contextlib
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.outbound.channel import Delivered, Failed, Message, Result, RetryLater


def as_email(message: Message, sender: str) -> EmailMessage:
    """`body` holds `subject` and `text`; the idempotency key becomes the Message-ID's left part, so that a
    message sent twice after a crash can be recognised by the receiving side."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = str(message.body.get("subject", ""))
    mail["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "localhost"
    mail["Message-ID"] = make_msgid(idstring=message.idempotency_key[:60], domain=domain)
    if message.reference:
        mail["X-Chengzhi-Reference"] = message.reference
    mail.set_content(str(message.body.get("text", "")))
    return mail


class EmailChannel:
    """`to` is an address; a refused recipient is `Failed` (retrying will not help), anything else is retried."""

    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    @classmethod
    def build(cls, settings: Settings, _sessions: sessionmaker[Session]) -> EmailChannel:
        return cls(settings)

    def _connect(self) -> smtplib.SMTP:
        if self.smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            self.smtp = smtp
        return self.smtp

    def send(self, message: Message) -> Result:
        try:
            self._connect().send_message(as_email(message, self.settings.mail_from))
        except smtplib.SMTPRecipientsRefused as exc:
            return Failed(f"recipient refused: {next(iter(exc.recipients.values()), '')!s}"[:300])
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return RetryLater(str(exc) or type(exc).__name__)
        return Delivered()

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self._drop()
