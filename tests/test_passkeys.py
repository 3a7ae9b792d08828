"""Passkeys (WebAuthn) as the staff second factor, on both databases: registered on /account, used at the
second-factor step of a later sign-in, with Yubico's `fido2` checking every answer. The authenticator is a
software one built here from `fido2`'s own WebAuthn types and a real P-256 key (`cryptography`): the answers are
signed as a security key signs them, so that a wrong origin, a foreign challenge, a bad signature, an unknown key
and a cloned key (its counter not growing) are each refused, and refusals count towards the lock-out."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.org.models import Passkey, User, UserSession

from .factories import City
from .test_second_factor import enrol, password_step

ORIGIN = "https://12345.example.gov.cn"
FLAGS = AuthenticatorData.FLAG.UP | AuthenticatorData.FLAG.UV


@dataclass
class SoftKey:
    """A security key in software: one credential, its private key and its signature counter."""

    rp_id: str = "12345.example.gov.cn"
    origin: str = ORIGIN
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    counter: int = 0

    def _rp_hash(self) -> bytes:
        return hashlib.sha256(self.rp_id.encode()).digest()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """What `navigator.credentials.create` returns, as passkeys.js sends it."""
        pk = options["publicKey"]
        assert pk["rp"]["id"] == self.rp_id
        cose = ES256.from_cryptography_key(self.key.public_key())  # type: ignore[no-untyped-call]
        attested = AttestedCredentialData.create(b"\0" * 16, self.credential_id, cose)
        data = AuthenticatorData.create(self._rp_hash(), FLAGS | AuthenticatorData.FLAG.AT, 0, attested)
        client = CollectedClientData.create(
            CollectedClientData.TYPE.CREATE, websafe_decode(pk["challenge"]), self.origin
        )
        attestation = AttestationObject.create("none", data, {})
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(bytes(client)),
                "attestationObject": websafe_encode(bytes(attestation)),
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any], *, counter: int | None = None) -> dict[str, Any]:
        """What `navigator.credentials.get` returns: a signature over the authenticator data and the client data."""
        pk = options["publicKey"]
        assert websafe_encode(self.credential_id) in [c["id"] for c in pk["allowCredentials"]]
        self.counter = self.counter + 1 if counter is None else counter
        data = AuthenticatorData.create(self._rp_hash(), FLAGS, self.counter)
        client = CollectedClientData.create(
            CollectedClientData.TYPE.GET, websafe_decode(pk["challenge"]), self.origin
        )
        signature = self.key.sign(bytes(data) + client.hash, ec.ECDSA(hashes.SHA256()))
        return {
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(bytes(client)),
                "authenticatorData": websafe_encode(bytes(data)),
                "signature": websafe_encode(signature),
            },
            "clientExtensionResults": {},
        }


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """Second factor required for staff; the site's public address is the relying party."""
    required = settings.model_copy(
        update={"staff_second_factor": True, "login_rate": "1000/minute", "public_url": ORIGIN + "/"}
    )
    with TestClient(create_app(required), raise_server_exceptions=False) as client:
        yield client


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"|data-csrf="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1) or found.group(2)


def _register(client: TestClient, key: SoftKey, name: str = "YubiKey") -> Any:
    csrf = _csrf(client, "/account")
    options = client.post("/account/passkeys/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    answer = {"credential": key.create(options.json()), "name": name}
    return client.post("/account/passkeys", json=answer, headers={"X-CSRF-Token": csrf})


def _second_step(client: TestClient, key: SoftKey, **kwargs: Any) -> Any:
    page = client.get("/login/second-factor")
    assert page.status_code == 200 and 'id="passkey-use"' in page.text and "/static/passkeys.js" in page.text
    csrf = _csrf(client, "/login/second-factor")
    options = client.post("/login/passkey/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    answer = {"credential": key.get(options.json(), **kwargs)}
    return client.post("/login/passkey", json=answer, headers={"X-CSRF-Token": csrf})


def _sign_out(client: TestClient) -> None:
    client.post("/logout", data={"csrf_token": _csrf(client, "/logout")})


def test_a_passkey_registered_on_the_account_is_a_second_factor(
    strict: TestClient, city: City, session: Session
) -> None:
    enrol(strict, "d1s1-handler")  # a TOTP first: staff are fully signed in before they add a passkey
    key = SoftKey()
    added = _register(strict, key)
    assert added.status_code == 201 and added.json()["name"] == "YubiKey"
    account = strict.get("/account")
    assert "YubiKey" in account.text and "/static/passkeys.js" in account.text
    again = _register(strict, key)  # the same authenticator twice: excluded, and refused if it tries
    assert again.status_code == 422 and again.json()["error"]["code"] == "passkey_refused"

    _sign_out(strict)
    assert password_step(strict, "d1s1-handler", "/staff") == "/login/second-factor"
    done = _second_step(strict, key)
    assert done.status_code == 200 and done.json() == {"next": "/staff"}
    assert strict.get("/staff", follow_redirects=False).status_code == 200
    session.commit()
    user = session.scalars(select(User).where(User.username == "d1s1-handler")).one()
    latest = session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id.desc())
    ).first()
    assert latest is not None and latest.second_factor == "passkey"
    row = session.scalars(select(Passkey).where(Passkey.user_id == user.id)).one()
    assert row.sign_count == 1 and row.last_used_at is not None

    # Removing it from the account: the second step offers the code only.
    form = {"csrf_token": _csrf(strict, "/account")}
    assert (
        strict.post(f"/account/passkeys/{row.id}/delete", data=form, follow_redirects=False).status_code
        == 303
    )
    _sign_out(strict)
    password_step(strict, "d1s1-handler")
    assert 'id="passkey-use"' not in strict.get("/login/second-factor").text


@pytest.mark.parametrize(
    "forgery",
    ["wrong_origin", "foreign_challenge", "bad_signature", "unknown_key", "cloned_key", "no_csrf"],
)
def test_every_forged_passkey_answer_is_refused_and_counts(
    strict: TestClient, city: City, session: Session, forgery: str
) -> None:
    enrol(strict, "d1s1-handler")
    key = SoftKey()
    assert _register(strict, key).status_code == 201
    _sign_out(strict)
    password_step(strict, "d1s1-handler", "/staff")
    csrf = _csrf(strict, "/login/second-factor")
    options = strict.post("/login/passkey/options", headers={"X-CSRF-Token": csrf}).json()
    if forgery == "wrong_origin":
        answer = SoftKey(
            origin="https://phishing.example.com", key=key.key, credential_id=key.credential_id
        ).get(options)
    elif forgery == "foreign_challenge":
        answer = key.get({"publicKey": {**options["publicKey"], "challenge": websafe_encode(os.urandom(32))}})
    elif forgery == "bad_signature":
        answer = SoftKey(credential_id=key.credential_id).get(options)  # another private key, the same id
    elif forgery == "unknown_key":
        other = SoftKey()
        listed = {
            "publicKey": {
                **options["publicKey"],
                "allowCredentials": [{"id": websafe_encode(other.credential_id)}],
            }
        }
        answer = other.get(listed)
    elif forgery == "cloned_key":
        first = key.get(options, counter=5)
        assert (
            strict.post(
                "/login/passkey", json={"credential": first}, headers={"X-CSRF-Token": csrf}
            ).status_code
            == 200
        )
        _sign_out(strict)
        password_step(strict, "d1s1-handler", "/staff")
        csrf = _csrf(strict, "/login/second-factor")
        options = strict.post("/login/passkey/options", headers={"X-CSRF-Token": csrf}).json()
        answer = key.get(options, counter=5)  # a copy of the key that signed before: the counter did not grow
    else:
        answer = key.get(options)
    headers = {} if forgery == "no_csrf" else {"X-CSRF-Token": csrf}
    refused = strict.post("/login/passkey", json={"credential": answer}, headers=headers)
    assert refused.status_code == (403 if forgery == "no_csrf" else 401), refused.text
    if forgery != "no_csrf":
        assert refused.json()["error"]["code"] == "passkey_refused"
    assert strict.get("/staff", follow_redirects=False).status_code != 200, "nobody signed in"
    session.commit()
    user = session.scalars(select(User).where(User.username == "d1s1-handler")).one()
    session.refresh(user)
    assert user.failed_logins == (0 if forgery == "no_csrf" else 1), (
        "a refused passkey counts as a wrong code"
    )


def test_passkey_routes_refuse_strangers_and_a_reset_removes_passkeys(
    strict: TestClient, city: City, session: Session
) -> None:
    assert strict.post("/account/passkeys/options", headers={"X-CSRF-Token": "x"}).status_code == 401
    assert strict.post("/login/passkey/options", headers={"X-CSRF-Token": "x"}).status_code == 401
    assert strict.post("/login/passkey", json={"credential": {}}).status_code == 401
    enrol(strict, "d1s1-handler")
    forged = strict.post("/account/passkeys/options", headers={"X-CSRF-Token": "x"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    assert _register(strict, SoftKey()).status_code == 201
    garbage = strict.post(
        "/account/passkeys",
        json={"credential": {"id": "x"}},
        headers={"X-CSRF-Token": _csrf(strict, "/account")},
    )
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "passkey_refused"
    session.commit()
    user = session.scalars(select(User).where(User.username == "d1s1-handler")).one()
    assert len(session.scalars(select(Passkey).where(Passkey.user_id == user.id)).all()) == 1
    with TestClient(create_app(strict.app.state.settings)) as admin:  # type: ignore[attr-defined]
        enrol(admin, "admin")
        reset = admin.delete(
            f"/api/v1/users/{user.id}/second-factor", headers={"X-CSRF-Token": _csrf(admin, "/account")}
        )
        assert reset.status_code == 204, reset.text
    session.commit()
    assert session.scalars(select(Passkey).where(Passkey.user_id == user.id)).all() == []
