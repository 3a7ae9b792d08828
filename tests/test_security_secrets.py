"""No home-made cryptography: units' Open311 API keys are sealed with Fernet (`cryptography`) under a key derived
from CHENGZHI_SECRET_KEY; previous keys still open them (CHENGZHI_PREVIOUS_SECRET_KEYS), so that changing the secret
key no longer breaks deliveries, and `chengzhi secrets rotate` re-seals every stored secret under the current key,
including those sealed by the old hand-built cipher (read once, for this migration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.open311 import delivery
from chengzhi.open311.models import Open311Endpoint
from chengzhi.org.service import get_unit_by_code
from chengzhi.security import secretbox
from chengzhi.security.secretbox import SealError, reseal, seal, unseal

from .conftest import Configure

OLD, NEW = "old-secret-key-" + "x" * 30, "new-secret-key-" + "y" * 30
# Sealed by the hand-built cipher this module replaced (lead's secretbox.py) with OLD: "department-key-42".
LEGACY_SEALED = "v1:sloyLKIvCtOVZhX3VGcsffuFxtSI7VY6erw0q4u17S4CdAWsZX7hqcFf1f7o3S71AkX9pS52kKNE8U_8Jf3yn6w="


def test_sealed_with_fernet() -> None:
    sealed = seal("their-key", NEW)
    assert sealed.startswith("v2:") and "their-key" not in sealed
    token = sealed.partition(":")[2].encode()
    assert Fernet._get_unverified_token_data(token)  # a well-formed Fernet token
    assert unseal(sealed, NEW) == "their-key"
    assert seal("their-key", NEW) != sealed  # a fresh IV each time
    with pytest.raises(SealError):
        unseal(sealed, OLD)
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealError):
        unseal(tampered, NEW)
    with pytest.raises(SealError):
        unseal("v9:whatever", NEW)


def test_previous_keys_open_and_reseal() -> None:
    under_old = seal("their-key", OLD)
    assert unseal(under_old, NEW, [OLD]) == "their-key"
    fresh = reseal(under_old, NEW, [OLD])
    assert fresh is not None and unseal(fresh, NEW) == "their-key"
    assert reseal(fresh, NEW, [OLD]) is None  # already under the current key
    assert unseal(LEGACY_SEALED, OLD) == "department-key-42"
    legacy_resealed = reseal(LEGACY_SEALED, NEW, [OLD])
    assert legacy_resealed is not None and legacy_resealed.startswith("v2:")
    assert unseal(legacy_resealed, NEW) == "department-key-42"


def test_no_home_made_stream_cipher_remains() -> None:
    text = Path(secretbox.__file__).read_text(encoding="utf-8")
    seal_body = text.split("def seal(", 1)[1].split("\ndef ", 1)[0]
    assert "_fernet(secret).encrypt" in seal_body and "hmac" not in seal_body


def test_secrets_rotate_reseals_stored_keys(settings: Settings, configure: Configure, city: object) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        old = settings.model_copy(update={"secret_key": OLD})
        for code in ("D1-water", "D2-water"):
            delivery.set_endpoint(
                session, old, get_unit_by_code(session, code), "https://x.example/o311", "k-" + code
            )
        session.execute(
            update(Open311Endpoint)
            .where(Open311Endpoint.unit_id == get_unit_by_code(session, "D2-water").id)
            .values(api_key_sealed=LEGACY_SEALED)
        )
    configure(secret_key=NEW, previous_secret_keys=json.dumps([OLD]))
    runner = CliRunner()
    done = runner.invoke(app, ["secrets", "rotate"])
    assert done.exit_code == 0, done.output
    assert "re-sealed 2, already current 0, unreadable 0" in done.output
    with get_sessionmaker(settings.database_url)() as session:
        sealed = list(session.scalars(select(Open311Endpoint.api_key_sealed).order_by(Open311Endpoint.id)))
    assert sorted(unseal(s, NEW) for s in sealed) == ["department-key-42", "k-D1-water"]
    again = runner.invoke(app, ["secrets", "rotate"])
    assert "re-sealed 0, already current 2" in again.output
    configure(secret_key="another-secret-key-" + "z" * 30, previous_secret_keys="[]")
    lost = runner.invoke(app, ["secrets", "rotate"])
    assert lost.exit_code == 1 and "unreadable 2" in lost.output
