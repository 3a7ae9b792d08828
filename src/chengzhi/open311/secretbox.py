"""Sealing the API keys that we send to units' Open311 systems (we must be able to read them back, so they
cannot be hashed): encrypt-then-MAC with keys derived from CHENGZHI_SECRET_KEY.

The cipher is HMAC-SHA256 in counter mode (a PRF-based stream cipher) under a random 16-byte nonce, followed by
an HMAC-SHA256 tag over the nonce and the ciphertext; encryption and authentication use separate derived keys.
Standard-library only. Changing CHENGZHI_SECRET_KEY makes sealed keys unreadable: enter them again
(`chengzhi open311 endpoints set`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

VERSION = "v1"


class SealError(ValueError):
    pass


def _keys(secret: str) -> tuple[bytes, bytes]:
    master = hashlib.sha256(("chengzhi.open311.seal\x00" + secret).encode()).digest()
    return (
        hmac.new(master, b"encrypt", hashlib.sha256).digest(),
        hmac.new(master, b"authenticate", hashlib.sha256).digest(),
    )


def _stream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range((length + 31) // 32):
        blocks.append(hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def seal(plaintext: str, secret: str) -> str:
    encrypt_key, mac_key = _keys(secret)
    nonce = secrets.token_bytes(16)
    data = plaintext.encode()
    cipher = bytes(a ^ b for a, b in zip(data, _stream(encrypt_key, nonce, len(data)), strict=True))
    tag = hmac.new(mac_key, nonce + cipher, hashlib.sha256).digest()
    return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + cipher + tag).decode()


def unseal(sealed: str, secret: str) -> str:
    version, _, body = sealed.partition(":")
    if version != VERSION:
        raise SealError("unknown sealing version")
    try:
        raw = base64.urlsafe_b64decode(body.encode())
    except ValueError:
        raise SealError("not a sealed value") from None
    if len(raw) < 48:
        raise SealError("not a sealed value")
    nonce, cipher, tag = raw[:16], raw[16:-32], raw[-32:]
    encrypt_key, mac_key = _keys(secret)
    if not hmac.compare_digest(tag, hmac.new(mac_key, nonce + cipher, hashlib.sha256).digest()):
        raise SealError("the sealed value was altered or sealed with another secret key")
    return bytes(
        a ^ b for a, b in zip(cipher, _stream(encrypt_key, nonce, len(cipher)), strict=True)
    ).decode()
