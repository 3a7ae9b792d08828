"""Public credit pages: the query by name or code, and an entity's public page (public information only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import Response

from chengzhi.credit import access, objection_pages, service, staff_pages
from chengzhi.credit.record_pages import KIND_NAMES, SEVERITY_NAMES, names
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.web.templating import chrome, page_actor, render

router = APIRouter(include_in_schema=False)
router.include_router(staff_pages.router)  # first: /credit/staff before /credit/{uscc}
router.include_router(objection_pages.router)


@dataclass
class QueryPage:
    query: str = ""
    results: list[Any] = field(default_factory=list)


@dataclass
class EntityPage:
    entity: dict[str, Any]
    kinds: dict[str, str]
    severities: dict[str, str]
    officer: bool = False


@router.get("/credit")
def credit_query(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    query = (request.query_params.get("q") or "").strip()[:200]
    page = QueryPage(query=query, results=service.search(session, query) if query else [])
    return render(request, "credit/query.html", page, chrome(request, actor))


@router.get("/credit/{uscc}")
def credit_entity(uscc: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    entity = service.get_entity(session, uscc[:40])
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    page = EntityPage(
        entity=service.public_view(session, entity, today, frame.lang),
        kinds=names(frame.lang, KIND_NAMES),
        severities=names(frame.lang, SEVERITY_NAMES),
        officer=access.is_officer(actor),
    )
    return render(request, "credit/entity.html", page, frame)
