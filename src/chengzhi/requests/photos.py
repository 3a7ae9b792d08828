"""Photos of a request: checked (JPEG, PNG or WebP within the size limit), stored once by content hash, and the
short-lived token that lets an anonymous submitter attach them."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Invalid, PayloadTooLarge, UnsupportedMediaType
from chengzhi.requests.models import Photo, PhotoToken, Request

PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


def photo_token_for(session: Session, request: Request, now: dt.datetime | None = None) -> str:
    token = secrets.token_urlsafe(24)
    session.add(
        PhotoToken(
            request_id=request.id,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=(now or utcnow()) + dt.timedelta(hours=2),
        )
    )
    return token


def photo_token_valid(session: Session, request: Request, token: str) -> bool:
    digest = hashlib.sha256(token.encode()).hexdigest()
    record = session.scalar(select(PhotoToken).where(PhotoToken.token_hash == digest))
    return record is not None and record.request_id == request.id and record.expires_at > utcnow()


def add_photo(session: Session, request: Request, content: bytes, settings: Settings) -> Photo:
    """Check that `content` is a JPEG, PNG or WebP image within the size limit, store it, record it."""
    if len(content) > settings.max_photo_bytes:
        limit = settings.max_photo_bytes
        raise PayloadTooLarge(limit=f"{limit // 1048576} MB" if limit >= 1048576 else f"{limit // 1024} KB")
    count = len(list(session.scalars(select(Photo.id).where(Photo.request_id == request.id))))
    if count >= settings.max_photos_per_request:
        raise Invalid("too_many_photos", limit=settings.max_photos_per_request)
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnsupportedMediaType() from None
    if image_format not in PHOTO_FORMATS:
        raise UnsupportedMediaType()
    content_type, extension = PHOTO_FORMATS[image_format]
    digest = hashlib.sha256(content).hexdigest()
    stored_name = f"{digest}.{extension}"
    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    target = media / stored_name
    if not target.exists():
        temporary = target.with_suffix(".part")
        temporary.write_bytes(content)
        temporary.replace(target)
    photo = Photo(
        request_id=request.id,
        content_type=content_type,
        size=len(content),
        width=width,
        height=height,
        sha256=digest,
        stored_name=stored_name,
    )
    session.add(photo)
    session.flush()
    return photo


def photos_of(session: Session, request: Request) -> list[Photo]:
    return list(session.scalars(select(Photo).where(Photo.request_id == request.id).order_by(Photo.id)))
