"""Rate limits on anonymous submissions, with the `limits` library (memory, or Redis shared by processes)."""

from __future__ import annotations

import time
from functools import lru_cache

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from chengzhi.errors import RateLimited


@lru_cache(maxsize=4)
def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


def reset() -> None:
    """Forget every limiter and, with the in-memory ones, their counts (`chengzhi.caches.reset_caches`)."""
    _limiter.cache_clear()


def check_rate(storage_uri: str, rate: str, *identifiers: str) -> None:
    """Count one hit for `identifiers`; raise RateLimited once the rate is exceeded."""
    limiter = _limiter(storage_uri)
    item = parse(rate)
    if limiter.hit(item, *identifiers):
        return
    reset_at, _remaining = limiter.get_window_stats(item, *identifiers)
    raise RateLimited(seconds=max(1, int(reset_at - time.time()) + 1))
