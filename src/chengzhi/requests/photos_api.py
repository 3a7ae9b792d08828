"""The photo endpoints: attach (the submitter, with the photo token if anonymous, or staff who act on the
request), read (whoever may read the request), publish or withdraw after moderation (staff who act on it), and
the published files at /media/photos/<key> that anyone may fetch. Included in api.py's router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Header, Path, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import MAX_ID
from chengzhi.deps import ActorDep, SessionDep, SettingsDep
from chengzhi.errors import Forbidden, NotFound
from chengzhi.org.service import Actor
from chengzhi.requests import access, lists, schemas
from chengzhi.requests import photos as photo_store
from chengzhi.requests.models import Photo
from chengzhi.requests.models import Request as RequestRow

router = APIRouter()
media_router = APIRouter(include_in_schema=False)


@router.post(
    "/requests/{ref}/photos", status_code=201, response_model=schemas.PhotoPublic, summary="Attach a photo"
)
async def upload_photo(
    ref: str,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    x_photo_token: Annotated[str | None, Header(alias="X-Photo-Token")] = None,
) -> schemas.PhotoPublic:
    if x_photo_token:
        request = session.scalar(select(RequestRow).where(RequestRow.tracking_number == ref))
        if request is None or not photo_store.photo_token_valid(session, request, x_photo_token):
            raise NotFound("request_not_found", ref=ref)
        by_staff = False
    else:
        request = lists.get_request(session, actor, ref)
        by_staff = not access.is_submitter(actor, request)
        if by_staff and not access.acts_on(session, actor, request):
            raise Forbidden()
    content = await photo.read(settings.max_photo_bytes + 1)
    stored = photo_store.add_photo(session, request, content, settings, by_staff=by_staff)
    session.commit()
    return photo_store.photo_public(request, stored)


def _photo_of(session: Session, actor: Actor, ref: str, photo_id: int) -> tuple[RequestRow, Photo]:
    """The request and its photo, if the actor may read the request (404 otherwise, anonymous included:
    published photos are served at their public address only)."""
    request = lists.get_request(session, actor, ref)
    photo = session.get(Photo, photo_id)
    if photo is None or photo.request_id != request.id:
        raise NotFound()
    return request, photo


@router.get("/requests/{ref}/photos/{photo_id}", summary="A photo's file", response_class=FileResponse)
def read_photo(
    ref: str,
    photo_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> FileResponse:
    try:
        _request, photo = _photo_of(session, actor, ref, photo_id)
    except NotFound:
        raise NotFound() from None
    return _file(settings, photo, cache="private, no-store")


def _moderate(session: Session, actor: Actor, ref: str, photo_id: int, public: bool) -> schemas.PhotoPublic:
    request, photo = _photo_of(session, actor, ref, photo_id)
    if not access.acts_on(session, actor, request):
        raise Forbidden()
    photo_store.set_photo_public(session, actor, photo, public)
    session.commit()
    return photo_store.photo_public(request, photo)


@router.post(
    "/requests/{ref}/photos/{photo_id}/publish",
    response_model=schemas.PhotoPublic,
    summary="Publish a resident's photo after moderation",
)
def publish_photo(
    ref: str, photo_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: ActorDep
) -> schemas.PhotoPublic:
    return _moderate(session, actor, ref, photo_id, True)


@router.delete(
    "/requests/{ref}/photos/{photo_id}/publish",
    response_model=schemas.PhotoPublic,
    summary="Withdraw a published photo",
)
def withdraw_photo(
    ref: str, photo_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, actor: ActorDep
) -> schemas.PhotoPublic:
    return _moderate(session, actor, ref, photo_id, False)


@media_router.get("/media/photos/{name}")
def published_photo(
    name: Annotated[str, Path(max_length=80, pattern=r"^[A-Za-z0-9_-]{20,64}\.(jpg|png|webp)$")],
    session: SessionDep,
    settings: SettingsDep,
) -> FileResponse:
    """A published photo, to anyone (the key is unguessable; unpublished and unknown keys are 404 alike)."""
    key, _, extension = name.rpartition(".")
    photo = photo_store.published_photo(session, key)
    if photo is None or photo_store.PHOTO_FORMATS_BY_TYPE.get(photo.content_type) != extension:
        raise NotFound()
    return _file(settings, photo, cache="public, max-age=300")


def _file(settings: Settings, photo: Photo, cache: str) -> FileResponse:
    path = settings.media_dir / photo.stored_name
    if not path.exists():
        raise NotFound()
    return FileResponse(path, media_type=photo.content_type, headers={"Cache-Control": cache})
