"""The Open311 GeoReport v2 routes (`/open311/v2/...`), in XML and JSON, with the specification's errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from starlette.routing import Match

from chengzhi import idempotency
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.deps import SessionDep, UserDep
from chengzhi.errors import ChengzhiError, Forbidden
from chengzhi.i18n import N_, Language, gettext, message, negotiate_language
from chengzhi.open311 import accounts, clients_api, delivery, parameters, request_updates, server
from chengzhi.open311 import keys as keys_service
from chengzhi.open311.formats import FORMATS, Open311Error, error_response, render
from chengzhi.open311.models import Open311Key
from chengzhi.ratelimit import check_rate
from chengzhi.requests import service as svc
from chengzhi.requests.workflow import IllegalTransition

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-25T00:00:00Z"

router = APIRouter(tags=["open311"])
router.include_router(clients_api.router)


class FormFields:
    """The POST's fields: form-encoded body, and the query string (where some clients put api_key)."""

    def __init__(self, items: list[tuple[str, str]], problem: str | None = None) -> None:
        self.items = items
        self.problem = problem
        self.fields: dict[str, str] = {}
        for name, value in items:
            self.fields.setdefault(name, value)


async def read_form(request: Request) -> FormFields:
    items = [(k, v) for k, v in request.query_params.multi_items()]
    try:
        form = await request.form(max_files=0, max_fields=2000)
    except Exception as exc:  # malformed multipart or too many fields: a 400 in the requested format
        return FormFields(items, f"the form could not be read: {str(exc)[:200]}")
    body = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return FormFields(body + items)


FormDep = Annotated[FormFields, Depends(read_form)]


def _settings(http: Request) -> Settings:
    settings: Settings = http.app.state.settings
    return settings


def _lang(http: Request) -> Language:
    return negotiate_language(http, _settings(http).default_language)


def _base(http: Request) -> str:
    return str(http.base_url)


def _guard(fmt: str, http: Request, session: Session, work: Callable[[Language], Response]) -> Response:
    """Run `work`; every error a client can cause becomes the spec's error list in the requested format."""
    lang = _lang(http)
    if fmt not in FORMATS:
        text = gettext(lang, N_("formats: json, xml"))
        return error_response("xml", Open311Error(404, text))
    try:
        return work(lang)
    except Open311Error as exc:
        session.rollback()
        return error_response(fmt, exc)
    except ChengzhiError as exc:
        session.rollback()
        return error_response(fmt, parameters.error_of(exc, lang))
    except IllegalTransition as exc:
        session.rollback()
        return error_response(fmt, Open311Error(400, message(exc.code, lang, svc.illegal_to_message(exc))))
    except (DataError, UnicodeEncodeError):
        session.rollback()
        log.warning("open311: a value refused by the database on %s %s", http.method, http.url.path)
        return error_response(fmt, Open311Error(400, message("value_rejected", lang)))
    except IntegrityError:
        session.rollback()
        return error_response(fmt, Open311Error(400, message("conflict", lang, {"details": "retry"})))


def _key(session: Session, settings: Settings, given: str | None, lang: Language) -> Open311Key:
    key = keys_service.key_for(session, given)
    if key is None:
        text = gettext(lang, N_("a valid api_key is required (ask the city's administrator for one)"))
        raise Open311Error(403, text)
    check_rate(settings.rate_limit_storage, key.rate, "open311", str(key.id))
    key.last_used_at = utcnow()
    return key


def _tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


@router.get(PREFIX + "/discovery.{fmt}", summary="Open311 discovery")
def discovery(fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        settings = _settings(http)
        body = {
            "changeset": CHANGESET,
            "contact": settings.open311_contact,
            "key_service": settings.open311_contact,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": _base(http) + PREFIX.lstrip("/"),
                    "changeset": CHANGESET,
                    "type": "production" if settings.environment == "production" else "test",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }
        return render(fmt, "discovery", None, body)

    return _guard(fmt, http, session, work)


@router.get(PREFIX + "/services.{fmt}", summary="Open311 service list (the categories)")
def services(fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        parameters.check_jurisdiction(
            session, _settings(http), http.query_params.get("jurisdiction_id"), lang
        )
        return render(fmt, "services", "service", server.services(session, lang))

    return _guard(fmt, http, session, work)


@router.get(
    PREFIX + "/services/{service_code}.{fmt}", summary="Open311 service definition (a category's questions)"
)
def service_definition(service_code: str, fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        parameters.check_jurisdiction(
            session, _settings(http), http.query_params.get("jurisdiction_id"), lang
        )
        return render(fmt, "service_definition", None, server.service_definition(session, service_code, lang))

    return _guard(fmt, http, session, work)


def _replay(fmt: str, saved: tuple[int, dict[str, Any]]) -> Response:
    return render(
        fmt, "service_requests", "request", saved[1]["items"], saved[0], {"Idempotent-Replayed": "true"}
    )


@router.post(PREFIX + "/requests.{fmt}", summary="Open311 request submission (api_key)")
def post_request(fmt: str, http: Request, session: SessionDep, form: FormDep) -> Response:
    """Form-encoded; `attribute[CODE]` and `attribute[CODE][]` answer the service's questions. An
    `Idempotency-Key` header makes a retried POST return the first answer instead of entering the request twice."""

    def work(lang: Language) -> Response:
        settings = _settings(http)
        if form.problem:
            raise Open311Error(400, form.problem)
        key = _key(session, settings, form.fields.get("api_key"), lang)
        parameters.check_jurisdiction(session, settings, form.fields.get("jurisdiction_id"), lang)
        slot = idempotency.slot_for(
            http.headers.get("idempotency-key"),
            f"open311:{key.id}",
            "POST",
            f"{PREFIX}/requests",  # the same in either format: a retry may ask for the other one
            sorted(p for p in form.items if p[0] != "api_key"),
        )
        saved = idempotency.replay(session, slot)
        if saved is not None:
            return _replay(fmt, saved)
        data, category = server.submission_from_form(session, form.fields, form.items, lang)
        account_id = accounts.parse_account_id(form.fields.get("account_id"), lang)
        items = server.submit(session, settings, data, category, key, lang, account_id)
        idempotency.save(session, slot, 201, {"items": items})
        raced = idempotency.commit_or_replay(session, slot)
        if raced is not None:
            return _replay(fmt, raced)
        return render(fmt, "service_requests", "request", items, 201)

    return _guard(fmt, http, session, work)


@router.get(
    PREFIX + "/tokens/{token}.{fmt}", summary="Open311 token: the request id behind a batch submission"
)
def get_token(token: str, fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        parameters.check_jurisdiction(
            session, _settings(http), http.query_params.get("jurisdiction_id"), lang
        )
        return render(fmt, "service_requests", "request", server.token_items(session, token, lang))

    return _guard(fmt, http, session, work)


@router.get(PREFIX + "/requests.{fmt}", summary="Open311 requests (filters, 90-day window, pages)")
def get_requests(fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        settings = _settings(http)
        params = dict(http.query_params)
        parameters.check_jurisdiction(session, settings, params.get("jurisdiction_id"), lang)
        items = server.query_requests(session, params, lang, _tz(settings), _base(http), utcnow())
        return render(fmt, "service_requests", "request", items)

    return _guard(fmt, http, session, work)


@router.get(PREFIX + "/requests/{service_request_id}.{fmt}", summary="Open311 one request (a list of one)")
def get_one_request(service_request_id: str, fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        settings = _settings(http)
        params = dict(http.query_params)
        parameters.check_jurisdiction(session, settings, params.get("jurisdiction_id"), lang)
        items = server.one_request(session, service_request_id, params, lang, _tz(settings), _base(http))
        return render(fmt, "service_requests", "request", items)

    return _guard(fmt, http, session, work)


@router.get(
    PREFIX + "/servicerequestupdates.{fmt}", summary="FixMyStreet: status changes in a date range (api_key)"
)
def get_updates(fmt: str, http: Request, session: SessionDep) -> Response:
    def work(lang: Language) -> Response:
        settings = _settings(http)
        params = dict(http.query_params)
        key = _key(session, settings, params.get("api_key"), lang)
        parameters.check_jurisdiction(session, settings, params.get("jurisdiction_id"), lang)
        items = request_updates.updates(session, params, lang, _tz(settings), utcnow(), key_unit=key.unit_id)
        return render(fmt, "service_request_updates", "request_update", items)

    return _guard(fmt, http, session, work)


@router.post(
    PREFIX + "/servicerequestupdates.{fmt}", summary="FixMyStreet: an outside system's update (api_key)"
)
def post_update(fmt: str, http: Request, session: SessionDep, form: FormDep) -> Response:
    def work(lang: Language) -> Response:
        settings = _settings(http)
        if form.problem:
            raise Open311Error(400, form.problem)
        key = _key(session, settings, form.fields.get("api_key"), lang)
        parameters.check_jurisdiction(session, settings, form.fields.get("jurisdiction_id"), lang)
        items = request_updates.push_update(session, settings, key, form.fields, lang)
        session.commit()
        return render(fmt, "service_request_updates", "request_update", items)

    return _guard(fmt, http, session, work)


@router.get(
    "/api/v1/requests/{ref}/deliveries",
    summary="Deliveries of a request to units' Open311 systems (staff)",
    tags=["requests"],
)
def request_deliveries(ref: str, session: SessionDep, actor: UserDep) -> list[dict[str, Any]]:
    """State, attempts, next try and last error of each delivery: what the dispatcher needs to see."""
    if not actor.is_staff:
        raise Forbidden("forbidden_role", roles="dispatcher")
    request = svc.get_request(session, actor, ref)
    return delivery.deliveries_of(session, request)


@router.api_route(
    PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
def unknown(rest: str, http: Request, session: SessionDep) -> Response:
    """Anything else under /open311/v2: the spec's error list (404 for no such resource, 400 for a method the
    resource does not take), never the platform's JSON envelope."""
    fmt = rest.rsplit(".", 1)[-1] if "." in rest else "xml"
    # A resource of ours asked with a method it does not take (POST services.json, DELETE requests.json).
    known = any(
        route.matches(http.scope)[0] is not Match.NONE
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint is not unknown
    )

    def work(lang: Language) -> Response:
        if known:
            text = gettext(lang, N_("%(method)s is not accepted here"), method=http.method)
            raise Open311Error(400, text)
        text = gettext(lang, N_("no Open311 resource at %(path)s"), path=repr(rest))
        raise Open311Error(404, text)

    return _guard(fmt if fmt in FORMATS else "xml", http, session, work)
