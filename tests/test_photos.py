"""Photos attached to a request: JPEG, PNG and WebP only (checked by content, not by name), within the size and
count limits, by the submitter (an anonymous one with the photo token from the submission) or staff."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests.models import PhotoToken

from .factories import City
from .test_api_errors import SUBMIT, assert_error, created_number, token_headers, valid_submission


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6), noise: bool = False) -> bytes:
    """A small image made in memory; with noise, one that does not compress."""
    image = Image.new("RGB", size, (200, 30, 30))
    if noise:
        image = Image.frombytes("RGB", size, hashlib.shake_256(b"photo").digest(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return buffer.getvalue()


def upload(
    client: TestClient,
    number: str,
    content: bytes,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"{SUBMIT}/{number}/photos", files={"photo": (filename, content, content_type)}, headers=headers or {}
    )
    return response


@pytest.fixture
def resident(client: TestClient, city: City) -> dict[str, str]:
    return token_headers(client, "resident")


@pytest.fixture
def number(client: TestClient, resident: dict[str, str]) -> str:
    return created_number(client.post(SUBMIT, json=valid_submission(category="litter"), headers=resident))


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_jpeg_png_and_webp_are_accepted_and_readable_afterwards(
    client: TestClient, resident: dict[str, str], number: str, fmt: str, content_type: str
) -> None:
    content = image_bytes(fmt, (8, 6))
    response = upload(client, number, content, f"photo.{fmt.lower()}", content_type, resident)
    assert response.status_code == 201, response.text
    photo = response.json()
    assert photo["content_type"] == content_type
    assert (photo["width"], photo["height"]) == (8, 6)
    staff = token_headers(client, "dispatcher")
    stored = client.get(photo["url"], headers=staff)
    assert stored.status_code == 200
    assert photo["size"] == len(stored.content)  # re-encoded: what is stored is what is served
    with Image.open(io.BytesIO(stored.content)) as served:
        assert (served.format, served.size) == (fmt, (8, 6))
    assert stored.headers["content-type"] == content_type
    detail = client.get(f"{SUBMIT}/{number}", headers=staff).json()
    assert [p["id"] for p in detail["photos"]] == [photo["id"]]


def test_the_type_comes_from_the_content_not_the_name(
    client: TestClient, resident: dict[str, str], number: str
) -> None:
    response = upload(client, number, image_bytes("PNG"), "holiday.gif", "image/gif", resident)
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"


NOT_PHOTOS = [
    ("gif", image_bytes("GIF"), "photo.gif", "image/gif"),
    ("bmp", image_bytes("BMP"), "photo.bmp", "image/bmp"),
    ("text", b"just some text, not a picture", "notes.txt", "text/plain"),
    ("fake-extension", b"MZ\x90\x00 pretending to be a photo", "photo.jpg", "image/jpeg"),
    ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "photo.png", "image/png"),
    ("truncated-jpeg", image_bytes("JPEG")[:40], "truncated.jpg", "image/jpeg"),
    ("empty", b"", "empty.jpg", "image/jpeg"),
]


def test_anything_but_jpeg_png_or_webp_is_refused(
    client: TestClient, resident: dict[str, str], number: str, settings: Settings
) -> None:
    for case, content, filename, content_type in NOT_PHOTOS:
        response = upload(client, number, content, filename, content_type, resident)
        assert "JPEG" in assert_error(response, 422, "unsupported_media_type")["message"], case
    assert not settings.media_dir.exists() or not any(settings.media_dir.iterdir()), "nothing stored"
    assert client.get(f"{SUBMIT}/{number}", headers=resident).json()["photos"] == []


@pytest.fixture
def small_client(settings: Settings, city: City) -> Iterator[TestClient]:
    """Photo limits small enough to test: 2 KB and two photos per request."""
    small = settings.model_copy(update={"max_photo_bytes": 2048, "max_photos_per_request": 2})
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        yield client


def test_oversized_photo_is_413(small_client: TestClient) -> None:
    resident = token_headers(small_client, "resident")
    number = created_number(small_client.post(SUBMIT, json=valid_submission(), headers=resident))
    big = image_bytes("PNG", (40, 40), noise=True)
    assert len(big) > 2048
    error = assert_error(
        upload(small_client, number, big, "big.png", "image/png", resident), 413, "payload_too_large"
    )
    assert "2 KB" in error["message"]
    # A body far beyond the limit is refused before it is read.
    huge = b"\xff\xd8" + b"\x00" * (2048 + 300 * 1024)
    assert_error(upload(small_client, number, huge, headers=resident), 413, "body_too_large")
    assert small_client.get(f"{SUBMIT}/{number}", headers=resident).json()["photos"] == []


def test_too_many_photos_are_refused(small_client: TestClient) -> None:
    resident = token_headers(small_client, "resident")
    number = created_number(small_client.post(SUBMIT, json=valid_submission(), headers=resident))
    for colour_seed in range(2):
        content = image_bytes("PNG", (4 + colour_seed, 4))
        assert upload(small_client, number, content, "p.png", "image/png", resident).status_code == 201
    response = upload(small_client, number, image_bytes("PNG", (9, 9)), "p.png", "image/png", resident)
    assert "2" in assert_error(response, 422, "too_many_photos")["message"]


def test_anonymous_submitter_uploads_with_the_photo_token(client: TestClient, city: City) -> None:
    created = client.post(SUBMIT, json=valid_submission())
    number = created_number(created)
    token = created.json()["photo_token"]
    assert token
    content = image_bytes("JPEG")
    response = upload(client, number, content, headers={"X-Photo-Token": token})
    assert response.status_code == 201, response.text
    staff = token_headers(client, "dispatcher")
    served = client.get(response.json()["url"], headers=staff)
    assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_anonymous_upload_without_the_right_token_is_refused(
    client: TestClient, city: City, token: str | None
) -> None:
    number = created_number(client.post(SUBMIT, json=valid_submission()))
    headers = {} if token is None else {"X-Photo-Token": token}
    assert_error(upload(client, number, image_bytes("JPEG"), headers=headers), 404, "request_not_found")


def test_a_photo_token_opens_only_its_own_request_and_only_for_a_while(
    client: TestClient, city: City, session: Session
) -> None:
    first = client.post(SUBMIT, json=valid_submission())
    second = created_number(client.post(SUBMIT, json=valid_submission()))
    token = first.json()["photo_token"]
    assert_error(upload(client, second, image_bytes("JPEG"), headers={"X-Photo-Token": token}), 404)
    session.execute(update(PhotoToken).values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    session.commit()
    number = created_number(first)
    assert_error(upload(client, number, image_bytes("JPEG"), headers={"X-Photo-Token": token}), 404)


def test_only_the_submitter_and_staff_who_act_attach_photos(
    client: TestClient, resident: dict[str, str], number: str
) -> None:
    other = token_headers(client, "resident2")
    assert_error(upload(client, number, image_bytes("JPEG"), headers=other), 404, "request_not_found")
    staff = token_headers(client, "operator")
    assert upload(client, number, image_bytes("JPEG"), headers=staff).status_code == 201
    # Leaders read every request but act on none: no attachments from them (nor analysts, administrators).
    for reader in ("leader", "admin"):
        refused = upload(client, number, image_bytes("JPEG"), headers=token_headers(client, reader))
        assert_error(refused, 403, "forbidden")


def test_a_photo_is_found_only_under_its_own_request(
    client: TestClient, resident: dict[str, str], number: str
) -> None:
    photo = upload(client, number, image_bytes("PNG"), "p.png", "image/png", resident).json()
    other = created_number(client.post(SUBMIT, json=valid_submission(), headers=resident))
    staff = token_headers(client, "dispatcher")
    assert_error(client.get(f"{SUBMIT}/{other}/photos/{photo['id']}", headers=staff), 404, "not_found")
    assert_error(
        client.get(f"{SUBMIT}/{number}/photos/{photo['id'] + 1000}", headers=staff), 404, "not_found"
    )
    assert_error(client.get(f"{SUBMIT}/{number}/photos/{10**20}", headers=staff), 422, "validation_failed")
    # A signed-in user who may not see the request does not get its photos either.
    outsider = token_headers(client, "resident2")
    assert_error(client.get(photo["url"], headers=outsider), 404, "not_found")


def test_upload_without_a_file_is_422(client: TestClient, resident: dict[str, str], number: str) -> None:
    response = client.post(f"{SUBMIT}/{number}/photos", data={"note": "no file"}, headers=resident)
    assert_error(response, 422, "validation_failed")
    response = client.post(f"{SUBMIT}/{number}/photos", json={"photo": "aGVsbG8="}, headers=resident)
    assert_error(response, 422, "validation_failed")
