"""E-mail intake over real SMTP: a message sent with smtplib to the receiving side (aiosmtpd with the platform's
handler) becomes a request on channel "email" with its photo; a reply quoting the tracking number joins that
request's timeline instead of opening a new one."""

from __future__ import annotations

import io
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.mailin.service import MailHandler
from chengzhi.requests.models import Photo, Request, RequestEvent

from .conftest import Configure
from .factories import City
from .open311_helpers import free_port


@pytest.fixture
def mail_port(settings: Settings) -> Iterator[int]:
    port = free_port()
    controller = Controller(MailHandler(settings), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def mail(subject: str, text: str, sender: str = "李四 <lisi@example.org>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "12345@city.example"
    message["Subject"] = subject
    message.set_content(text)
    return message


def requests_of(session: Session) -> list[Request]:
    session.rollback()
    return list(session.scalars(select(Request).where(Request.channel == "email").order_by(Request.id)))


def test_mail_becomes_a_request_and_a_reply_joins_its_timeline(
    settings: Settings, city: City, session: Session, mail_port: int
) -> None:
    first = mail("小区门口路灯不亮", "幸福小区东门路灯已经坏了一周，晚上很黑。")
    first.add_attachment(png(), maintype="image", subtype="png", filename="light.png")
    with smtplib.SMTP("127.0.0.1", mail_port) as smtp:
        smtp.send_message(first)
    (request,) = requests_of(session)
    assert request.contact_email == "lisi@example.org" and request.contact_name == "李四"
    assert request.title == "小区门口路灯不亮" and "东门路灯" in request.text
    assert session.scalars(select(Photo.id).where(Photo.request_id == request.id)).all() != []

    reply = mail(
        f"Re: 诉求 {request.tracking_number} 已受理",
        "补充一下：西门的路灯也不亮。\n\n> 我们已收到您的诉求，编号为 ...",
    )
    with smtplib.SMTP("127.0.0.1", mail_port) as smtp:
        smtp.send_message(reply)
    assert len(requests_of(session)) == 1  # no new request
    events = session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(RequestEvent.seq)
    ).all()
    assert events[-1].action == "message"
    assert events[-1].note == "补充一下：西门的路灯也不亮。"  # the quoted mail left out

    # Someone else quoting the number opens a request of their own: only the resident joins the timeline.
    other = mail(f"Re: {request.tracking_number}", "我也看到了", sender="wang@example.org")
    with smtplib.SMTP("127.0.0.1", mail_port) as smtp:
        smtp.send_message(other)
    assert [r.contact_email for r in requests_of(session)] == ["lisi@example.org", "wang@example.org"]


def test_an_empty_message_is_refused_at_the_smtp_level(
    settings: Settings, city: City, mail_port: int
) -> None:
    with smtplib.SMTP("127.0.0.1", mail_port) as smtp, pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.send_message(mail("", ""))
    assert refused.value.smtp_code == 550


def test_cli_takes_a_message_from_a_file(
    settings: Settings, city: City, session: Session, tmp_path: Path, configure: Configure
) -> None:
    configure()
    file = tmp_path / "message.eml"
    file.write_bytes(bytes(mail("Broken bench", "The bench in the park is broken.")))
    result = CliRunner().invoke(app, ["mail", "receive", str(file)])
    assert result.exit_code == 0, result.output
    assert '"outcome": "created"' in result.output
    (request,) = requests_of(session)
    assert request.language == "en"
