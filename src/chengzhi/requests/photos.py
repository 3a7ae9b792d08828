"""Photos of a request: checked (JPEG, PNG or WebP, within the size and pixel limits, no hidden second file),
re-encoded without their metadata (EXIF GPS positions, camera serials), stored once by content hash; the
short-lived token that lets an anonymous submitter attach them; and publication after moderation.

A photo is private when stored: the resident who sent it and staff who may read the request see it through the
API (`/api/v1/requests/{number}/photos/{id}`). Staff publish a resident's photo (moderation); a published photo is
served to anyone at `/media/photos/<public_key>.<ext>`, an address with 192 random bits. Staff attachments are
never published."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import secrets
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Invalid, PayloadTooLarge, UnsupportedMediaType
from chengzhi.org.service import Actor
from chengzhi.requests import schemas
from chengzhi.requests.models import Photo, PhotoToken, Request

PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# A second file hidden in an image (HTML or script for a browser that sniffs, a ZIP or PDF for another reader).
_HIDDEN = re.compile(rb"(?i)<(?:script|html|iframe|svg|body|\?php)\b|<!doctype|%PDF-")
_ZIP_LOCAL, _ZIP_END = b"PK\x03\x04", b"PK\x05\x06"
JPEG_QUALITY = 88


def photo_token_for(session: Session, request: Request, now: dt.datetime | None = None) -> str:
    token = new_photo_token()
    keep_photo_token(session, request.id, token, now)
    return token


def new_photo_token() -> str:
    """A token for an anonymous submitter's photos (API intake draws it before the request is written, to put it
    in the saved answer): `keep_photo_token` stores its digest."""
    return secrets.token_urlsafe(24)


def keep_photo_token(session: Session, request_id: int, token: str, now: dt.datetime | None = None) -> None:
    session.add(
        PhotoToken(
            request_id=request_id,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=(now or utcnow()) + dt.timedelta(hours=2),
        )
    )


def photo_token_valid(session: Session, request: Request, token: str) -> bool:
    digest = hashlib.sha256(token.encode()).hexdigest()
    record = session.scalar(select(PhotoToken).where(PhotoToken.token_hash == digest))
    return record is not None and record.request_id == request.id and record.expires_at > utcnow()


def _hides_another_file(content: bytes) -> bool:
    if _HIDDEN.search(content):
        return True
    return _ZIP_LOCAL in content and _ZIP_END in content[-70_000:]


def sanitise_image(content: bytes, max_pixels: int) -> tuple[bytes, str, int, int]:
    """The image re-encoded in its own format without metadata (orientation applied first), its format, width and
    height. Refuses what is not a JPEG, PNG or WebP, what holds another file, and what has more pixels than
    `max_pixels` (decompression bombs included: the size is read from the header, before any pixel is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                image_format = image.format or ""
                if image_format not in PHOTO_FORMATS:
                    raise UnsupportedMediaType()
                if _hides_another_file(content):
                    raise UnsupportedMediaType("photo_hidden_content")
                width, height = image.size
                if width * height > max_pixels:
                    raise Invalid("photo_too_many_pixels", limit=f"{max_pixels / 1e6:g}")
                image.load()
                upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid("photo_too_many_pixels", limit=f"{max_pixels / 1e6:g}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise UnsupportedMediaType() from None
    clean = _re_encode(upright, image_format)
    return clean, image_format, upright.width, upright.height


def _re_encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    elif image_format == "PNG":
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
            image = image.convert("RGBA")
        image.save(buffer, format="PNG", optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def add_photo(
    session: Session, request: Request, content: bytes, settings: Settings, *, by_staff: bool = False
) -> Photo:
    """Check `content` (see `sanitise_image`), store it re-encoded, record it (private until published)."""
    if len(content) > settings.max_photo_bytes:
        limit = settings.max_photo_bytes
        raise PayloadTooLarge(limit=f"{limit // 1048576} MB" if limit >= 1048576 else f"{limit // 1024} KB")
    count = len(list(session.scalars(select(Photo.id).where(Photo.request_id == request.id))))
    if count >= settings.max_photos_per_request:
        raise Invalid("too_many_photos", limit=settings.max_photos_per_request)
    clean, image_format, width, height = sanitise_image(content, settings.max_photo_pixels)
    content_type, extension = PHOTO_FORMATS[image_format]
    digest = hashlib.sha256(clean).hexdigest()
    stored_name = f"{digest}.{extension}"
    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    target = media / stored_name
    if not target.exists():
        temporary = target.with_suffix(f".{secrets.token_hex(4)}.part")
        temporary.write_bytes(clean)
        temporary.replace(target)
    photo = Photo(
        request_id=request.id,
        content_type=content_type,
        size=len(clean),
        width=width,
        height=height,
        sha256=digest,
        stored_name=stored_name,
        by_staff=by_staff,
        public=False,
        public_key=secrets.token_urlsafe(24),
    )
    session.add(photo)
    session.flush()
    return photo


def set_photo_public(session: Session, actor: Actor, photo: Photo, public: bool) -> Photo:
    """Publish (or withdraw) a resident's photo after moderation. Staff attachments cannot be published."""
    if public and photo.by_staff:
        raise Conflict("photo_staff_only")
    photo.public = public
    photo.moderated_by = actor.user_id
    photo.moderated_at = utcnow()
    if photo.public_key is None:
        photo.public_key = secrets.token_urlsafe(24)
    session.flush()
    return photo


def public_photo_path(photo: Photo) -> str | None:
    """The published address of a photo, or None while it is private."""
    if not photo.public or not photo.public_key:
        return None
    return f"/media/photos/{photo.public_key}.{PHOTO_FORMATS_BY_TYPE[photo.content_type]}"


PHOTO_FORMATS_BY_TYPE = {content_type: extension for content_type, extension in PHOTO_FORMATS.values()}


def published_photo(session: Session, key: str) -> Photo | None:
    """The published photo with this public key, if any."""
    photo = session.scalar(select(Photo).where(Photo.public_key == key))
    return photo if photo is not None and photo.public else None


def photo_public(request: Request, photo: Photo) -> schemas.PhotoPublic:
    return schemas.PhotoPublic(
        id=photo.id,
        content_type=photo.content_type,
        size=photo.size,
        width=photo.width,
        height=photo.height,
        url=f"/api/v1/requests/{request.tracking_number}/photos/{photo.id}",
        by_staff=photo.by_staff,
        public=photo.public,
        public_url=public_photo_path(photo),
    )


def photos_of(session: Session, request: Request) -> list[Photo]:
    return list(session.scalars(select(Photo).where(Photo.request_id == request.id).order_by(Photo.id)))
