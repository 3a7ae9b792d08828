"""Identity level 1: a one-time code sent to a phone number (SMS) or e-mail address, typed back in.

The code is stored hashed, lives `verification_code_minutes`, allows `verification_code_attempts` tries; a new
code ends the earlier ones. Messages go through the outbound channels `sms` and `email` (docs/outbound.md):
recorded instead of sent outside production, so the demo and the tests read them from `outbound_records`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Invalid, NotAuthenticated
from chengzhi.identity.models import VerificationCode
from chengzhi.org import service as org
from chengzhi.org.models import User
from chengzhi.outbound import Delivered, Message, Result, open_channel
from chengzhi.ratelimit import check_rate

PHONE = re.compile(r"^\+?[0-9]{6,15}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise(channel: str, target: str) -> str:
    if channel == "sms":
        digits = re.sub(r"[\s\-()]", "", target)
        if not PHONE.match(digits):
            raise Invalid("verification_target_invalid")
        return digits
    if not EMAIL.match(target.strip()):
        raise Invalid("verification_target_invalid")
    return target.strip().lower()


def send_code(
    session: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    user: User,
    channel: str,
    target: str,
) -> tuple[Result, str | None]:
    """Send a new code to `target`; earlier unused codes of the user end. Returns the channel's answer and, when
    the message was only recorded (never in production), the code, which the demo's page shows in its place."""
    return _send(
        session, sessions, settings, VerificationCode.user_id == user.id, channel, target, user_id=user.id
    )


def send_visitor_code(
    session: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    browser: str,
    channel: str,
    target: str,
) -> tuple[Result, str | None]:
    """Send a code to the phone or e-mail address of a visitor without an account (`browser`: the random id in
    their session cookie, stored hashed); the code is accepted from that browser only. As `send_code` otherwise."""
    key = _hash(browser)
    return _send(session, sessions, settings, VerificationCode.browser == key, channel, target, browser=key)


def _send(
    session: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    owner: ColumnElement[bool],
    channel: str,
    target: str,
    *,
    user_id: int | None = None,
    browser: str | None = None,
) -> tuple[Result, str | None]:
    if channel not in ("sms", "email"):
        raise Invalid("verification_target_invalid")
    target = normalise(channel, target)
    # Text messages cost money and annoy their recipients: a few codes per number and per 10 minutes.
    check_rate(settings.rate_limit_storage, settings.verification_send_rate, "verify-to", target)
    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    session.execute(
        update(VerificationCode).where(owner, VerificationCode.used_at.is_(None)).values(used_at=now)
    )
    record = VerificationCode(
        user_id=user_id,
        browser=browser,
        channel=channel,
        target=target,
        code_hash=_hash(code),
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.verification_code_minutes),
        attempts=0,
    )
    session.add(record)
    session.flush()
    text = f"城治验证码 {code}，{settings.verification_code_minutes} 分钟内有效。Chengzhi code {code}."
    session.commit()
    with open_channel(channel, settings, sessions) as out:
        result = out.send(
            Message(
                channel=channel,
                to=target,
                body={"text": text},
                idempotency_key=f"verify-{record.id}",
                reference=f"verification {record.id}",
            )
        )
    shown = code if recorded_code(result) and settings.environment != "production" else None
    return result, shown


def confirm_code(session: Session, settings: Settings, user: User, code: str) -> VerificationCode:
    """Check the code typed back; on success the phone number or address is recorded as verified (level 1)."""
    record = _check(session, settings, VerificationCode.user_id == user.id, code)
    if record.channel == "sms":
        org.record_verified(session, user, phone=record.target)
    else:
        org.record_verified(session, user, email=record.target)
    return record


def confirm_visitor_code(session: Session, settings: Settings, browser: str, code: str) -> tuple[str, str]:
    """Check the code a visitor without an account typed back in the browser it was sent to; returns the channel
    and the phone number or address it proves. A wrong code counts (the caller commits either way)."""
    record = _check(session, settings, VerificationCode.browser == _hash(browser), code)
    return record.channel, record.target


def _check(session: Session, settings: Settings, owner: ColumnElement[bool], code: str) -> VerificationCode:
    now = utcnow()
    record = session.scalar(
        select(VerificationCode)
        .where(owner, VerificationCode.used_at.is_(None))
        .order_by(VerificationCode.id.desc())
        .limit(1)
    )
    if record is None or record.expires_at <= now or record.attempts >= settings.verification_code_attempts:
        raise NotAuthenticated("verification_code_expired")
    if not secrets.compare_digest(record.code_hash, _hash(code.strip())):
        record.attempts += 1
        session.flush()
        raise NotAuthenticated("verification_code_invalid")
    record.used_at = now
    return record


def recorded_code(result: Result) -> bool:
    return isinstance(result, Delivered) and result.recorded
