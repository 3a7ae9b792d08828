"""Photos leak nothing: private until staff publish a resident's photo (staff attachments never), published at an
unguessable address (Open311's media_url included), re-encoded without EXIF (GPS), within a pixel cap read before
decoding (decompression bombs), and images hiding another file refused; each refusal stores nothing."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from chengzhi.app import create_app
from chengzhi.config import Settings

from .factories import City
from .test_api_errors import SUBMIT, assert_error, created_number, token_headers, valid_submission
from .test_photos import image_bytes, upload


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (32, 24), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "secret-serial-123"  # Software
    gps = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
    exif[0x8825] = gps
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` × `height` pixels, with a tiny compressed body: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 2000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture
def resident(client: TestClient, city: City) -> dict[str, str]:
    return token_headers(client, "resident")


@pytest.fixture
def number(client: TestClient, resident: dict[str, str]) -> str:
    return created_number(client.post(SUBMIT, json=valid_submission(category="litter"), headers=resident))


def test_anonymous_visitors_get_no_photo_through_the_api(
    client: TestClient, resident: dict[str, str], number: str
) -> None:
    photo = upload(client, number, image_bytes("JPEG"), headers=resident).json()
    staff = upload(
        client, number, image_bytes("PNG"), "p.png", "image/png", token_headers(client, "operator")
    )
    assert staff.json()["by_staff"] is True and photo["by_staff"] is False
    for url in (photo["url"], staff.json()["url"]):
        assert_error(client.get(url), 404, "not_found")
    # Sequential ids lead nowhere either.
    for guess in range(1, photo["id"] + 3):
        assert client.get(f"{SUBMIT}/{number}/photos/{guess}").status_code == 404
    assert photo["public"] is False and photo["public_url"] is None


def test_published_after_moderation_at_an_unguessable_address(
    client: TestClient, resident: dict[str, str], number: str
) -> None:
    photo = upload(client, number, image_bytes("JPEG"), headers=resident).json()
    publish = f"{SUBMIT}/{number}/photos/{photo['id']}/publish"
    assert_error(client.post(publish), 404)  # anonymous
    assert_error(client.post(publish, headers=resident), 403, "forbidden")  # the resident cannot self-publish
    assert_error(client.post(publish, headers=token_headers(client, "leader")), 403, "forbidden")
    published = client.post(publish, headers=token_headers(client, "operator"))
    assert published.status_code == 200, published.text
    public_url = published.json()["public_url"]
    assert public_url.startswith("/media/photos/") and f"/{photo['id']}." not in public_url
    assert len(public_url.rsplit("/", 1)[1].split(".")[0]) >= 32
    served = client.get(public_url)
    assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"
    assert "public" in served.headers["cache-control"]
    assert client.get(public_url.replace(".jpg", ".png")).status_code == 404
    withdrawn = client.delete(publish, headers=token_headers(client, "operator"))
    assert withdrawn.json()["public"] is False
    assert client.get(public_url).status_code == 404


def test_staff_attachments_are_never_published(client: TestClient, number: str) -> None:
    operator = token_headers(client, "operator")
    photo = upload(client, number, image_bytes("JPEG"), headers=operator).json()
    refused = client.post(f"{SUBMIT}/{number}/photos/{photo['id']}/publish", headers=operator)
    assert_error(refused, 409, "photo_staff_only")


def test_open311_media_url_only_for_published_photos(
    client: TestClient, resident: dict[str, str], number: str
) -> None:
    photo = upload(client, number, image_bytes("JPEG"), headers=resident).json()
    item = client.get(f"/open311/v2/requests/{number}.json").json()[0]
    assert item["media_url"] is None
    client.post(f"{SUBMIT}/{number}/photos/{photo['id']}/publish", headers=token_headers(client, "operator"))
    item = client.get(f"/open311/v2/requests/{number}.json").json()[0]
    assert "/media/photos/" in item["media_url"]
    path = item["media_url"].split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 200


def test_exif_and_gps_are_stripped_before_storing(
    client: TestClient, resident: dict[str, str], number: str, settings: Settings
) -> None:
    content = photo_with_gps()
    with Image.open(io.BytesIO(content)) as original:
        assert original.getexif().get_ifd(0x8825), "the test photo carries a GPS position"
    photo = upload(client, number, content, headers=resident).json()
    served = client.get(photo["url"], headers=token_headers(client, "dispatcher")).content
    with Image.open(io.BytesIO(served)) as stored:
        assert not stored.getexif() and "exif" not in stored.info
    assert b"secret-serial-123" not in served and b"PhoneMaker" not in served
    for path in settings.media_dir.iterdir():
        assert b"secret-serial-123" not in path.read_bytes()


def test_decompression_bombs_are_refused_before_decoding(
    client: TestClient, resident: dict[str, str], number: str, settings: Settings
) -> None:
    bomb = png_header_only(12000, 12000)
    assert len(bomb) < 1000
    error = assert_error(upload(client, number, bomb, "bomb.png", "image/png", resident), 422)
    assert error["code"] == "photo_too_many_pixels" and "40" in error["message"]
    huge = png_header_only(30000, 30000)  # past Pillow's own bomb limit
    assert_error(
        upload(client, number, huge, "huge.png", "image/png", resident), 422, "photo_too_many_pixels"
    )
    assert not settings.media_dir.exists() or not any(settings.media_dir.iterdir()), "nothing stored"


@pytest.fixture
def capped_client(settings: Settings, city: City) -> Iterator[TestClient]:
    capped = settings.model_copy(update={"max_photo_pixels": 10_000})
    with TestClient(create_app(capped), raise_server_exceptions=False) as client:
        yield client


def test_the_pixel_cap_is_a_setting(capped_client: TestClient) -> None:
    resident = token_headers(capped_client, "resident")
    number = created_number(capped_client.post(SUBMIT, json=valid_submission(), headers=resident))
    assert upload(capped_client, number, image_bytes("JPEG", (100, 100)), headers=resident).status_code == 201
    refused = upload(capped_client, number, image_bytes("JPEG", (101, 100)), headers=resident)
    assert_error(refused, 422, "photo_too_many_pixels")


@pytest.mark.parametrize(
    "hidden",
    [
        b"<script>alert(document.cookie)</script>",
        b"<!DOCTYPE html><html><body>phish</body></html>",
        b"<?php system($_GET['c']); ?>",
        b"%PDF-1.7\n1 0 obj",
        b"PK\x03\x04" + b"\x00" * 26 + b"evil.exe" + b"PK\x05\x06" + b"\x00" * 18,
    ],
    ids=["html-script", "html", "php", "pdf", "zip"],
)
def test_polyglots_are_refused(
    client: TestClient, resident: dict[str, str], number: str, settings: Settings, hidden: bytes
) -> None:
    for fmt, name, content_type in (("JPEG", "p.jpg", "image/jpeg"), ("PNG", "p.png", "image/png")):
        polyglot = image_bytes(fmt) + hidden
        error = assert_error(upload(client, number, polyglot, name, content_type, resident), 422)
        assert error["code"] == "photo_hidden_content", error
    assert not settings.media_dir.exists() or not any(settings.media_dir.iterdir()), "nothing stored"
