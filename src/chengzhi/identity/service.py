"""What other domains may call: people's identities at providers, and signing them in through one or through a
verified phone number."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.config import OidcProvider
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden
from chengzhi.identity.models import UserIdentity, VerificationCode
from chengzhi.identity.oidc import IdToken
from chengzhi.org import service as org
from chengzhi.org.models import Role, User
from chengzhi.org.queries import user_by_id, users_with_verified_contact


@dataclass(frozen=True)
class Assurance:
    """What the provider said about how it authenticated the person."""

    acr: str | None
    amr: str | None
    mfa: bool


def assurance(provider: OidcProvider, token: IdToken) -> Assurance:
    acr = token.claims.get("acr")
    amr = token.claims.get("amr")
    amr_list = [str(a) for a in amr] if isinstance(amr, list) else []
    mfa = (isinstance(acr, str) and acr in provider.mfa_acr_values) or any(
        a in provider.mfa_amr_values for a in amr_list
    )
    return Assurance(
        acr=str(acr)[:200] if isinstance(acr, str) else None,
        amr=",".join(amr_list)[:200] or None,
        mfa=mfa,
    )


def identity_of(session: Session, issuer: str, subject: str) -> UserIdentity | None:
    return session.scalar(
        select(UserIdentity).where(UserIdentity.issuer == issuer, UserIdentity.subject == subject)
    )


def identities_of(session: Session, user_id: int) -> list[UserIdentity]:
    return list(
        session.scalars(select(UserIdentity).where(UserIdentity.user_id == user_id).order_by(UserIdentity.id))
    )


def _username(name: str, issuer: str, subject: str) -> str:
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:12]
    return f"{name[:20]}-{digest}"


def signed_in_user(
    session: Session,
    name: str,
    provider: OidcProvider,
    token: IdToken,
    *,
    link_to: User | None = None,
) -> User:
    """The user a valid ID token signs in (or, with `link_to`, links the identity to that user): found by
    (issuer, subject); a person the platform does not know becomes a resident when the provider allows it. The
    verified claims are recorded: a verified phone number (level 1), the name from a real-name provider (level 2)."""
    issuer, subject = str(token.claims["iss"]), str(token.claims["sub"])
    found = identity_of(session, issuer, subject)
    now = utcnow()
    if link_to is not None:
        if found is not None and found.user_id != link_to.id:
            raise Conflict("oidc_identity_taken")
        user = link_to
    elif found is not None:
        existing = user_by_id(session, found.user_id)
        if existing is None or not existing.active:
            raise Forbidden("oidc_account_inactive")
        user = existing
    else:
        if not provider.create_residents:
            raise Forbidden("oidc_unknown_person")
        user = org.create_user(
            session,
            username=_username(name, issuer, subject),
            display_name=str(token.claims.get("name") or token.claims.get("preferred_username") or "")[:120],
            password=None,
            roles=[(Role.resident, org.city_unit(session))],
        )
    if found is None:
        found = UserIdentity(user_id=user.id, provider=name, issuer=issuer, subject=subject, created_at=now)
        session.add(found)
    found.last_login_at = now
    found.acr = assurance(provider, token).acr
    phone = token.claims.get("phone_number")
    phone_ok = token.claims.get("phone_number_verified") is True and isinstance(phone, str)
    email = token.claims.get("email")
    email_ok = token.claims.get("email_verified") is True and isinstance(email, str)
    name_claim = token.claims.get("name")
    org.record_verified(
        session,
        user,
        name=str(name_claim) if isinstance(name_claim, str) else None,
        phone=phone if phone_ok and isinstance(phone, str) else None,
        email=email if email_ok and isinstance(email, str) else None,
        real_name=provider.real_name,
    )
    session.flush()
    return user


def resident_for(session: Session, channel: str, target: str) -> User:
    """The account a visitor who proved this phone number (`sms`) or e-mail address by a code signs in to: the
    resident account that verified it (the most recent), or a new resident with it verified (identity level 1). A
    number or address that a staff account verified is refused: staff sign in with their password and second
    factor."""
    found = users_with_verified_contact(session, channel, target)
    if any(any(r.role != Role.resident for r in u.roles) for u in found):
        raise Forbidden("phone_signin_staff")
    if found:
        return found[0]
    user = org.create_user(
        session,
        username=f"phone-{secrets.token_hex(6)}",
        display_name="",
        password=None,
        roles=[(Role.resident, org.city_unit(session))],
    )
    if channel == "sms":
        org.record_verified(session, user, phone=target)
    else:
        org.record_verified(session, user, email=target)
    return user


# A verification code is kept a day after it expired (a person asking why their code failed), then deleted: it
# holds the phone number or address it was sent to, and the fact it proved is on the account (`*_verified_at`).
CODES_KEPT = dt.timedelta(days=1)


def prune_codes(session: Session, _before: dt.datetime, now: dt.datetime) -> dict[str, int]:
    """Retention by age (chengzhi.requests.retention `on_cutoff`): verification codes expired over a day ago."""
    due = VerificationCode.expires_at < now - CODES_KEPT
    if session.scalar(select(VerificationCode.id).where(due).limit(1)) is None:
        return {}  # a read only: no write lock taken when nothing is due (SQLite)
    done = session.execute(delete(VerificationCode).where(due))
    return {"verification_codes_deleted": int(getattr(done, "rowcount", 0) or 0)}
