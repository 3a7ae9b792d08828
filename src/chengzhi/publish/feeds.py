"""Atom feeds (RFC 4287) of what is published, by unit, category or area."""

from __future__ import annotations

import datetime as dt
from typing import Any
from xml.etree import ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def atom(
    items: list[dict[str, Any]], *, title: str, feed_url: str, site_url: str, lang: str, now: dt.datetime
) -> bytes:
    """The feed document: one entry per publication (`service.described`), newest first."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {XML_LANG: "en" if lang == "en" else "zh-Hans"})
    _sub(feed, "id", feed_url)
    _sub(feed, "title", title)
    _sub(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=f"{site_url}/notices", type="text/html")
    updated = max((i["published_at"] for i in items if i["published_at"]), default=now.isoformat())
    _sub(feed, "updated", updated)
    author = _sub(feed, "author")
    _sub(author, "name", "Chengzhi")
    for item in items:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"{site_url}/notices/{item['id']}")
        _sub(entry, "title", item["title"])
        _sub(entry, "link", rel="alternate", href=f"{site_url}/notices/{item['id']}", type="text/html")
        _sub(entry, "updated", item["published_at"] or item["created_at"])
        _sub(entry, "published", item["published_at"] or item["created_at"])
        if item["unit"]:
            by = _sub(entry, "author")
            _sub(by, "name", item["unit"]["name"])
        _sub(entry, "category", term=item["kind"])
        if item["category"]:
            _sub(entry, "category", term=item["category"]["code"], label=item["category"]["name"])
        text = item["body"] + (f"\n\n{item['reply']}" if item["reply"] else "")
        _sub(entry, "content", text, type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
