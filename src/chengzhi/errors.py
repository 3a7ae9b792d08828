"""Errors a user or client can cause. Each carries an HTTP status, a stable code and message parameters;
the message itself is chosen in the client's language when the error is rendered (see `i18n.MESSAGES`)."""

from __future__ import annotations


class ChengzhiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, code: str | None = None, /, **params: object) -> None:
        self.code = code or type(self).code
        self.params = params
        super().__init__(f"{self.code}: {params}")


class BadRequest(ChengzhiError):
    status_code = 400
    code = "bad_request"


class NotAuthenticated(ChengzhiError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(ChengzhiError):
    status_code = 403
    code = "forbidden"


class NotFound(ChengzhiError):
    status_code = 404
    code = "not_found"


class Conflict(ChengzhiError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ChengzhiError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ChengzhiError):
    """A file of a type the platform does not take (a photo that is not JPEG, PNG or WebP).

    422 rather than 415: the request itself is well-formed multipart; it is the uploaded file's content that
    is refused, like any other invalid field (and the API's contract lists 422 for such input)."""

    status_code = 422
    code = "unsupported_media_type"


class Invalid(ChengzhiError):
    status_code = 422
    code = "validation_failed"


class RateLimited(ChengzhiError):
    status_code = 429
    code = "rate_limited"
