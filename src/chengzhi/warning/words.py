"""The sensitive-word list as text checks read it: cached per process and database for WORDS_SECONDS (administrators
edit it through `alerts.add_word` / `remove_word`, which empty this process's cache; other processes see a change
within a minute). The triage worker's `sensitive-words` step and the participation domain's comments read it."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.warning.models import SensitiveWord

WORDS_SECONDS = 60.0

_lock = threading.Lock()
_cache: dict[str, tuple[float, tuple[str, ...]]] = {}


def reset_cache() -> None:
    with _lock:
        _cache.clear()


def listed(session: Session) -> tuple[str, ...]:
    """The words of the list, in order."""
    key = str(session.get_bind().engine.url)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < WORDS_SECONDS:
        return cached[1]
    words = tuple(session.scalars(select(SensitiveWord.word).order_by(SensitiveWord.word)))
    with _lock:
        _cache[key] = (time.monotonic(), words)
    return words


def normalised(text: str) -> str:
    """Case-folded, without spaces: a word written with spaces between its characters still matches."""
    return "".join(text.split()).casefold()


def words_in(session: Session, text: str) -> list[str]:
    """The listed words that `text` contains (case and spaces ignored), in the list's order."""
    folded = normalised(text)
    return [word for word in listed(session) if (form := normalised(word)) and form in folded]
