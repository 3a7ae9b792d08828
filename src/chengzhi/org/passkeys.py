"""Passkeys (WebAuthn) as a second factor, with Yubico's `fido2` library as the relying party.

A signed-in user registers a passkey or security key on `/account`; from then on the second-factor step of their
sign-in accepts it in place of a TOTP code. The relying party is the site's public address
(`CHENGZHI_PUBLIC_URL`): its host is the RP ID and its origin the only one accepted. The authenticator's signature
counter must grow (when it keeps one): a cloned key is refused. User verification is preferred, not required (a
second factor after the password needs possession only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestedCredentialData,
    AuthenticatorData,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Invalid, NotAuthenticated, NotFound
from chengzhi.org.models import Passkey, User

MAX_PER_USER = 10


def origin_of(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


def _server(settings: Settings) -> Fido2Server:
    host = urlsplit(settings.public_url).hostname or "localhost"
    expected = origin_of(settings)
    return Fido2Server(
        PublicKeyCredentialRpEntity(id=host, name="Chengzhi 城治"), verify_origin=lambda o: o == expected
    )


def passkeys_of(session: Session, user_id: int) -> list[Passkey]:
    return list(session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)))


def has_passkey(session: Session, user_id: int) -> bool:
    return session.scalar(select(Passkey.id).where(Passkey.user_id == user_id).limit(1)) is not None


def _state(state: Mapping[str, Any]) -> dict[str, str]:
    """The server's state as it travels in the signed session cookie (strings only)."""
    return {"challenge": str(state["challenge"]), "user_verification": str(state["user_verification"] or "")}


def _credentials(rows: list[Passkey]) -> list[AttestedCredentialData]:
    return [AttestedCredentialData(websafe_decode(p.credential)) for p in rows]


def register_begin(session: Session, user: User, settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """The options for `navigator.credentials.create` (JSON-ready) and the state to keep until the answer."""
    existing = passkeys_of(session, user.id)
    if len(existing) >= MAX_PER_USER:
        raise Invalid("passkey_limit", limit=MAX_PER_USER)
    options, state = _server(settings).register_begin(
        PublicKeyCredentialUserEntity(
            id=str(user.id).encode(), name=user.username, display_name=user.display_name or user.username
        ),
        _credentials(existing),  # excluded: the same authenticator is not registered twice
        resident_key_requirement=ResidentKeyRequirement.DISCOURAGED,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return dict(options), _state(state)


def register_complete(
    session: Session,
    user: User,
    settings: Settings,
    state: Mapping[str, str],
    answer: Mapping[str, Any],
    name: str,
) -> Passkey:
    try:
        data = _server(settings).register_complete(dict(state), answer)
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid("passkey_refused", reason=str(exc)[:200]) from exc
    credential = data.credential_data
    if credential is None:
        raise Invalid("passkey_refused", reason="no credential data")
    key_id = websafe_encode(credential.credential_id)
    if session.scalar(select(Passkey.id).where(Passkey.credential_id == key_id)) is not None:
        raise Invalid("passkey_refused", reason="already registered")
    row = Passkey(
        user_id=user.id,
        credential_id=key_id,
        credential=websafe_encode(bytes(credential)),
        sign_count=data.counter,
        name=name.strip()[:80],
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def authenticate_begin(
    session: Session, user: User, settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """The options for `navigator.credentials.get` over the user's passkeys, and the state to keep."""
    rows = passkeys_of(session, user.id)
    if not rows:
        raise NotFound("passkey_none")
    options, state = _server(settings).authenticate_begin(
        _credentials(rows), user_verification=UserVerificationRequirement.PREFERRED
    )
    return dict(options), _state(state)


def authenticate_complete(
    session: Session, user: User, settings: Settings, state: Mapping[str, str], answer: Mapping[str, Any]
) -> Passkey:
    """Check the authenticator's signature over the challenge with one of the user's passkeys; a refusal raises
    `passkey_refused` (the caller counts it towards the lock-out)."""
    rows = passkeys_of(session, user.id)
    try:
        used = _server(settings).authenticate_complete(dict(state), _credentials(rows), answer)
        counter = AuthenticatorData(websafe_decode(str(answer["response"]["authenticatorData"]))).counter
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAuthenticated("passkey_refused", reason=str(exc)[:200]) from exc
    row = next(p for p in rows if p.credential_id == websafe_encode(used.credential_id))
    if (counter or row.sign_count) and counter <= row.sign_count:
        raise NotAuthenticated("passkey_refused", reason="signature counter did not grow (a cloned key?)")
    row.sign_count = counter
    row.last_used_at = utcnow()
    session.flush()
    return row


def remove(session: Session, user_id: int, passkey_id: int) -> None:
    found = session.execute(delete(Passkey).where(Passkey.user_id == user_id, Passkey.id == passkey_id))
    if not getattr(found, "rowcount", 0):
        raise NotFound("passkey_none")
    session.flush()
