"""Sealing the secrets the platform must read back (so they cannot be hashed): the API keys we send to units'
Open311 systems and the staff's TOTP secrets (docs/identity.md). With the `cryptography` library's Fernet
(AES-128-CBC with HMAC-SHA256, a timestamp and a random IV per token), under a key derived from
CHENGZHI_SECRET_KEY by HKDF-SHA256 (its label still names open311, where the box began: values sealed then open).

Rotation: a new CHENGZHI_SECRET_KEY with the old one kept in CHENGZHI_PREVIOUS_SECRET_KEYS still reads every sealed
value (MultiFernet tries the current key first); `chengzhi secrets rotate` then re-seals them all under the current
key, after which the old key can be dropped.

Values sealed before (version "v1", an HMAC-SHA256 counter-mode stream cipher built by hand) are still read, only so
that `chengzhi secrets rotate` can re-seal them as "v2"; nothing new is sealed that way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v2"
LEGACY = "v1"
# What every value `seal` returns starts with (a stored value without it was never sealed).
SEALED_PREFIX = f"{VERSION}:"


class SealError(ValueError):
    pass


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"chengzhi.open311.seal.v2").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plaintext: str, secret: str) -> str:
    """`plaintext` encrypted and authenticated under the key derived from `secret`."""
    return f"{VERSION}:" + _fernet(secret).encrypt(plaintext.encode()).decode()


def unseal(sealed: str, secret: str, previous: Sequence[str] = ()) -> str:
    """The plaintext of a sealed value, sealed under `secret` or one of the `previous` secret keys."""
    version, _, body = sealed.partition(":")
    if version == VERSION:
        keys = MultiFernet([_fernet(s) for s in (secret, *previous) if s])
        try:
            return keys.decrypt(body.encode()).decode()
        except InvalidToken:
            raise SealError("the sealed value was altered or sealed with another secret key") from None
    if version == LEGACY:
        for candidate in (secret, *previous):
            try:
                return _unseal_legacy(body, candidate)
            except SealError:
                continue
        raise SealError("the sealed value was altered or sealed with another secret key")
    raise SealError("unknown sealing version")


def reseal(sealed: str, secret: str, previous: Sequence[str] = ()) -> str | None:
    """The value sealed anew under `secret` if it is not already (a legacy value, or one sealed under a previous
    key), else None. Raises SealError for a value no known key opens."""
    plaintext = unseal(sealed, secret, previous)
    if sealed.startswith(f"{VERSION}:"):
        try:
            _fernet(secret).decrypt(sealed.partition(":")[2].encode())
            return None
        except InvalidToken:
            pass
    return seal(plaintext, secret)


# ---------------------------------------------------------------- reading "v1" values (migration only)


def _legacy_keys(secret: str) -> tuple[bytes, bytes]:
    master = hashlib.sha256(("chengzhi.open311.seal\x00" + secret).encode()).digest()
    return (
        hmac.new(master, b"encrypt", hashlib.sha256).digest(),
        hmac.new(master, b"authenticate", hashlib.sha256).digest(),
    )


def _legacy_stream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range((length + 31) // 32):
        blocks.append(hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _unseal_legacy(body: str, secret: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(body.encode())
    except ValueError:
        raise SealError("not a sealed value") from None
    if len(raw) < 48:
        raise SealError("not a sealed value")
    nonce, cipher, tag = raw[:16], raw[16:-32], raw[-32:]
    encrypt_key, mac_key = _legacy_keys(secret)
    if not hmac.compare_digest(tag, hmac.new(mac_key, nonce + cipher, hashlib.sha256).digest()):
        raise SealError("the sealed value was altered or sealed with another secret key")
    stream = _legacy_stream(encrypt_key, nonce, len(cipher))
    return bytes(a ^ b for a, b in zip(cipher, stream, strict=True)).decode()
