"""Subscriptions' signing secrets, sealed at rest with Fernet (the `cryptography` library) under a key derived
from CHENGZHI_SECRET_KEY. Changing that key makes them unreadable: the deliveries then fail and say so."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken


class SecretError(ValueError):
    pass


def _fernet(secret_key: str) -> Fernet:
    derived = hashlib.sha256(("chengzhi.webhooks\x00" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def seal(plaintext: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def unseal(sealed: str, secret_key: str) -> str:
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretError("the subscription's secret cannot be read (CHENGZHI_SECRET_KEY changed?)") from None
