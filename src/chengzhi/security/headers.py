"""Browser-side protections on every response: a Content-Security-Policy without inline scripts, no framing,
Referrer-Policy, X-Content-Type-Options, HSTS in production, and `Cache-Control: no-store` on every response that
does not set its own caching (pages and API answers may hold personal data; static files are cacheable)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(tile_url: str = "") -> str:
    """Scripts only from this origin's files (no inline script, no eval); styles may be inline (Leaflet and htmx
    set element styles); images also from the map tile server when one is configured."""
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            host = parts.netloc.split(".", 1)[1] if "{s}" in tile_url else parts.netloc
            images.append(f"{parts.scheme}://*.{host}" if "{s}" in tile_url else f"{parts.scheme}://{host}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src " + " ".join(images),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response of the wrapped application."""

    def __init__(
        self, app: ASGIApp, *, tile_url: str = "", hsts: bool = False, static_prefix: str = "/static/"
    ):
        self.app = app
        self.static_prefix = static_prefix
        self.fixed = [
            ("Content-Security-Policy", content_security_policy(tile_url)),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Permissions-Policy", "camera=(), microphone=(), payment=(), geolocation=(self)"),
        ]
        if hsts:
            self.fixed.append(("Strict-Transport-Security", HSTS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        static = path.startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.fixed:
                    if name not in headers:
                        headers[name] = value
                if not static and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
