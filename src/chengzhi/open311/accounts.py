"""Residents' accounts in the apps that post to our Open311 server (what other domains may call).

Open311's `account_id` is the posting app's own id for its user: the platform cannot check it, and two apps may use
the same ids. So it is kept only for a client an administrator marked as vouching for its users' accounts (an app
that signs its users in and sends only contact details it verified, such as the city's own app), and it is always
read with the client: the pair (client, account_id), never the id alone. A pair is linked to a platform account
only on proof: a request posted with the pair carried the phone number or e-mail address that account verified by
a code (and that no other account verified). From then on every request posted with the pair, earlier and later,
is among that person's own ("My requests"); the person sees the link in their space and may end it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.db import utcnow
from chengzhi.errors import Invalid, NotFound
from chengzhi.i18n import Language
from chengzhi.open311.models import Open311AccountLink, Open311Key, Open311RequestAccount
from chengzhi.open311.parameters import bad, clean
from chengzhi.org.models import Role
from chengzhi.org.queries import users_with_verified_contact

MAX_ACCOUNT_ID = 200
MAX_LINKED_REQUESTS = 500
_PHONE_NOISE = re.compile(r"[\s\-()]")
_NATIONAL = re.compile(r"^(?:\+86|0086|86)?(1\d{10})$")


def parse_account_id(value: str | None, lang: Language) -> str | None:
    """The POST's `account_id` as sent (trimmed); at most 200 characters."""
    account = clean(value)
    if account is not None and len(account) > MAX_ACCOUNT_ID:
        raise bad(
            lang,
            f"account_id is longer than {MAX_ACCOUNT_ID} characters",
            f"account_id 不能超过 {MAX_ACCOUNT_ID} 个字符",
        )
    return account


def _phone_forms(phone: str) -> set[str]:
    """The ways a verified number may be stored for the number a request carries (with or without +86)."""
    digits = _PHONE_NOISE.sub("", phone)
    forms = {digits}
    national = _NATIONAL.match(digits)
    if national:
        forms |= {national.group(1), "+86" + national.group(1)}
    return forms


def _proved_owner(session: Session, phone: str | None, email: str | None) -> tuple[int, str] | None:
    """The one resident account that verified the phone number or e-mail address a request carries, and which of
    the two proved it. Nobody when no account, or more than one, verified them, or when a staff account did."""
    found: dict[int, str] = {}
    staff = False
    candidates: list[tuple[str, str]] = []
    if phone:
        candidates += [("sms", p) for p in sorted(_phone_forms(phone))]
    if email:
        candidates.append(("email", email.strip().lower()))
    for channel, target in candidates:
        for user in users_with_verified_contact(session, channel, target):
            if any(r.role != Role.resident for r in user.roles):
                staff = True
            found.setdefault(user.id, "phone" if channel == "sms" else "email")
    if staff or len(found) != 1:
        return None
    return next(iter(found.items()))


def _live_link(session: Session, key_id: int, account_id: str) -> Open311AccountLink | None:
    return session.scalar(
        select(Open311AccountLink).where(
            Open311AccountLink.key_id == key_id,
            Open311AccountLink.account_id == account_id,
            Open311AccountLink.unlinked_at.is_(None),
        )
    )


def record(
    session: Session,
    key_id: int | None,
    account_id: str | None,
    request_id: int,
    phone: str | None,
    email: str | None,
    now: dt.datetime | None = None,
) -> Open311AccountLink | None:
    """After intake: keep the request's account id when its client vouches for accounts, and link the pair to the
    resident whose verified contact the request carries (unless the pair is linked already, or that person ended
    this pair's link before). Returns the pair's live link, if any."""
    if key_id is None or not account_id:
        return None
    key = session.get(Open311Key, key_id)
    if key is None or not key.vouches_for_accounts:
        return None
    now = now or utcnow()
    session.add(
        Open311RequestAccount(request_id=request_id, key_id=key_id, account_id=account_id, created_at=now)
    )
    live = _live_link(session, key_id, account_id)
    if live is not None:
        return live
    owner = _proved_owner(session, phone, email)
    if owner is None:
        return None
    user_id, proof = owner
    ended_before = session.scalar(
        select(Open311AccountLink.id).where(
            Open311AccountLink.key_id == key_id,
            Open311AccountLink.account_id == account_id,
            Open311AccountLink.user_id == user_id,
        )
    )
    if ended_before is not None:
        return None
    link = Open311AccountLink(
        key_id=key_id,
        account_id=account_id,
        user_id=user_id,
        proof=proof,
        request_id=request_id,
        linked_at=now,
    )
    try:
        # Two posts proving the same pair at once (PostgreSQL): the unique index over live links keeps one; the
        # other request is entered all the same.
        with session.begin_nested():
            session.add(link)
    except IntegrityError:
        return _live_link(session, key_id, account_id)
    return link


def echoed(key: Open311Key, account_id: str | None) -> str | None:
    """The `account_id` the POST's answer carries: the one kept, from a vouching client; else none (not kept)."""
    return account_id if key.vouches_for_accounts else None


# ---------------------------------------------------------------- for identity (a resident's own space)


def linked_request_ids(session: Session, user_id: int, limit: int = MAX_LINKED_REQUESTS) -> list[int]:
    """The requests posted under the person's linked (client, account_id) pairs, newest first. Only while the
    client vouches for accounts: an administrator who withdraws that withdraws what it proved (and gives it back by
    marking the client again)."""
    pair = and_(
        Open311RequestAccount.key_id == Open311AccountLink.key_id,
        Open311RequestAccount.account_id == Open311AccountLink.account_id,
    )
    query = (
        select(Open311RequestAccount.request_id)
        .join(Open311AccountLink, pair)
        .join(Open311Key, Open311Key.id == Open311AccountLink.key_id)
        .where(
            Open311AccountLink.user_id == user_id,
            Open311AccountLink.unlinked_at.is_(None),
            Open311Key.vouches_for_accounts,
        )
        .order_by(Open311RequestAccount.request_id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def owner_of(session: Session, request_id: int) -> int | None:
    """The account a request belongs to through its linked (client, account_id) pair, if any (for identity's
    sharing: such a request is the resident's own, as one submitted with their account is)."""
    query = (
        select(Open311AccountLink.user_id)
        .join(
            Open311RequestAccount,
            and_(
                Open311RequestAccount.key_id == Open311AccountLink.key_id,
                Open311RequestAccount.account_id == Open311AccountLink.account_id,
            ),
        )
        .join(Open311Key, Open311Key.id == Open311AccountLink.key_id)
        .where(
            Open311RequestAccount.request_id == request_id,
            Open311AccountLink.unlinked_at.is_(None),
            Open311Key.vouches_for_accounts,
        )
    )
    return session.scalar(query)


@dataclass(frozen=True)
class AppAccount:
    id: int
    client: str
    account_id: str
    proof: str
    linked_at: dt.datetime
    requests: int


def links_of(session: Session, user_id: int) -> list[AppAccount]:
    """The person's live links, with the client's name and how many requests each pair posted."""
    count = (
        select(func.count())
        .where(
            Open311RequestAccount.key_id == Open311AccountLink.key_id,
            Open311RequestAccount.account_id == Open311AccountLink.account_id,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(Open311AccountLink, Open311Key.name, count)
        .join(Open311Key, Open311Key.id == Open311AccountLink.key_id)
        .where(
            Open311AccountLink.user_id == user_id,
            Open311AccountLink.unlinked_at.is_(None),
            Open311Key.vouches_for_accounts,
        )
        .order_by(Open311AccountLink.id)
    )
    return [
        AppAccount(link.id, name, link.account_id, link.proof, link.linked_at, int(n or 0))
        for link, name, n in rows
    ]


def unlink(session: Session, user_id: int, link_id: int, now: dt.datetime | None = None) -> AppAccount:
    """End one of the person's links (their requests under the pair leave "My requests"); the pair is not linked
    to them again by a later request. Someone else's link, or an ended one, is not found."""
    found = next((a for a in links_of(session, user_id) if a.id == link_id), None)
    link = session.get(Open311AccountLink, link_id)
    if found is None or link is None:
        raise NotFound("not_found")
    link.unlinked_at = now or utcnow()
    session.flush()
    return found


def forget_person(session: Session, user_id: int, request_ids: list[int]) -> int:
    """The person deletes their data (PIPL): their links go, ended ones too, and so do the account ids kept on
    their requests. Returns how many links were removed."""
    removed = session.execute(delete(Open311AccountLink).where(Open311AccountLink.user_id == user_id))
    forget_requests(session, request_ids)
    return int(getattr(removed, "rowcount", 0) or 0)


def forget_requests(session: Session, request_ids: list[int]) -> None:
    """Retention (and deletion): the account ids kept on these requests go with their contact details."""
    for start in range(0, len(request_ids), 500):
        chunk = request_ids[start : start + 500]
        session.execute(delete(Open311RequestAccount).where(Open311RequestAccount.request_id.in_(chunk)))


# ---------------------------------------------------------------- for the administration


@dataclass(frozen=True)
class Client:
    name: str
    prefix: str
    unit_id: int | None
    revoked: bool
    vouches_for_accounts: bool
    vouches_changed_at: dt.datetime | None
    vouches_changed_by: str | None
    linked_accounts: int
    last_used_at: dt.datetime | None


def clients(session: Session) -> list[Client]:
    """Every Open311 client (API key) with whether it vouches for accounts and how many pairs are linked."""
    linked: dict[int, int] = {
        key_id: int(n)
        for key_id, n in session.execute(
            select(Open311AccountLink.key_id, func.count())
            .where(Open311AccountLink.unlinked_at.is_(None))
            .group_by(Open311AccountLink.key_id)
        )
    }
    return [
        Client(
            k.name,
            k.prefix,
            k.unit_id,
            k.revoked_at is not None,
            k.vouches_for_accounts,
            k.vouches_changed_at,
            k.vouches_changed_by,
            int(linked.get(k.id, 0)),
            k.last_used_at,
        )
        for k in session.scalars(select(Open311Key).order_by(Open311Key.id))
    ]


def set_vouches(
    session: Session, name: str, vouches: bool, by: str, now: dt.datetime | None = None
) -> Client:
    """Mark a client as vouching for its users' accounts, or withdraw it: from then on its `account_id`s are kept
    (or no longer kept) and its pairs may be linked. Withdrawing it also hides its existing links from the people's
    spaces (they are kept, and count again if the client is marked again)."""
    key = session.scalar(select(Open311Key).where(Open311Key.name == name))
    if key is None:
        raise NotFound("not_found")
    if key.revoked_at is not None and vouches:
        raise Invalid("validation_failed", details="this key is revoked")
    if key.vouches_for_accounts != vouches:
        key.vouches_for_accounts = vouches
        key.vouches_changed_at = now or utcnow()
        key.vouches_changed_by = by[:80]
    session.flush()
    return next(c for c in clients(session) if c.name == name)
