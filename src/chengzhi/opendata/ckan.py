"""CKAN's Action API, read side, at `/api/3/action/{name}` and `/api/action/{name}` (CKAN serves both; `ckanapi`
calls the second), by GET with query parameters or POST with a JSON body, answered in CKAN's envelope:
`{"help", "success": true, "result"}`, errors `{"success": false, "error": {"__type", "message"}}` with CKAN's
status codes. API tokens come in the `Authorization` header (bare, as CKAN takes them, or `Bearer ...`) or in
`X-CKAN-API-Key`."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from chengzhi import __version__
from chengzhi.db import MAX_ID, get_engine
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError, NotAuthenticated
from chengzhi.i18n import message, negotiate_language
from chengzhi.opendata import datastore, dicts, docs, service
from chengzhi.opendata.models import Dataset, DatasetTag, Resource
from chengzhi.opendata.search import (
    SearchParams,
    SearchQueryError,
    facet_fields,
    json_text,
    package_search,
    visible,
)
from chengzhi.opendata.vocab import THEMES
from chengzhi.org.queries import find_unit, unit_id_of_code, units_by_id, user_by_id
from chengzhi.org.service import ANONYMOUS, Actor, actor_for, actor_for_token

router = APIRouter(tags=["ckan"])
CKAN_VERSION = "2.10.4"


class ActionError(Exception):
    def __init__(self, status: int, kind: str, text: str, **extra: Any) -> None:
        super().__init__(text)
        self.status, self.kind, self.text, self.extra = status, kind, text, extra


@dataclass
class Call:
    session: Session
    actor: Actor
    params: dict[str, Any]
    base: str
    lang: str
    today: dt.date  # the city's date, for the usage counts

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name, default)
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes", "on")

    def number(self, name: str, default: int, maximum: int | None = None) -> int:
        value = self.params.get(name, default)
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise ActionError(
                409, "Validation Error", f"{name}: Invalid integer", **{name: ["Invalid integer"]}
            ) from exc
        if number < 0:
            raise ActionError(
                409,
                "Validation Error",
                f"{name}: Must be a natural number",
                **{name: ["Must be a natural number"]},
            )
        return min(number, maximum if maximum is not None else MAX_ID)

    def required(self, name: str) -> str:
        value = self.params.get(name)
        if value in (None, ""):
            raise ActionError(409, "Validation Error", f"{name}: Missing value", **{name: ["Missing value"]})
        return str(value)


def _actor(request: Request, session: Session) -> Actor:
    token = request.headers.get("x-ckan-api-key") or request.headers.get("authorization", "")
    scheme, _, rest = token.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else token.strip()
    if token:
        try:
            return actor_for_token(session, token)
        except NotAuthenticated as exc:
            raise ActionError(403, "Authorization Error", "Authorization Error: invalid token") from exc
    # Pages' users reading through the API from their browser (every action here only reads).
    user_id = request.session.get("user_id") if "session" in request.scope else None
    user = user_by_id(session, int(user_id)) if user_id is not None else None
    return actor_for(user) if user is not None and user.active else ANONYMOUS


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
                params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
            else:
                try:
                    parsed = json.loads(body)
                except ValueError as exc:
                    raise ActionError(
                        400, "Bad Request", "Bad request - JSON Error: could not read the body"
                    ) from exc
                if not isinstance(parsed, dict):
                    raise ActionError(
                        400, "Bad Request", "Bad request - JSON Error: the body is not an object"
                    )
                params.update(parsed)
    return params


def _units_for(call: Call, datasets: list[Dataset]) -> dict[int, Any]:
    return units_by_id(call.session, dicts.unit_ids(datasets))


def _show(call: Call, ds: Dataset) -> dict[str, Any]:
    return dicts.package_dict(ds, _units_for(call, [ds]), call.base, call.lang)


def _dataset(call: Call, ref: str) -> Dataset:
    ds = service.find_dataset(call.session, ref)
    if ds is None or not service.may_see(call.session, call.actor, ds, withdrawn_ok=True):
        raise ActionError(404, "Not Found Error", "Not found")
    return ds


# ---------------------------------------------------------------- actions


def status_show(call: Call) -> dict[str, Any]:
    return {
        "site_title": "Chengzhi 城治 open data",
        "site_description": "",
        "site_url": call.base,
        "ckan_version": CKAN_VERSION,
        "chengzhi_version": __version__,
        "error_emails_to": None,
        "locale_default": "zh_Hans_CN",
        "extensions": ["datastore", "dcat"],
    }


def package_list(call: Call) -> list[str]:
    query = (
        select(Dataset.name)
        .where(visible(call.actor, include_private=False, include_withdrawn=False))
        .order_by(Dataset.name)
        .offset(call.number("offset", 0))
    )
    if call.get("limit") is not None:
        query = query.limit(call.number("limit", 0))
    return list(call.session.scalars(query))


def package_show(call: Call) -> dict[str, Any]:
    ds = _dataset(call, call.required("id"))
    return _show(call, ds)


def current_package_list_with_resources(call: Call) -> docs.RawJSON | docs.Streamed:
    query = (
        select(Dataset.id)
        .where(visible(call.actor, include_private=False, include_withdrawn=False))
        .order_by(Dataset.modified_at.desc(), Dataset.id)
        .offset(call.number("offset", 0))
        .limit(call.number("limit", 100, 1000))
    )
    return _package_list(call, list(call.session.scalars(query)))


def _package_list(call: Call, ids: list[str]) -> docs.RawJSON | docs.Streamed:
    """The package dicts of these datasets: joined now, or written while the response goes out when many."""
    if len(ids) > docs.CHUNK:
        return docs.Streamed(ids, call.base, call.lang)
    return docs.join(call.session, ids, call.base, call.lang)


def package_search_action(call: Call) -> dict[str, Any]:
    params = SearchParams(
        q=str(call.get("q") or ""),
        fq=str(call.get("fq") or ""),
        sort=str(call.get("sort") or ""),
        rows=call.number("rows", 10),
        start=call.number("start", 0),
        facet_fields=facet_fields(call.get("facet.field")),
        facet_limit=call.number("facet.limit", 50, 1000),
        include_private=call.flag("include_private"),
        include_deleted=call.flag("include_deleted"),
        load=False,
    )
    result = package_search(call.session, call.actor, params)
    organisations = result.facets.get("organization", {})
    units = units_by_id(call.session, {int(k) for k in organisations if k.isdigit()})
    return {
        "count": result.count,
        "sort": params.sort or "score desc, metadata_modified desc",
        "results": _package_list(call, result.ids),
        "facets": dicts.plain_facets(result.facets, units),
        "search_facets": dicts.search_facets(result.facets, units, call.lang),
    }


def _organisation_counts(call: Call) -> dict[int, int]:
    rows = call.session.execute(
        select(Dataset.unit_id, func.count())
        .where(visible(call.actor, include_private=False, include_withdrawn=False))
        .group_by(Dataset.unit_id)
    ).all()
    return {int(unit_id): int(n) for unit_id, n in rows}


def organization_list(call: Call) -> list[Any]:
    """The units that publish datasets (CKAN lists every organisation; a city has hundreds of units that do not)."""
    counts = _organisation_counts(call)
    units = sorted(units_by_id(call.session, counts).values(), key=lambda u: u.code)
    units = units[call.number("offset", 0) :][: call.number("limit", 1000, 1000)]
    if call.flag("all_fields"):
        return [dicts.organization_dict(u, counts.get(u.id, 0), call.lang) for u in units]
    return [u.code for u in units]


def organization_show(call: Call) -> dict[str, Any]:
    ref = call.required("id")
    unit_id = int(ref) if ref.isdigit() else unit_id_of_code(call.session, ref)
    unit = find_unit(call.session, unit_id) if unit_id is not None else None
    if unit is None:
        raise ActionError(404, "Not Found Error", "Not found")
    counts = _organisation_counts(call)
    out = dicts.organization_dict(unit, counts.get(unit.id, 0), call.lang)
    if call.flag("include_datasets"):
        ids = list(
            call.session.scalars(
                select(Dataset.id)
                .where(
                    visible(call.actor, include_private=False, include_withdrawn=False),
                    Dataset.unit_id == unit.id,
                )
                .order_by(Dataset.modified_at.desc(), Dataset.id)
                .limit(1000)
            )
        )
        out["packages"] = docs.join(call.session, ids, call.base, call.lang)
    out["users"] = []
    out["extras"] = []
    out["groups"] = []
    out["tags"] = []
    return out


def _group_count(call: Call, code: str) -> int:
    return int(
        call.session.scalar(
            select(func.count())
            .select_from(Dataset)
            .where(
                visible(call.actor, include_private=False, include_withdrawn=False),
                json_text(Dataset.themes).like(f'%"{code}"%'),
            )
        )
        or 0
    )


def group_list(call: Call) -> list[Any]:
    codes = sorted(THEMES)
    if call.flag("all_fields"):
        return [dicts.group_dict(c, _group_count(call, c), call.lang) for c in codes]
    return codes


def group_show(call: Call) -> dict[str, Any]:
    code = call.required("id")
    if code not in THEMES:
        raise ActionError(404, "Not Found Error", "Not found")
    out = dicts.group_dict(code, _group_count(call, code), call.lang)
    out.update({"users": [], "extras": [], "groups": [], "tags": []})
    return out


def tag_list(call: Call) -> list[Any]:
    query = (
        select(DatasetTag.tag)
        .join(Dataset, Dataset.id == DatasetTag.dataset_id)
        .where(visible(call.actor, include_private=False, include_withdrawn=False))
        .distinct()
        .order_by(DatasetTag.tag)
    )
    if call.get("query"):
        query = query.where(DatasetTag.tag.contains(str(call.get("query")), autoescape=True))
    tags = list(call.session.scalars(query))
    if call.flag("all_fields"):
        return [{"id": t, "name": t, "display_name": t, "vocabulary_id": None} for t in tags]
    return tags


def _resource(call: Call, *, data: bool) -> tuple[Resource, Dataset]:
    ref = call.required("resource_id" if data else "id")
    res = call.session.get(Resource, ref)
    if res is None:
        raise ActionError(404, "Not Found Error", "Not found: Resource was not found.")
    ds = _dataset(call, res.dataset_id)
    if data and not service.may_read_data(call.session, call.actor, ds):
        raise ActionError(
            403, "Authorization Error", "Authorization Error: an approved application is required"
        )
    return res, ds


def resource_show(call: Call) -> dict[str, Any]:
    res, _ = _resource(call, data=False)
    return dicts.resource_dict(call.base, res)


def datastore_search(call: Call) -> dict[str, Any]:
    res, ds = _resource(call, data=True)
    if not res.datastore_active:
        raise ActionError(404, "Not Found Error", "Not found: Resource has no datastore table.")
    service.count_use(call.session, ds.id, download=False, day=call.today)
    out = datastore.search(
        call.session.connection(),
        res,
        filters=call.get("filters"),
        q=call.get("q"),
        fields=call.get("fields"),
        sort=call.get("sort"),
        limit=call.number("limit", 100),
        offset=call.number("offset", 0),
        include_total=call.flag("include_total", True),
    )
    call.session.commit()
    return out


ACTIONS: dict[str, Callable[[Call], Any]] = {
    "status_show": status_show,
    "package_list": package_list,
    "package_show": package_show,
    "package_search": package_search_action,
    "current_package_list_with_resources": current_package_list_with_resources,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "group_list": group_list,
    "group_show": group_show,
    "tag_list": tag_list,
    "resource_show": resource_show,
    "datastore_search": datastore_search,
}


def _dumps(body: dict[str, Any], stream_mark: str = "") -> str:
    """JSON of the envelope; ready JSON texts (docs.RawJSON) in the result, or one level down, go in as they are.
    A list to stream (docs.Streamed) is left as a mark: `_streamed` splits the text there."""
    raws: list[str] = []
    mark = secrets.token_hex(8)

    def swap(value: Any) -> Any:
        if isinstance(value, docs.RawJSON):
            raws.append(value)
            return f"\x03{mark}{len(raws) - 1}\x03"
        if isinstance(value, docs.Streamed):
            return stream_mark
        return value

    result = body.get("result")
    if isinstance(result, dict):
        body = {**body, "result": {k: swap(v) for k, v in result.items()}}
    elif result is not None:
        body = {**body, "result": swap(result)}
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if not raws:
        return text
    pattern = re.compile(r'"\\u0003' + mark + r'(\d+)\\u0003"')
    return pattern.sub(lambda m: raws[int(m.group(1))], text)


def _streamed(request: Request, text: str, mark: str, listed: docs.Streamed) -> Iterator[str]:
    head, _, tail = text.partition(json.dumps(mark))
    yield head
    yield from docs.stream(get_engine(request.app.state.settings.database_url), listed)
    yield tail


def _envelope(request: Request, name: str, status: int, body: dict[str, Any]) -> Response:
    base = str(request.base_url).rstrip("/")
    mark = f"\x04{secrets.token_hex(8)}\x04"
    text = _dumps({"help": f"{base}/api/3/action/help_show?name={name}", **body}, mark)
    result = body.get("result")
    values = result.values() if isinstance(result, dict) else [result]
    listed = next((v for v in values if isinstance(v, docs.Streamed)), None)
    if listed is not None:
        return StreamingResponse(_streamed(request, text, mark, listed), media_type="application/json")
    return Response(text, status_code=status, media_type="application/json")


def _call(
    action: Callable[[Call], Any],
    request: Request,
    session: Session,
    params: dict[str, Any],
    base: str,
    lang: str,
) -> Any:
    today = service.city_day(request.app.state.settings)
    return action(Call(session, _actor(request, session), params, base, lang, today))


async def _run(name: str, request: Request, session: Session) -> Response:
    base = str(request.base_url).rstrip("/")
    action = ACTIONS.get(name)
    if action is None:
        body = {
            "success": False,
            "error": {"__type": "Bad Request", "message": f"Bad request - Action name not known: {name}"},
        }
        return _envelope(request, name, 400, body)
    lang = negotiate_language(request, request.app.state.settings.default_language)
    try:
        params = await _params(request)
        result = await run_in_threadpool(_call, action, request, session, params, base, lang)
    except ActionError as exc:
        error = {"__type": exc.kind, "message": exc.text, **exc.extra}
        return _envelope(request, name, exc.status, {"success": False, "error": error})
    except DataError:
        # A value the database refused (a NUL in text, say): the client's to fix.
        error = {
            "__type": "Validation Error",
            "message": "Validation Error: a value was refused by the database",
        }
        return _envelope(request, name, 409, {"success": False, "error": error})
    except SearchQueryError as exc:
        error = {"__type": "Search Query Error", "message": f"Search Query Error: {exc}"}
        return _envelope(request, name, 409, {"success": False, "error": error})
    except ChengzhiError as exc:
        text = message(exc.code, lang, exc.params)
        kind = {403: "Authorization Error", 404: "Not Found Error"}.get(exc.status_code, "Validation Error")
        status = exc.status_code if exc.status_code in (403, 404) else 409
        return _envelope(
            request, name, status, {"success": False, "error": {"__type": kind, "message": text}}
        )
    return _envelope(request, name, 200, {"success": True, "result": result})


@router.get("/api/3/action/{name}", summary="CKAN Action API (version 3), parameters in the query")
async def action_v3_get(name: str, request: Request, session: SessionDep) -> Response:
    return await _run(name, request, session)


@router.post("/api/3/action/{name}", summary="CKAN Action API (version 3), parameters in a JSON body")
async def action_v3_post(name: str, request: Request, session: SessionDep) -> Response:
    return await _run(name, request, session)


@router.get("/api/action/{name}", summary="CKAN Action API, parameters in the query")
async def action_get(name: str, request: Request, session: SessionDep) -> Response:
    return await _run(name, request, session)


@router.post("/api/action/{name}", summary="CKAN Action API (what ckanapi calls), parameters in a JSON body")
async def action_post(name: str, request: Request, session: SessionDep) -> Response:
    return await _run(name, request, session)
