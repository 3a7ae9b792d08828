"""Nothing personal in the logs: every log record, from any logger (ours, uvicorn's access log, libraries), has its
message and arguments passed through `redact` before any handler sees it: phone numbers, ID-card numbers and
e-mail addresses are masked, and secrets given in query strings or forms (Open311's `api_key`, tokens, passwords)
are replaced by `[filtered]`.

`install()` wraps the process's log record factory once (idempotent), so that it covers handlers added later
(pytest's capture, uvicorn's) as well as those present now. `RedactingFilter` is the same as a `logging.Filter`,
for a handler configured from a file."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from chengzhi.security.masking import mask_text

FILTERED = "[filtered]"
_SECRET_PARAMS = re.compile(
    r"(?i)\b(api_key|apikey|access_token|token|password|secret|x-photo-token)=([^&\s\"']+)"
)


def redact(text: str) -> str:
    """`text` without secrets in query parameters and with personal data masked."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={FILTERED}", text)
    return mask_text(text) or text


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_value(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _redact_value(v) for k, v in record.args.items()}


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed: list[Callable[..., logging.LogRecord]] = []


def install() -> None:
    """Redact every log record made from now on in this process."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    _installed.append(previous)
    logging.setLogRecordFactory(factory)
