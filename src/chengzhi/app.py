"""The FastAPI application factory: mounts each domain's router, error handling, sessions, the scheduler."""

from __future__ import annotations

import gc
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chengzhi import __version__, generations, reactions
from chengzhi.admin.pages import router as admin_pages
from chengzhi.categories.api import router as categories_router
from chengzhi.config import Settings, get_settings
from chengzhi.credit.api import router as credit_router
from chengzhi.credit.pages import router as credit_pages
from chengzhi.db import get_sessionmaker
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message, negotiate_language
from chengzhi.identity.pages import router as identity_pages
from chengzhi.identity.reset_pages import router as reset_pages
from chengzhi.identity.sharing_api import router as sharing_api
from chengzhi.identity.sharing_pages import router as sharing_pages
from chengzhi.identity.space_pages import router as space_pages
from chengzhi.jobs.service import Scheduler
from chengzhi.knowledge.api import router as knowledge_router
from chengzhi.knowledge.intake_pages import router as knowledge_intake_pages
from chengzhi.knowledge.pages import router as knowledge_pages
from chengzhi.metrics.api import router as metrics_router
from chengzhi.metrics.pages import router as metrics_pages
from chengzhi.notify.api import router as notify_router
from chengzhi.notify.pages import router as notify_pages
from chengzhi.open311.api import router as open311_router
from chengzhi.opendata.api import UPLOAD_PATH
from chengzhi.opendata.api import downloads as opendata_downloads
from chengzhi.opendata.api import router as opendata_router
from chengzhi.opendata.ckan import router as ckan_router
from chengzhi.opendata.datajson import router as datajson_router
from chengzhi.opendata.dcat import router as dcat_router
from chengzhi.opendata.pages import UPLOAD_PAGE
from chengzhi.opendata.pages import router as opendata_pages
from chengzhi.org.account_api import router as account_router
from chengzhi.org.account_pages import router as account_pages
from chengzhi.org.api import router as org_router
from chengzhi.org.pages import router as org_pages
from chengzhi.org.passkey_pages import router as passkey_pages
from chengzhi.org.service import ANONYMOUS
from chengzhi.participate.api import router as participate_router
from chengzhi.participate.pages import router as participate_pages
from chengzhi.participate.topic_pages import router as topic_pages
from chengzhi.publish.api import router as publish_router
from chengzhi.publish.pages import router as publish_pages
from chengzhi.publish.staff_pages import router as publish_staff_pages
from chengzhi.requests.api import router as requests_router
from chengzhi.requests.contact_views_pages import router as contact_views_pages
from chengzhi.requests.intake_lane import IntakeLane
from chengzhi.requests.pages import router as requests_pages
from chengzhi.requests.photos_api import media_router as published_photos
from chengzhi.requests.service import illegal_to_message
from chengzhi.requests.staff_actions import router as staff_actions
from chengzhi.requests.staff_pages import router as staff_pages
from chengzhi.requests.track_pages import router as track_pages
from chengzhi.requests.workflow import IllegalTransition
from chengzhi.routing.dedup_api import router as duplicates_router
from chengzhi.security import logs as log_redaction
from chengzhi.security.headers import SecurityHeaders
from chengzhi.warning.alerts_api import router as warning_alerts_router
from chengzhi.warning.alerts_pages import router as warning_alert_pages
from chengzhi.warning.api import router as warning_router
from chengzhi.warning.pages import router as warning_pages
from chengzhi.warning.posts_api import router as warning_posts_router
from chengzhi.web.templating import chrome, not_found, page_language, render
from chengzhi.webhooks.api import router as webhooks_router
from chengzhi.webhooks.pages import router as webhooks_pages
from chengzhi.worker import intake as triage_intake
from chengzhi.worker.runner import Worker, freeze_heap

log = logging.getLogger("chengzhi")

STATIC_DIR = Path(__file__).parent / "web" / "static"
SWAGGER_UI = "swagger-ui-5.35.0"
SWAGGER_PAGE = f"""<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="/static/vendor/{SWAGGER_UI}/swagger-ui.css">
<link rel="shortcut icon" href="/static/vendor/{SWAGGER_UI}/favicon-32x32.png">
<title>Chengzhi 城治 API</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="/static/vendor/{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


def error_response(
    request: Request,
    status: int,
    code: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    settings: Settings = request.app.state.settings
    lang = negotiate_language(request, settings.default_language)
    body = {"error": {"code": code, "message": message(code, lang, params)}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    parts = []
    fields = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', '')}")
        fields.append({"field": location, "type": error.get("type"), "message": error.get("msg")})
    return "; ".join(parts)[:1000], fields


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _limit_text(max_bytes: int) -> str:
    return f"{max_bytes // (1024 * 1024)} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes // 1024} KB"


class BodySizeLimit:
    """Refuse bodies larger than the limit with 413: at once when Content-Length says so, else (a chunked body,
    or a Content-Length that lies) as soon as the bytes read pass the limit. `larger` gives some paths their own
    limit (the report form carries all its photos in one body)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            request = Request(scope)
            params: dict[str, object] = {"limit": _limit_text(limit)}
            response = (
                _error_page(request, 413, "body_too_large", params)
                if _wants_html(request)
                else error_response(request, 413, "body_too_large", params)
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises an HTTPException met while reading the body; on_http renders it.
                    raise StarletteHTTPException(413, detail=_limit_text(limit))
            return message

        await self.app(scope, counting_receive, send)


def _wants_html(request: Request) -> bool:
    """A person's browser (not an API client) on a page's address: errors come back as HTML pages."""
    if request.url.path.startswith(("/api/", "/open311/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not an API client): it gets an HTML error page."""
    return request.method in ("GET", "HEAD") and _wants_html(request)


def _error_page(
    request: Request, status: int, code: str, params: dict[str, object] | None = None
) -> Response:
    """An error a browser caused, as a page in its language with a way back (never a stack trace)."""

    lang = page_language(request)
    page = ErrorPage(status=status, message=message(code, lang, params or {}))
    return render(request, "error.html", page, chrome(request, ANONYMOUS), status_code=status)


@dataclass(frozen=True)
class ErrorPage:
    status: int
    message: str


def _orig(exc: DBAPIError) -> str:
    """The driver's error class and first line, without statement or parameters."""
    return f"{type(exc.orig).__name__}: {str(exc.orig).splitlines()[0] if str(exc.orig) else ''}"[:200]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    generations.configure(settings.cache_check_seconds)
    reactions.install()
    log_redaction.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if settings.scheduler_enabled:
            scheduler = Scheduler(get_sessionmaker(settings.database_url), settings)
            scheduler.start()
        # The triage worker, in the process that holds its lease (production may run `chengzhi worker` instead).
        worker = None
        if settings.triage_worker_in_app:
            worker = Worker(
                get_sessionmaker(settings.database_url),
                settings,
                triage_intake.process,
                lease=True,
                warm=triage_intake.warm,
            )
            worker.start()
        if settings.gc_freeze:
            freeze_heap()  # start-up's objects stay for the process's life (the worker freezes again once warm)
        yield
        if settings.gc_freeze:
            gc.unfreeze()
        if worker is not None:
            worker.stop()
        if scheduler is not None:
            scheduler.stop()

    app = FastAPI(
        title="Chengzhi 城治",
        version=__version__,
        description="City governance platform: requests from intake to rating (接诉即办).",
        lifespan=lifespan,
        # /docs is served below from vendored Swagger UI files: nothing is loaded from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    if settings.intake_lane:
        # Innermost: `POST /api/v1/requests` is answered here, past the middlewares below but before FastAPI's
        # routing (requests/intake_lane.py).
        app.add_middleware(IntakeLane)
    # The body limit sits inside the session middleware, so that its error pages know the visitor's session.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_photo_bytes + 256 * 1024,
        larger={
            "/submit": settings.max_photo_bytes * settings.max_photos_per_request + 1024 * 1024,
            UPLOAD_PATH: settings.opendata_max_upload_bytes,
            UPLOAD_PAGE: settings.opendata_max_upload_bytes,
        },
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="chengzhi_session",
        same_site="lax",
        https_only=settings.session_cookie_secure,
        max_age=12 * 3600,
    )
    # Outermost: every response, error pages and 413s included, carries the browser-side protections.
    app.add_middleware(
        SecurityHeaders, tile_url=settings.map_tile_url, hsts=settings.environment == "production"
    )

    @app.exception_handler(ChengzhiError)
    async def on_chengzhi_error(request: Request, exc: ChengzhiError) -> JSONResponse:
        headers = {"Retry-After": str(exc.params.get("seconds", 60))} if exc.status_code == 429 else None
        if exc.status_code == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(request, exc.status_code, exc.code, exc.params, headers)

    @app.exception_handler(IllegalTransition)
    async def on_illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        return error_response(request, 409, exc.code, illegal_to_message(exc))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if malformed is not None:
            loc = malformed.get("loc") or ()
            position = loc[-1] if loc and isinstance(loc[-1], int) else 0
            details = str((malformed.get("ctx") or {}).get("error", ""))[:200]
            return error_response(request, 400, "json_invalid", {"position": position, "details": details})
        # A body sent as something other than JSON (a form, plain text, no Content-Type) reaches validation as
        # raw bytes: that is a malformed request, not a field to correct.
        raw_body = any(
            tuple(e.get("loc") or ()) == ("body",) and isinstance(e.get("input"), bytes | bytearray)
            for e in errors
        )
        if raw_body and not _is_json(request):
            return error_response(request, 400, "json_expected")
        details, fields = _validation_details(exc)
        response = error_response(request, 422, "validation_failed", {"details": details})
        body = json.loads(bytes(response.body))
        body["error"]["fields"] = fields
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and _wants_page(request):
            return not_found(
                request, chrome(request, ANONYMOUS), message("not_found", page_language(request))
            )
        if exc.status_code in (405, 413) and _wants_html(request):
            code = "method_not_allowed" if exc.status_code == 405 else "body_too_large"
            return _error_page(request, exc.status_code, code, {"limit": str(exc.detail)})
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "not_authenticated",
            403: "forbidden",
            413: "body_too_large",
        }
        code = codes.get(exc.status_code, "bad_request")
        headers = dict(exc.headers) if exc.headers else None
        params = {"details": str(exc.detail), "limit": str(exc.detail)}
        return error_response(request, exc.status_code, code, params, headers)

    @app.exception_handler(DataError)
    async def on_data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (PostgreSQL: a NUL character in text, an
        # integer out of range). The client can fix it; the parameters stay out of the log (personal data).
        log.warning(
            "value refused by the database on %s %s: %s", request.method, request.url.path, _orig(exc)
        )
        return error_response(request, 422, "value_rejected")

    @app.exception_handler(IntegrityError)
    async def on_integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity conflict on %s %s", request.method, request.url.path)
        return error_response(request, 409, "conflict", {"details": "concurrent change; retry"})

    @app.exception_handler(UnicodeEncodeError)
    async def on_unencodable(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # Text with lone surrogates ("\ud800" is valid JSON) cannot be encoded as UTF-8 for the database.
        log.warning("unencodable text on %s %s", request.method, request.url.path)
        return error_response(request, 422, "value_rejected")

    @app.exception_handler(OperationalError)
    async def on_operational(request: Request, exc: OperationalError) -> JSONResponse:
        ref = secrets.token_hex(4)
        log.error("database unavailable (ref %s): %s", ref, _orig(exc))
        return error_response(request, 503, "internal_error", {"ref": ref}, {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        ref = secrets.token_hex(4)
        log.exception("unhandled error (ref %s) on %s %s", ref, request.method, request.url.path)
        return error_response(request, 500, "internal_error", {"ref": ref})

    @app.get("/api/v1/health", tags=["meta"], summary="Liveness and database check")
    def health() -> dict[str, str]:

        with get_sessionmaker(settings.database_url)() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # FastAPI's own page starts Swagger UI with an inline script, which the CSP refuses: ours loads a file.
        return HTMLResponse(SWAGGER_PAGE)

    app.include_router(org_router)
    app.include_router(account_router)
    app.include_router(categories_router)
    app.include_router(requests_router)
    app.include_router(notify_router)
    app.include_router(notify_pages)
    app.include_router(webhooks_router)
    app.include_router(webhooks_pages)
    app.include_router(publish_router)
    app.include_router(participate_router)
    app.include_router(publish_pages)
    app.include_router(publish_staff_pages)
    app.include_router(duplicates_router)
    app.include_router(metrics_router)
    app.include_router(credit_router)
    app.include_router(credit_pages)
    app.include_router(knowledge_router)
    app.include_router(knowledge_pages)
    app.include_router(knowledge_intake_pages)
    app.include_router(warning_router)
    app.include_router(warning_alerts_router)
    app.include_router(warning_posts_router)
    app.include_router(metrics_pages)
    app.include_router(warning_alert_pages)  # before warning_pages: /dashboard/hot/{issue_id} would take them
    app.include_router(warning_pages)
    app.include_router(open311_router)
    app.include_router(org_pages)
    app.include_router(account_pages)
    app.include_router(passkey_pages)
    app.include_router(identity_pages)
    app.include_router(space_pages)
    app.include_router(sharing_pages)
    app.include_router(sharing_api)
    app.include_router(reset_pages)
    app.include_router(requests_pages)
    app.include_router(participate_pages)
    app.include_router(topic_pages)
    app.include_router(published_photos)
    app.include_router(track_pages)
    app.include_router(staff_pages)
    app.include_router(contact_views_pages)
    app.include_router(admin_pages)
    app.include_router(staff_actions)
    app.include_router(opendata_router)
    app.include_router(opendata_downloads)
    app.include_router(ckan_router)
    app.include_router(dcat_router)
    app.include_router(datajson_router)
    app.include_router(opendata_pages)
    return app
