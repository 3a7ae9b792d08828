"""Open311 documents in JSON and in XML (schemaless, no namespace), and the specification's error lists."""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET  # only builds documents, never parses input
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import Response

FORMATS = ("json", "xml")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# XML names of the elements of a list held by a field.
ITEM_NAMES = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}
# XML 1.0 refuses these characters even escaped.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class Open311Error(Exception):
    """An error rendered as the specification says: a list of {code, description}, with 400, 403 or 404
    (and 429 when an API key's rate limit is exceeded)."""

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers


@lru_cache(maxsize=4096)
def _offset(tz: ZoneInfo, year: int, month: int, day: int, hour: int) -> dt.timezone:
    """The zone's offset during one UTC hour, as a fixed zone (converting to it is cheap)."""
    offset = dt.datetime(year, month, day, hour, tzinfo=dt.UTC).astimezone(tz).utcoffset()
    return dt.timezone(offset or dt.timedelta(0))


def when(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the city's offset, to the second (naive values are UTC). Called three times per request
    in lists of 1,000: the zone's offset is looked up once per hour of time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    elif value.utcoffset():
        value = value.astimezone(dt.UTC)
    local = value.astimezone(_offset(tz, value.year, value.month, value.day, value.hour))
    return local.isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return _XML_ILLEGAL.sub("", str(value))


def _fill(element: ET.Element, item: Mapping[str, Any]) -> None:
    for name, value in item.items():
        child = ET.SubElement(element, name)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            child_name = ITEM_NAMES.get(name, name.rstrip("s"))
            for entry in value:
                grandchild = ET.SubElement(child, child_name)
                if isinstance(entry, Mapping):
                    _fill(grandchild, entry)
                else:
                    grandchild.text = _text(entry)
        elif isinstance(value, Mapping):
            _fill(child, value)
        else:
            child.text = _text(value)


def to_xml(root: str, item_name: str | None, body: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    top = ET.Element(root)
    if isinstance(body, Mapping):
        _fill(top, body)
    else:
        for entry in body:
            _fill(ET.SubElement(top, item_name or "item"), entry)
    document: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return document


def render(
    fmt: str,
    root: str,
    item_name: str | None,
    body: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if fmt == "xml":
        content = to_xml(root, item_name, body)
    else:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type=MEDIA_TYPES[fmt], headers=headers)


def error_response(fmt: str, error: Open311Error) -> Response:
    body = [{"code": error.status, "description": error.description}]
    return render(fmt if fmt in FORMATS else "xml", "errors", "error", body, error.status, error.headers)
