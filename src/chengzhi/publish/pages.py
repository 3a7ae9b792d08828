"""Public pages of the publishing point: the notices page and the Atom feeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from chengzhi.db import utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.i18n import N_
from chengzhi.publish import feeds, service
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import chrome, not_found, page_actor, page_language, render

router = APIRouter(include_in_schema=False)


@dataclass
class NoticesPage:
    items: list[dict[str, Any]] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    feed_url: str = "/feeds/publications.atom"


def _filters(request: Request) -> service.Filters:
    def code(name: str) -> str | None:
        value = (request.query_params.get(name) or "").strip()[:40]
        return value or None

    raw = (request.query_params.get("hot_issue") or "").strip()
    hot = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 10 else None
    return service.Filters(unit=code("unit"), category=code("category"), area=code("area"), hot_issue=hot)


def _query(filters: service.Filters) -> str:
    pairs = [
        f"{k}={v}"
        for k, v in (
            ("unit", filters.unit),
            ("category", filters.category),
            ("area", filters.area),
            ("hot_issue", str(filters.hot_issue) if filters.hot_issue else None),
        )
        if v
    ]
    return ("?" + "&".join(pairs)) if pairs else ""


@router.get("/notices")
def notices(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    filters = _filters(request)
    items = service.described(session, service.published(session, filters, limit=50), frame.lang)
    shown = {k: v for k, v in vars(filters).items() if v}
    page = NoticesPage(items=items, filters=shown, feed_url="/feeds/publications.atom" + _query(filters))
    return render(request, "notices.html", page, frame)


@router.get("/notices/{publication_id}")
def notice(publication_id: int, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    found = service.published_one(session, publication_id) if 0 < publication_id < 2**31 else None
    if found is None:
        return not_found(
            request, frame, gettext(frame.lang, N_("This notice does not exist or is not published."))
        )
    page = NoticesPage(items=service.described(session, [found], frame.lang))
    return render(request, "notices.html", page, frame)


@router.get("/feeds/publications.atom")
def publications_feed(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    lang = page_language(request)
    filters = _filters(request)
    items = service.described(session, service.published(session, filters, limit=50), lang)
    site = settings.public_url.rstrip("/")
    title = gettext(lang, N_("City notices and replies"))
    hot = f"#{filters.hot_issue}" if filters.hot_issue else None
    scope = ", ".join(v for v in (filters.unit, filters.category, filters.area, hot) if v)
    document = feeds.atom(
        items,
        title=f"{title} ({scope})" if scope else title,
        feed_url=f"{site}/feeds/publications.atom{_query(filters)}",
        site_url=site,
        lang=lang,
        now=utcnow(),
    )
    return Response(document, media_type="application/atom+xml; charset=utf-8")
