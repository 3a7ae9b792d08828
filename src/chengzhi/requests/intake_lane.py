"""`POST /api/v1/requests` in front of FastAPI's routing: the busiest call of the platform, answered without the
router's matching, dependency solving and body handling (41 % of a submission's Python calls).

The lane is the innermost middleware (inside the security headers, the session and the body limit), and it runs
the route's own code (`requests.api._submit`: authentication, rate limit, idempotency, intake, the 201). What it
takes over is only the plumbing before it: it reads the body, parses JSON and validates it with the route's
schema exactly as FastAPI does. Anything unusual (another content type, malformed JSON, a body the schema refuses,
an empty body) goes to FastAPI's route with the same bytes, before any effect, so that every error answer is the
route's own; errors raised by the route's code go to the application's exception handlers, as they would from
the route. tests/test_intake_lane.py sends the same calls both ways and compares the answers.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chengzhi.config import Settings
from chengzhi.i18n import negotiate_language
from chengzhi.requests import api, schemas

PATH = "/api/v1/requests"


def _json_content(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower() == b"application/json"
    return False


class IntakeLane:
    """ASGI middleware: `POST /api/v1/requests` with a JSON body the schema accepts is served here; every other
    call goes on to `app` untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or scope.get("root_path")
            or not _json_content(scope)
        ):
            await self.app(scope, receive, send)
            return
        http = Request(scope, receive)
        try:
            raw = await http.body()
        except HTTPException as exc:  # the body limit (app.BodySizeLimit) while reading
            await _answer_error(http, exc, scope, receive, send)
            return
        except Exception:  # the client went away, say: FastAPI's answer to a body it could not read
            await _answer_error(
                http, HTTPException(400, "There was an error parsing the body"), scope, receive, send
            )
            return
        body = _valid(raw)
        if body is None:
            await self.app(scope, _replaying(raw, receive), send)
            return
        settings: Settings = scope["app"].state.settings
        lang = negotiate_language(http, settings.default_language)
        key = http.headers.get("idempotency-key")
        try:
            response = await api.run_submit(settings, body, http, lang, key)
        except Exception as exc:
            await _answer_error(http, exc, scope, receive, send)
            return
        await response(scope, receive, send)


def _valid(raw: bytes) -> schemas.RequestCreate | None:
    """The body as the route would get it (FastAPI: `json.loads`, then the model in Python mode), or None when
    the route would answer an error."""
    if not raw:
        return None
    try:
        return schemas.RequestCreate.model_validate(json.loads(raw))
    except (ValueError, ValidationError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def _replaying(raw: bytes, receive: Receive) -> Receive:
    """`receive` for the app after the lane has read the body: the same bytes once, then the client's messages."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _answer_error(http: Request, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """What the application's exception handlers answer, as for an error raised in a route (Starlette's
    ExceptionMiddleware: by status code for HTTP errors, else by the exception's class). The catch-all handler
    stays with the outermost middleware, which logs the error and answers 500: re-raised."""
    handlers: dict[Any, Any] = scope["app"].exception_handlers
    handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
    if handler is None:
        handler = next(
            (handlers[cls] for cls in type(exc).__mro__ if cls in handlers and cls is not Exception), None
        )
    if handler is None:
        raise exc
    response = await handler(http, exc)
    await response(scope, receive, send)
