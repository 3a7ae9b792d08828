"""The staff second factor: TOTP (RFC 6238, `pyotp`) with single-use recovery codes, or a passkey registered
afterwards (`org/passkeys.py`).

Every staff role needs one when `Settings.second_factor_required`, unless the identity provider that signed the
person in said in its `acr`/`amr` that it did multi-factor authentication (docs/identity.md). A code is accepted
once (the last accepted time step is kept), within one step of clock drift; wrong codes count towards the
account's lock-out like wrong passwords.

The TOTP secret is stored sealed with the secret box (`chengzhi.security.secretbox`, Fernet under a key derived
from CHENGZHI_SECRET_KEY): a copy of the database alone does not produce codes. A secret stored plain by an
earlier release is still read, and sealed at its next use or by `chengzhi secrets rotate`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Mapping
from typing import Any

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, NotAuthenticated
from chengzhi.org import passkeys
from chengzhi.org.models import Passkey, RecoveryCode, SecondFactor, User
from chengzhi.org.service import STAFF_ROLES, Lockout
from chengzhi.security.secretbox import SEALED_PREFIX, SealError, reseal, seal, unseal

ISSUER = "Chengzhi 城治"
RECOVERY_CODES = 10
STEP_SECONDS = 30


def _is_staff(user: User) -> bool:
    return any(r.role in STAFF_ROLES for r in user.roles)


def factor_of(session: Session, user: User) -> SecondFactor | None:
    return session.get(SecondFactor, user.id)


def has_factor(session: Session, user: User) -> bool:
    factor = factor_of(session, user)
    return factor is not None and factor.confirmed_at is not None


def needed(session: Session, user: User, settings: Settings, *, done_by_provider: bool = False) -> str | None:
    """What the sign-in of `user` still needs: None, "verify" (a code of their enrolled factor) or "enrol"."""
    if done_by_provider or not settings.second_factor_required or not _is_staff(user):
        return None
    if user.demo_account and settings.demo_second_factor_exempt and settings.environment != "production":
        return None
    enrolled = has_factor(session, user) or passkeys.has_passkey(session, user.id)
    return "verify" if enrolled else "enrol"


def _seal(secret: str, settings: Settings) -> str:
    return seal(secret, settings.secret_key)


def secret_of(factor: SecondFactor, settings: Settings) -> str:
    """The factor's TOTP secret (base32), opened with the current or a previous secret key."""
    if not factor.secret.startswith(SEALED_PREFIX):
        return factor.secret  # stored plain by a release before sealing: sealed at its next use
    return unseal(factor.secret, settings.secret_key, settings.previous_secret_keys)


def begin_enrolment(session: Session, user: User, settings: Settings) -> tuple[SecondFactor, str]:
    """A new TOTP secret for the user to add to their authenticator app, pending until `confirm_enrolment`;
    returns the factor and the secret (to show once more while the enrolment is pending)."""
    factor = factor_of(session, user)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict("second_factor_enrolled")
    if factor is None:
        secret = pyotp.random_base32()
        factor = SecondFactor(
            user_id=user.id, secret=_seal(secret, settings), last_step=0, created_at=utcnow()
        )
        session.add(factor)
        session.flush()
        return factor, secret
    return factor, secret_of(factor, settings)


def provisioning_uri(secret: str, user: User) -> str:
    """The otpauth:// URI authenticator apps read (from a QR code, or typed in as the secret)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").replace(" ", "").lower().encode()).hexdigest()


def _accept_totp(factor: SecondFactor, code: str, settings: Settings, now: float | None = None) -> bool:
    code = code.replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    try:
        secret = secret_of(factor, settings)
    except SealError:
        return False  # sealed under a key no longer known: an administrator resets the factor
    if not factor.secret.startswith(SEALED_PREFIX):
        factor.secret = _seal(secret, settings)
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if step > factor.last_step and secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            factor.last_step = step
            return True
    return False


def confirm_enrolment(
    session: Session, user: User, code: str, settings: Settings, now: float | None = None
) -> list[str]:
    """Confirm the pending secret with a first code; returns the new recovery codes (shown once, stored hashed)."""
    factor = factor_of(session, user)
    if factor is None or factor.confirmed_at is not None:
        raise Conflict("second_factor_enrolled" if factor else "second_factor_not_started")
    if not _accept_totp(factor, code, settings, now):
        raise NotAuthenticated("second_factor_invalid")
    factor.confirmed_at = utcnow()
    return new_recovery_codes(session, user)


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes with new ones."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_code_hash(c)) for c in codes)
    session.flush()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


def verify(
    session: Session,
    user: User,
    code: str,
    settings: Settings,
    now: float | None = None,
    lockout: Lockout | None = None,
) -> str:
    """Check a code of the user's second factor: "totp" or "recovery" (that code is then used up), else
    NotAuthenticated. A wrong code counts as a failed sign-in and locks the account like wrong passwords do
    (flushed: the caller commits even on failure)."""
    lockout = lockout or Lockout()
    _refuse_if_locked(user)
    factor = factor_of(session, user)
    if factor is None or factor.confirmed_at is None:
        raise NotAuthenticated("second_factor_invalid")
    if _accept_totp(factor, code, settings, now):
        session.flush()
        return "totp"
    spare = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if spare is not None:
        spare.used_at = utcnow()
        session.flush()
        return "recovery"
    _failed(session, user, lockout)
    raise NotAuthenticated("second_factor_invalid")


def verify_passkey(
    session: Session,
    user: User,
    settings: Settings,
    state: Mapping[str, str],
    answer: Mapping[str, Any],
    lockout: Lockout | None = None,
) -> str:
    """The second factor by one of the user's passkeys ("passkey"); a refusal counts as a wrong code does."""
    _refuse_if_locked(user)
    try:
        passkeys.authenticate_complete(session, user, settings, state, answer)
    except NotAuthenticated:
        _failed(session, user, lockout or Lockout())
        raise
    return "passkey"


def _refuse_if_locked(user: User) -> None:
    moment = utcnow()
    if user.locked_until is not None and user.locked_until > moment:
        minutes = max(1, int((user.locked_until - moment).total_seconds() // 60) + 1)
        raise NotAuthenticated("account_locked", minutes=minutes)


def _failed(session: Session, user: User, lockout: Lockout) -> None:
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= lockout.attempts:
        user.locked_until = utcnow() + dt.timedelta(minutes=lockout.minutes)
        user.failed_logins = 0
    session.flush()


def reset(session: Session, user: User) -> None:
    """Remove a user's second factor (TOTP and passkeys) and recovery codes (an administrator's help for a lost phone): they enrol
    again at their next sign-in."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    session.execute(delete(Passkey).where(Passkey.user_id == user.id))
    session.flush()


def reseal_secrets(session: Session, settings: Settings) -> dict[str, int]:
    """Seal every TOTP secret under CHENGZHI_SECRET_KEY (plain ones from before sealing, ones sealed under a
    previous key) for `chengzhi secrets rotate`; counts resealed, already current, unreadable (reset those)."""
    counts = {"resealed": 0, "current": 0, "unreadable": 0}
    for factor in session.scalars(select(SecondFactor).order_by(SecondFactor.user_id)):
        try:
            if factor.secret.startswith(SEALED_PREFIX):
                fresh = reseal(factor.secret, settings.secret_key, settings.previous_secret_keys)
            else:
                fresh = _seal(factor.secret, settings)
        except SealError:
            counts["unreadable"] += 1
            continue
        if fresh is None:
            counts["current"] += 1
        else:
            factor.secret = fresh
            counts["resealed"] += 1
    session.flush()
    return counts
