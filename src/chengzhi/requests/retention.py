"""Retention: N months after a request is closed (`CHENGZHI_RETENTION_MONTHS`), its personal data are removed.

What goes: the contact name, phone, e-mail and the phone's last four digits; the link to the submitter's account;
in the title, text, reply, address, attributes and in every event's note and payload, the phone and ID-card
numbers, e-mail addresses and names `chengzhi.security.masking` finds (as on public pages, with the contact name
given at intake masked wherever it appears). What stays: the tracking number, category, place (coordinates),
units, times and the shape of the event log, so that statistics and the three rates do not change. The request
is marked `anonymised_at`; the job (`retention`, every scheduler round) takes 200 requests per batch.

Its photos are deleted (rows, upload tokens, and the files once the transaction commits, unless another photo
has the same content), and so are its supporters' keys (the support count stays). Other domains' copies go in the same transaction, each domain removing its own through the
hook `on_anonymise` (chengzhi.reactions registers them; docs/security.md lists what each does). Personal data kept
apart from any request (outbound messages recorded instead of sent, verification codes, ended sign-in sessions) go
by age through the hook `on_cutoff`, called at every run with the same cut-off time.

The event log is otherwise append-only: retention is the one rewrite, and it keeps `workflow.fold` equal to the
projection (the reply text is masked the same way in both).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests.models import Photo, PhotoToken, Request, RequestEvent, RequestSupport
from chengzhi.security.masking import mask_text
from chengzhi.security.periods import months_before as months_before  # importable from here too
from chengzhi.security.periods import retention_cutoff

BATCH = 200


@dataclass(frozen=True)
class Expired:
    """A request being anonymised, as other domains need it to remove their own copies (`on_anonymise`)."""

    request_id: int
    tracking_number: str
    title_before: str
    text_before: str
    title: str  # as it is now (masked)
    contact_name: str | None


# What other domains do with their copies (notifications, triage facts, duplicates index, vectors, hot-issue
# members, knowledge uses, Open311 updates): registered by chengzhi.reactions, called in the job's transaction.
Forget = Callable[[Session, Sequence[Expired]], object]
_forgetters: list[Forget] = []


def on_anonymise(forget: Forget) -> None:
    if forget not in _forgetters:
        _forgetters.append(forget)


def off_anonymise(forget: Forget) -> None:
    if forget in _forgetters:
        _forgetters.remove(forget)


# What other domains keep apart from any request and remove by age: called at every run with the cut-off (rows
# from before it go) and the time now; each answers how many rows it removed, by what.
Prune = Callable[[Session, dt.datetime, dt.datetime], dict[str, int]]
_pruners: list[Prune] = []


def on_cutoff(prune: Prune) -> None:
    if prune not in _pruners:
        _pruners.append(prune)


def off_cutoff(prune: Prune) -> None:
    if prune in _pruners:
        _pruners.remove(prune)


# Payload values that are free text: masked as on public pages (other values only where they hold contact data).
FREE_TEXT_KEYS = frozenset({"text", "note", "reason", "comment", "message", "reply"})


def _masked(value: Any, names: list[str | None], public: bool) -> Any:
    if isinstance(value, str):
        return mask_text(value, public=public, names=names)
    if isinstance(value, dict):
        return {k: _masked(v, names, public or k in FREE_TEXT_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, names, public) for v in value]
    return value


def _forget_photos(session: Session, request_ids: list[int], media_dir: Path) -> int:
    """Delete the requests' photos (rows, upload tokens) and, once the transaction commits, their files unless
    another photo shares the same content. Returns how many photos went."""
    photos = list(
        session.execute(select(Photo.id, Photo.stored_name).where(Photo.request_id.in_(request_ids)))
    )
    session.execute(delete(PhotoToken).where(PhotoToken.request_id.in_(request_ids)))
    if not photos:
        return 0
    session.execute(delete(Photo).where(Photo.id.in_([p.id for p in photos])))
    names = {p.stored_name for p in photos}
    unused = names - set(
        session.scalars(select(Photo.stored_name).where(Photo.stored_name.in_(names)).distinct())
    )

    def remove_files(_session: Session) -> None:
        for name in unused:
            (media_dir / name).unlink(missing_ok=True)

    orm_events.listen(session, "after_commit", remove_files, once=True)
    return len(photos)


def anonymise(session: Session, request: Request, now: dt.datetime) -> None:
    """Remove one request's personal data held in its own row and event log (see the module's docstring)."""
    names = [request.contact_name]
    request.title = mask_text(request.title, public=True, names=names) or ""
    request.text = mask_text(request.text, public=True, names=names) or ""
    request.reply_text = mask_text(request.reply_text, public=True, names=names)
    request.address = mask_text(request.address, public=True, names=names)
    request.attributes = _masked(dict(request.attributes or {}), names, False)
    request.contact_name = request.contact_phone = request.contact_email = request.phone_last4 = None
    request.submitter_id = None
    request.anonymised_at = now
    events = session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id))
    for event in events:
        event.note = mask_text(event.note, public=True, names=names)
        event.payload = _masked(dict(event.payload or {}), names, False)


def anonymise_expired(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The periodic job: anonymise every request closed more than `retention_months` ago."""
    before = retention_cutoff(settings, now)
    if before is None:
        return {"anonymised": 0, "retention": "off"}
    done = photos = 0
    while True:
        batch = list(
            session.scalars(
                select(Request)
                .where(
                    Request.closed_at.is_not(None),
                    Request.anonymised_at.is_(None),
                    Request.closed_at < before,
                    Request.status == "closed",
                )
                .order_by(Request.closed_at, Request.id)
                .limit(BATCH)
            )
        )
        expired = []
        for request in batch:
            title_before, text_before, name = request.title, request.text, request.contact_name
            anonymise(session, request, now)
            expired.append(
                Expired(request.id, request.tracking_number, title_before, text_before, request.title, name)
            )
        if batch:
            photos += _forget_photos(session, [r.id for r in batch], Path(settings.media_dir))
            # Who supported ("me too": keyed digests of accounts and browsers); the count stays on the request.
            session.execute(
                delete(RequestSupport).where(RequestSupport.request_id.in_([r.id for r in batch]))
            )
            for forget in list(_forgetters):
                forget(session, expired)
        session.flush()
        done += len(batch)
        if len(batch) < BATCH:
            break
    pruned: dict[str, int] = {}
    for prune in list(_pruners):
        pruned.update(prune(session, before, now))
    session.flush()
    result: dict[str, Any] = {
        "anonymised": done,
        "photos_deleted": photos,
        "closed_before": before.isoformat(),
    }
    return result | {k: v for k, v in pruned.items() if v}
